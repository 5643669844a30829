//! [`Remote`]: the inbox through which other threads wake a reactor's tasks, and the
//! sleeping-flag handshake that rings its doorbell only when it sleeps.
//!
//! # Protocol
//!
//! Fields:
//! - `inbox`: task keys pushed by other threads, under a lock (foreign wakes are rare; a
//!   core's own wakes never come here), and the *owner*: the incarnation of the reactor that
//!   uses the inbox now, or none. A push names the incarnation its key is for and is refused
//!   (dropped, costing nothing) unless that is the owner, so the wakes of a reactor that is
//!   gone neither pile up nor reach the next reactor at its registry index.
//! - `pending`: set (Release) after a push; cleared by the reactor before it drains.
//! - `sleeping`: set by the reactor just before it blocks in `epoll_wait`, cleared when it
//!   wakes or decides not to sleep; cleared by the one sender that rings the doorbell.
//!
//! Sender (`push`): push under the lock; `pending = true`; `fence(SeqCst)`; if `sleeping`, swap
//! it to false and, if this sender was the one to clear it, ring the doorbell.
//!
//! Reactor (`prepare_to_sleep`): `sleeping = true`; `fence(SeqCst)`; if `pending`, clear
//! `sleeping` and do not sleep.
//!
//! The two fences make this Dekker's handshake: of "sender stores `pending`, then loads
//! `sleeping`" and "reactor stores `sleeping`, then loads `pending`", at least one load sees
//! the other side's store. So either the reactor sees the message and stays awake, or the
//! sender sees the reactor asleep and rings: a message sent as the reactor falls asleep is
//! never stranded. (loom models `fence(SeqCst)` but not SeqCst loads and stores, hence
//! explicit fences.) The loom models at the bottom of this file check it.
//!
//! Drain: `pending = false`, then take the inbox under the lock. A push racing with it either
//! lands in what is taken or sets `pending` again after it, so nothing is left behind
//! unnoticed.
//!
//! Owner: [`open`](Remote::open) (a reactor takes the inbox) and [`close`](Remote::close) (it
//! is gone) change the owner under the lock, and empty the inbox (close frees its memory). A
//! push checks the owner under the same lock, so once `close` returns no key of the old
//! incarnation is ever stored again, and those stored before are gone. (A push that stored
//! its key just before the close may still set `pending` and ring after it: at most one
//! spurious turn of the next owner per push in flight at the close, never a key.)

use std::fmt;

use crate::sync::{AtomicBool, Mutex, MutexGuard, Ordering, fence};

/// How a sender wakes a sleeping reactor: the eventfd in production, a counter in the loom
/// models.
pub(crate) trait Doorbell {
    /// Wakes the reactor from its wait.
    fn ring(&self);
}

/// See the module docs.
pub(crate) struct Remote<D> {
    inbox: Mutex<Inbox>,
    pending: AtomicBool,
    sleeping: AtomicBool,
    doorbell: D,
}

/// The keys, and whom they are for.
struct Inbox {
    keys: Vec<u64>,
    /// The incarnation of the reactor using the inbox; `None` while none does.
    owner: Option<u16>,
}

impl<D: Doorbell> Remote<D> {
    /// A closed inbox (it refuses every push until [`open`](Self::open)).
    pub(crate) fn new(doorbell: D) -> Self {
        Self {
            inbox: Mutex::new(Inbox {
                keys: Vec::new(),
                owner: None,
            }),
            pending: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            doorbell,
        }
    }

    pub(crate) fn doorbell(&self) -> &D {
        &self.doorbell
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reactor incarnation `owner` takes the inbox: it starts empty and accepts `owner`'s keys.
    pub(crate) fn open(&self, owner: u16) {
        let mut inbox = self.lock();
        inbox.owner = Some(owner);
        inbox.keys.clear();
        // No push for `owner` can exist yet (its wakers are made after this returns); a stale
        // `true` would only cost one look.
        self.pending.store(false, Ordering::Relaxed);
    }

    /// The reactor is gone: every push is refused from now on, and the keys stored so far are
    /// dropped with their memory.
    pub(crate) fn close(&self) {
        let keys = {
            let mut inbox = self.lock();
            inbox.owner = None;
            std::mem::take(&mut inbox.keys)
        };
        drop(keys); // freed outside the lock
    }

    /// Another thread's wake of task `key`, of reactor incarnation `owner`: refused (returns
    /// `false`, stores nothing, rings nobody) if that reactor does not own the inbox now.
    pub(crate) fn push(&self, owner: u16, key: u64) -> bool {
        {
            let mut inbox = self.lock();
            if inbox.owner != Some(owner) {
                return false;
            }
            inbox.keys.push(key);
        }
        // Release: a reactor that sees `pending` and then locks the inbox finds the key (the
        // lock orders the data; this makes the flag a reliable hint).
        self.pending.store(true, Ordering::Release);
        // Pairs with the fence in `prepare_to_sleep` (Dekker: see the module docs).
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            self.doorbell.ring();
        }
        true
    }

    /// Whether any key may be waiting.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves every key pushed so far into `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<u64>) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        // Cleared before taking: a push after the take sets it again.
        self.pending.store(false, Ordering::Relaxed);
        out.append(&mut self.lock().keys);
    }

    /// The keys stored and the memory held for them (capacity, in keys).
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let inbox = self.lock();
        (inbox.keys.len(), inbox.keys.capacity())
    }

    /// The reactor is about to block: returns `false` if a message is pending (then it must
    /// not block). After `true`, it must call [`woke`](Self::woke) when the wait returns.
    pub(crate) fn prepare_to_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence in `push` (Dekker: see the module docs).
        fence(Ordering::SeqCst);
        if self.pending.load(Ordering::Relaxed) {
            self.sleeping.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The reactor's wait returned.
    pub(crate) fn woke(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }
}

impl<D> fmt::Debug for Remote<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .field("sleeping", &self.sleeping.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of senders against a reactor that
    //! drains, then sleeps until its doorbell rings. A lost wake-up leaves the reactor spinning
    //! in its "wait" forever, which loom reports as a model that never ends.

    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// Counts rings, as an eventfd does.
    #[derive(Default)]
    struct Bell(AtomicUsize);

    impl Doorbell for Bell {
        fn ring(&self) {
            self.0.fetch_add(1, Ordering::Release);
        }
    }

    impl Bell {
        /// Reads and resets the counter, as draining an eventfd does.
        fn take(&self) -> bool {
            self.0.swap(0, Ordering::Acquire) > 0
        }
    }

    /// The reactor's loop: drain; if nothing came and no message is pending, "block in
    /// epoll_wait" until the doorbell rings.
    fn run_reactor(remote: &Remote<Bell>, want: usize) -> Vec<u64> {
        let mut got = Vec::new();
        loop {
            remote.drain_into(&mut got);
            if got.len() >= want {
                return got;
            }
            if remote.prepare_to_sleep() {
                while !remote.doorbell().take() {
                    thread::yield_now();
                }
                remote.woke();
            }
        }
    }

    /// An inbox owned by incarnation 1.
    fn opened() -> Arc<Remote<Bell>> {
        let remote = Arc::new(Remote::new(Bell::default()));
        remote.open(1);
        remote
    }

    #[test]
    fn no_lost_wakeup_on_sleep() {
        loom::model(|| {
            let remote = opened();
            let sender = {
                let remote = Arc::clone(&remote);
                thread::spawn(move || assert!(remote.push(1, 7)))
            };
            assert_eq!(run_reactor(&remote, 1), [7]);
            sender.join().unwrap();
        });
    }

    #[test]
    fn two_senders_are_never_stranded() {
        loom::model(|| {
            let remote = opened();
            let senders: Vec<_> = [1, 2]
                .into_iter()
                .map(|key| {
                    let remote = Arc::clone(&remote);
                    thread::spawn(move || assert!(remote.push(1, key)))
                })
                .collect();
            let mut got = run_reactor(&remote, 2);
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
            for sender in senders {
                sender.join().unwrap();
            }
        });
    }

    /// A wake racing with its reactor's exit, and the next reactor taking the inbox: the key
    /// is stored before the close (which drops it) or refused after it, so the closed inbox
    /// holds nothing and the next owner never receives it.
    #[test]
    fn a_wake_of_a_gone_reactor_never_reaches_the_next_owner() {
        loom::model(|| {
            let remote = opened();
            let stale = {
                let remote = Arc::clone(&remote);
                thread::spawn(move || remote.push(1, 7))
            };
            remote.close();
            assert_eq!(remote.held(), (0, 0), "a closed inbox holds nothing");
            remote.open(2);
            // Stored (and dropped by the close) or refused: loom explores both orders.
            stale.join().unwrap();
            assert!(remote.push(2, 8));
            let mut got = Vec::new();
            remote.drain_into(&mut got);
            assert_eq!(got, [8], "the next owner gets its own wakes only");
        });
    }
}
