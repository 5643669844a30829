//! [`Remote`]: the inbox through which other threads wake a reactor's tasks, and the
//! sleeping-flag handshake that rings its doorbell only when it sleeps.
//!
//! # Protocol
//!
//! Fields:
//! - `inbox`: task keys pushed by other threads, under a lock (foreign wakes are rare; a
//!   core's own wakes never come here).
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

use std::fmt;

use crate::sync::{AtomicBool, Mutex, Ordering, fence};

/// How a sender wakes a sleeping reactor: the eventfd in production, a counter in the loom
/// models.
pub(crate) trait Doorbell {
    /// Wakes the reactor from its wait.
    fn ring(&self);
}

/// See the module docs.
pub(crate) struct Remote<D> {
    inbox: Mutex<Vec<u64>>,
    pending: AtomicBool,
    sleeping: AtomicBool,
    doorbell: D,
}

impl<D: Doorbell> Remote<D> {
    pub(crate) fn new(doorbell: D) -> Self {
        Self {
            inbox: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            doorbell,
        }
    }

    pub(crate) fn doorbell(&self) -> &D {
        &self.doorbell
    }

    /// Another thread's wake of task `key`.
    pub(crate) fn push(&self, key: u64) {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(key);
        // Release: a reactor that sees `pending` and then locks the inbox finds the key (the
        // lock orders the data; this makes the flag a reliable hint).
        self.pending.store(true, Ordering::Release);
        // Pairs with the fence in `prepare_to_sleep` (Dekker: see the module docs).
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel) {
            self.doorbell.ring();
        }
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
        let mut inbox = self
            .inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        out.append(&mut inbox);
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

    #[test]
    fn no_lost_wakeup_on_sleep() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Bell::default()));
            let sender = {
                let remote = Arc::clone(&remote);
                thread::spawn(move || remote.push(7))
            };
            assert_eq!(run_reactor(&remote, 1), [7]);
            sender.join().unwrap();
        });
    }

    #[test]
    fn two_senders_are_never_stranded() {
        loom::model(|| {
            let remote = Arc::new(Remote::new(Bell::default()));
            let senders: Vec<_> = [1, 2]
                .into_iter()
                .map(|key| {
                    let remote = Arc::clone(&remote);
                    thread::spawn(move || remote.push(key))
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
}
