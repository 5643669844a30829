//! The Linux system calls the reactor makes: epoll and eventfd, each fd an `OwnedFd`
//! (close-on-exec, non-blocking), each call an `io::Result`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Calls `libc::$fn` and maps `-1` to the thread's `errno` as an `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes arguments that meet `$fn`'s contract, as its own
        // comment says; the call itself touches no Rust-owned memory beyond them.
        let result = unsafe { libc::$fn($($arg),*) };
        if result == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }};
}

/// Wraps a fresh fd that a system call just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel for us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `CLOCK_MONOTONIC_COARSE`: a few nanoseconds to read (vDSO), millisecond-ish resolution;
/// enough to catch a task that holds the thread for tens of milliseconds.
pub(crate) fn coarse_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // `ts` is a valid, writable timespec; the clock id is a constant the kernel supports.
    if syscall!(clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts)).is_err() {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// An epoll instance.
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

/// The readiness an fd is registered for, once, for its whole life: edge-triggered read, write
/// and peer hang-up.
pub(crate) const EDGE_ALL: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Edge-triggered read only: for the doorbell, which is always writable.
pub(crate) const EDGE_READ: u32 = (libc::EPOLLIN | libc::EPOLLET) as u32;

impl Epoll {
    pub(crate) fn new() -> io::Result<Self> {
        // No pointer arguments.
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        Ok(Self { fd: owned(fd) })
    }

    /// Registers `fd` for `events` with `token` as its user data.
    pub(crate) fn add(&self, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: token };
        // `event` is a valid, writable epoll_event for the duration of the call.
        syscall!(epoll_ctl(
            self.fd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            &mut event
        ))?;
        Ok(())
    }

    /// Removes `fd` from the interest list.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        // A null event pointer is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
        syscall!(epoll_ctl(
            self.fd.as_raw_fd(),
            libc::EPOLL_CTL_DEL,
            fd,
            std::ptr::null_mut()
        ))?;
        Ok(())
    }

    /// Waits for events into `events` (its capacity is the batch size; its contents are
    /// replaced). `None` waits indefinitely; a timeout is rounded *up* to whole milliseconds, so
    /// a short timer never turns into a busy zero-timeout loop. An interrupted wait returns no
    /// events.
    pub(crate) fn wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let timeout_ms = timeout_ms(timeout);
        events.clear();
        let capacity = i32::try_from(events.capacity()).unwrap_or(i32::MAX).max(1);
        if events.capacity() == 0 {
            events.reserve(1);
        }
        // `events` has room for `capacity` entries, which the kernel writes.
        let n = match syscall!(epoll_wait(
            self.fd.as_raw_fd(),
            events.as_mut_ptr(),
            capacity,
            timeout_ms
        )) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        debug_assert!(n <= events.capacity());
        // SAFETY: the kernel initialized the first `n` entries, and `n <= capacity`.
        unsafe { events.set_len(n) };
        Ok(n)
    }
}

/// `epoll_wait`'s timeout: -1 for none, else whole milliseconds rounded up, saturating.
fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX),
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A non-blocking, close-on-exec eventfd: the doorbell another thread rings to wake a reactor
/// sleeping in `epoll_wait`.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<Self> {
        // No pointer arguments.
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        Ok(Self { fd: owned(fd) })
    }

    /// Rings the doorbell. A counter at its maximum (`WouldBlock`) is drained and rung again,
    /// as mio does, so a ring is never lost.
    pub(crate) fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // `one` is 8 readable bytes, as eventfd requires.
            match syscall!(write(
                self.fd.as_raw_fd(),
                std::ptr::from_ref(&one).cast(),
                8
            )) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drain()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Resets the counter; returns whether it had been rung.
    pub(crate) fn drain(&self) -> io::Result<bool> {
        let mut count: u64 = 0;
        // `count` is 8 writable bytes, as eventfd requires.
        match syscall!(read(
            self.fd.as_raw_fd(),
            std::ptr::from_mut(&mut count).cast(),
            8
        )) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn eventfd_wakes_epoll_and_drains() {
        let epoll = Epoll::new().unwrap();
        let bell = EventFd::new().unwrap();
        epoll.add(bell.as_raw_fd(), 42, EDGE_READ).unwrap();
        let mut events = Vec::with_capacity(8);
        assert_eq!(epoll.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0);
        bell.notify().unwrap();
        bell.notify().unwrap();
        assert_eq!(epoll.wait(&mut events, None).unwrap(), 1);
        assert_eq!({ events[0].u64 }, 42);
        assert!(bell.drain().unwrap());
        assert!(!bell.drain().unwrap(), "drained: nothing left");
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(
            timeout_ms(Some(Duration::from_nanos(1))),
            1,
            "never a busy 0"
        );
        assert_eq!(timeout_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_millis(7))), 7);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn deleting_an_unregistered_fd_is_an_error() {
        let epoll = Epoll::new().unwrap();
        let bell = EventFd::new().unwrap();
        assert!(epoll.delete(bell.as_raw_fd()).is_err());
    }
}
