//! [`Registration`]: an fd registered with its reactor's epoll once, edge-triggered, for its
//! whole life, with its readiness cached.
//!
//! # Readiness
//!
//! Each epoll event *adds* readiness (readable, writable, read-closed, error) to the
//! registration's cache and wakes the tasks waiting for it. Readiness is removed only by the
//! code that does the I/O, with [`clear_readable`](Registration::clear_readable) or
//! [`clear_writable`](Registration::clear_writable), once an operation has drained it: a
//! read that returned `WouldBlock` or fewer bytes than asked for, a write that returned
//! `WouldBlock` or wrote less. Events are handled only between task polls, so an edge that
//! arrives after a drain is never lost: it lands after the clear. Events may be spurious:
//! readiness is a hint, and the I/O call decides.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Weak;
use std::task::{Context, Poll, Waker};

use crate::core::Core;
use crate::sys::EDGE_ALL;

/// What an fd is ready for, as last reported by epoll and not yet cleared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data (or a connection) can be read.
    pub readable: bool,
    /// Data can be written.
    pub writable: bool,
    /// The peer closed its writing side (`EPOLLRDHUP`) or hung up (`EPOLLHUP`).
    pub read_closed: bool,
    /// The fd has an error pending (`EPOLLERR`).
    pub error: bool,
}

impl Readiness {
    fn from_epoll(events: u32) -> Readiness {
        let has = |flag: i32| events & flag as u32 != 0;
        Readiness {
            readable: has(libc::EPOLLIN | libc::EPOLLPRI),
            writable: has(libc::EPOLLOUT),
            read_closed: has(libc::EPOLLRDHUP | libc::EPOLLHUP),
            error: has(libc::EPOLLERR),
        }
    }

    fn merge(&mut self, other: Readiness) {
        self.readable |= other.readable;
        self.writable |= other.writable;
        self.read_closed |= other.read_closed;
        self.error |= other.error;
    }

    /// Whether a read would not block: data, end of stream or an error.
    fn read_ready(self) -> bool {
        self.readable || self.read_closed || self.error
    }

    /// Whether a write would not block: room, or an error to report.
    fn write_ready(self) -> bool {
        self.writable || self.error
    }
}

#[derive(Default)]
struct IoSlot {
    generation: u32,
    occupied: bool,
    readiness: Readiness,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// The registrations of one reactor.
#[derive(Default)]
pub(crate) struct IoTable {
    slots: Vec<IoSlot>,
    free: Vec<usize>,
}

impl IoTable {
    fn insert(&mut self) -> (usize, u32) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(IoSlot::default());
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.occupied = true;
        slot.readiness = Readiness::default();
        (index, slot.generation)
    }

    fn slot(&mut self, index: usize, generation: u32) -> Option<&mut IoSlot> {
        self.slots
            .get_mut(index)
            .filter(|s| s.occupied && s.generation == generation)
    }

    /// Applies an epoll event; returns the wakers to wake (outside the borrow).
    pub(crate) fn dispatch(&mut self, token: u64, events: u32, out: &mut Vec<Waker>) {
        let (index, generation) = split(token);
        let Some(slot) = self.slot(index, generation) else {
            return; // a late event for a registration that is gone
        };
        let ready = Readiness::from_epoll(events);
        slot.readiness.merge(ready);
        if slot.readiness.read_ready() {
            out.extend(slot.reader.take());
        }
        if slot.readiness.write_ready() {
            out.extend(slot.writer.take());
        }
    }

    /// Frees a slot; returns its wakers to drop outside the borrow.
    fn remove(&mut self, index: usize, generation: u32) -> [Option<Waker>; 2] {
        let Some(slot) = self.slot(index, generation) else {
            return [None, None];
        };
        slot.occupied = false;
        slot.generation = slot.generation.wrapping_add(1);
        let wakers = [slot.reader.take(), slot.writer.take()];
        self.free.push(index);
        wakers
    }
}

fn token(index: usize, generation: u32) -> u64 {
    index as u64 | u64::from(generation) << 32
}

fn split(token: u64) -> (usize, u32) {
    ((token & 0xFFFF_FFFF) as usize, (token >> 32) as u32)
}

/// An I/O object (anything with an fd) registered with the reactor running on this thread.
/// The registration owns the object, so its fd cannot be closed (and its number reused by
/// another socket) while it is still in the epoll interest list: dropping the registration
/// deregisters the fd first, then drops the object; [`into_inner`](Self::into_inner) gives
/// it back deregistered.
///
/// One task may wait for each direction at a time: a second waiter for the same direction
/// replaces the first one's waker.
///
/// # Examples
///
/// ```no_run
/// # use std::io::Read;
/// # use std::os::unix::net::UnixStream;
/// # let reactor = ms_reactor::Reactor::new().unwrap();
/// # reactor.block_on(async {
/// let (a, b) = UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// let registration = ms_reactor::Registration::new(a).unwrap();
/// registration.readable().await;
/// let mut buf = [0; 64];
/// match registration.get_ref().read(&mut buf) {
///     Ok(n) if n < buf.len() => registration.clear_readable(), // drained
///     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => registration.clear_readable(),
///     _ => {}
/// }
/// # drop(b);
/// # });
/// ```
pub struct Registration<T: AsRawFd> {
    /// `Some` until `into_inner`.
    io: Option<T>,
    fd: RawFd,
    index: usize,
    generation: u32,
    core: Weak<Core>,
}

impl<T: AsRawFd> Registration<T> {
    /// Registers `io`'s fd (which must be non-blocking) for read, write and hang-up
    /// readiness, edge-triggered, with the reactor running on this thread.
    ///
    /// # Errors
    ///
    /// `epoll_ctl`'s error (e.g. the fd is already registered, or is not pollable), or an
    /// error of kind `Other` if no reactor is running on this thread; `io` is dropped then.
    pub fn new(io: T) -> io::Result<Registration<T>> {
        let fd = io.as_raw_fd();
        Core::with_current(|core| {
            let core = core.ok_or_else(|| io::Error::other("no reactor running on this thread"))?;
            let (index, generation) = core.io().borrow_mut().insert();
            if let Err(e) = core.epoll().add(fd, token(index, generation), EDGE_ALL) {
                let wakers = core.io().borrow_mut().remove(index, generation);
                drop(wakers);
                return Err(e);
            }
            Ok(Registration {
                io: Some(io),
                fd,
                index,
                generation,
                core: core.weak(),
            })
        })
    }

    /// The registered object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("present until into_inner")
    }

    /// The registered object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.io.as_mut().expect("present until into_inner")
    }

    /// Deregisters the fd and gives the object back.
    pub fn into_inner(mut self) -> T {
        self.deregister();
        self.io.take().expect("present until into_inner")
    }

    fn deregister(&mut self) {
        if let Some(core) = self.core.upgrade() {
            // The object still owns its fd, so this removes exactly our registration.
            let _ = core.epoll().delete(self.fd);
            let wakers = core.io().borrow_mut().remove(self.index, self.generation);
            drop(wakers);
        }
        self.core = Weak::new();
    }

    fn with_slot<R>(&self, f: impl FnOnce(Option<&mut IoSlot>) -> R) -> R {
        match self.core.upgrade() {
            Some(core) => f(core.io().borrow_mut().slot(self.index, self.generation)),
            None => f(None),
        }
    }

    /// The cached readiness.
    pub fn readiness(&self) -> Readiness {
        self.with_slot(|slot| slot.map(|s| s.readiness).unwrap_or_default())
    }

    /// Ready when the fd is readable (or at end of stream, or in error); otherwise remembers
    /// `cx`'s waker for the next event. Ready takes one unit of the task's I/O budget: once it
    /// is spent, this returns `Pending` and wakes the task (see [`poll_proceed`]).
    ///
    /// [`poll_proceed`]: crate::poll_proceed
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<Readiness> {
        self.poll_ready(cx, Readiness::read_ready, |s| &mut s.reader)
    }

    /// Ready when the fd is writable (or in error); otherwise remembers `cx`'s waker. Takes
    /// the I/O budget as [`poll_readable`](Self::poll_readable) does.
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<Readiness> {
        self.poll_ready(cx, Readiness::write_ready, |s| &mut s.writer)
    }

    fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        ready: fn(Readiness) -> bool,
        waiter: fn(&mut IoSlot) -> &mut Option<Waker>,
    ) -> Poll<Readiness> {
        let old = self.with_slot(|slot| {
            let Some(slot) = slot else {
                // The reactor is gone: nothing will ever come; report an error readiness.
                return Err(Readiness {
                    error: true,
                    ..Readiness::default()
                });
            };
            if ready(slot.readiness) {
                return Err(slot.readiness);
            }
            let waker = waiter(slot);
            match waker {
                Some(w) if w.will_wake(cx.waker()) => Ok(None),
                // Cloning a std-made waker runs no user code that could reach this reactor's
                // tables; a custom waker that did would panic on the borrow, not corrupt it.
                _ => Ok(waker.replace(cx.waker().clone())),
            }
        });
        match old {
            Err(readiness) => {
                // Ready from the cache, maybe for ever (a socket that always has data): one
                // unit of the poll's I/O budget, so that such a loop still yields.
                std::task::ready!(crate::coop::poll_proceed(cx));
                Poll::Ready(readiness)
            }
            Ok(old) => {
                drop(old); // outside the borrow
                Poll::Pending
            }
        }
    }

    /// Waits until the fd is readable (see [`poll_readable`](Self::poll_readable)).
    pub async fn readable(&self) -> Readiness {
        std::future::poll_fn(|cx| self.poll_readable(cx)).await
    }

    /// Waits until the fd is writable (see [`poll_writable`](Self::poll_writable)).
    pub async fn writable(&self) -> Readiness {
        std::future::poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Forgets read readiness: a read drained the fd (`WouldBlock`, or a short read).
    pub fn clear_readable(&self) {
        self.with_slot(|slot| {
            if let Some(slot) = slot {
                slot.readiness.readable = false;
            }
        });
    }

    /// Forgets write readiness: a write found the socket buffer full.
    pub fn clear_writable(&self) {
        self.with_slot(|slot| {
            if let Some(slot) = slot {
                slot.readiness.writable = false;
            }
        });
    }
}

impl<T: AsRawFd> Drop for Registration<T> {
    fn drop(&mut self) {
        // Deregister before the object (and its fd) is dropped.
        self.deregister();
    }
}

impl<T: AsRawFd> fmt::Debug for Registration<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("readiness", &self.readiness())
            .finish()
    }
}

/// Holds the io table of a core.
pub(crate) type Io = RefCell<IoTable>;
