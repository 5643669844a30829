//! An engine run's life across its shards: the start gate every shard passes before any runs
//! user code, the stop flag that resolves `stopped()`, and the exit barrier a shard waits at
//! until every shard's future has returned.
//!
//! Everything here goes through the [`sync`](crate::sync) facade, so the loom models at the
//! bottom check these very protocols.
//!
//! # Protocols
//!
//! - **Start gate**: a counter and a "failed" flag under one lock, and a condition variable.
//!   Each shard thread arrives (set up or not) and waits until all have arrived; the thread
//!   that starts the shards may instead [`abort`](StartGate::abort) the gate when it cannot
//!   start one, which releases those already waiting. Whoever sees the gate failed runs
//!   nothing.
//! - **Stop**: `stopping` is stored (SeqCst), then the wakers registered by `stopped()` are
//!   taken under the lock and woken. A waiter checks the flag, then again under the same lock
//!   before it registers: either it sees the flag, or `stop` finds its waker.
//! - **Exit barrier**: `finished` counts shards whose future has returned (or panicked); the
//!   one that completes the count takes the waiters under the lock and wakes them. A waiter
//!   checks the count, then again under the lock before it registers its waker.

use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

/// The gate every shard thread of a run passes before any runs user code; see the module
/// docs.
pub(crate) struct StartGate {
    count: usize,
    /// Shards arrived, and whether any failed (or the gate was aborted).
    state: Mutex<(usize, bool)>,
    all_arrived: Condvar,
}

impl StartGate {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            count,
            state: Mutex::new((0, false)),
            all_arrived: Condvar::new(),
        }
    }

    /// A shard thread arrives, set up (`ok`) or not, and waits for the others. Returns whether
    /// every shard arrived set up (false if any failed or the gate was aborted).
    pub(crate) fn arrive(&self, ok: bool) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        state.1 |= !ok;
        if state.0 >= self.count || state.1 {
            self.all_arrived.notify_all();
        }
        while state.0 < self.count && !state.1 {
            state = self
                .all_arrived
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        !state.1
    }

    /// A shard could not be started at all: releases every shard waiting, to run nothing.
    pub(crate) fn abort(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 = true;
        self.all_arrived.notify_all();
    }
}

/// The stop flag of a run and the wakers of the tasks awaiting it, per shard.
pub(crate) struct StopFlag {
    stopping: AtomicBool,
    /// Per shard, the wakers of every task waiting in `stopped`.
    waiting: Mutex<Vec<Vec<Waker>>>,
}

impl StopFlag {
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            stopping: AtomicBool::new(false),
            waiting: Mutex::new(vec![Vec::new(); shards]),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub(crate) fn stop(&self) {
        // SeqCst store, then take the wakers under the lock: a waiter that registered before
        // the lock is woken; one that registers after sees the flag (it re-checks under the
        // same lock).
        self.stopping.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .flat_map(std::mem::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Ready once the flag is set; otherwise registers `cx`'s waker for shard `shard`.
    pub(crate) fn poll_stopped(&self, shard: usize, cx: &Context<'_>) -> Poll<()> {
        if self.stopping.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if self.stopping.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let wakers = &mut waiting[shard];
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The exit barrier of a run: resolves once every shard's future has returned.
pub(crate) struct ExitBarrier {
    count: usize,
    /// Shards whose future has returned (or panicked).
    finished: AtomicUsize,
    /// Shards waiting at the barrier.
    exiting: Mutex<Vec<Waker>>,
}

impl ExitBarrier {
    pub(crate) fn new(count: usize) -> Self {
        Self {
            count,
            finished: AtomicUsize::new(0),
            exiting: Mutex::new(Vec::new()),
        }
    }

    /// One more shard has finished its future; the last one releases the barrier.
    pub(crate) fn arrive(&self) {
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 >= self.count {
            let waiters =
                std::mem::take(&mut *self.exiting.lock().unwrap_or_else(|p| p.into_inner()));
            for waker in waiters {
                waker.wake();
            }
        }
    }

    /// Ready once every shard has arrived; otherwise registers `cx`'s waker.
    pub(crate) fn poll_all_finished(&self, cx: &Context<'_>) -> Poll<()> {
        if self.finished.load(Ordering::SeqCst) >= self.count {
            return Poll::Ready(());
        }
        let mut exiting = self.exiting.lock().unwrap_or_else(|p| p.into_inner());
        // Re-checked under the lock `arrive` takes to wake: no lost wake-up.
        if self.finished.load(Ordering::SeqCst) >= self.count {
            return Poll::Ready(());
        }
        exiting.push(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Each model runs the protocol's two sides on loom threads; a waiter "sleeps" by
    //! spinning on a flag its waker sets, so a lost wake-up is a model that never ends, which
    //! loom reports.

    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A waker that sets a loom flag (with a read-modify-write: loom orders a plain store
    /// against the waiter's swaps only partially, and would report wakes that cannot be lost).
    struct Flag(loom::sync::atomic::AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.swap(true, Ordering::Release);
        }
    }

    /// Polls `poll` until ready, waiting for a wake between polls.
    fn block_on(mut poll: impl FnMut(&Context<'_>) -> Poll<()>) {
        let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
        let waker = Waker::from(std::sync::Arc::clone(&flag));
        let cx = Context::from_waker(&waker);
        while poll(&cx).is_pending() {
            while !flag.0.swap(false, Ordering::Acquire) {
                thread::yield_now();
            }
        }
    }

    #[test]
    fn stopped_never_misses_a_stop() {
        loom::model(|| {
            let flag = Arc::new(StopFlag::new(1));
            let stopper = {
                let flag = Arc::clone(&flag);
                thread::spawn(move || flag.stop())
            };
            block_on(|cx| flag.poll_stopped(0, cx));
            stopper.join().unwrap();
        });
    }

    #[test]
    fn the_exit_barrier_releases_every_waiter() {
        loom::model(|| {
            let barrier = Arc::new(ExitBarrier::new(2));
            let other = {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.arrive();
                    block_on(|cx| barrier.poll_all_finished(cx));
                })
            };
            barrier.arrive();
            block_on(|cx| barrier.poll_all_finished(cx));
            other.join().unwrap();
        });
    }

    #[test]
    fn an_aborted_start_gate_releases_the_shards_waiting() {
        loom::model(|| {
            let gate = Arc::new(StartGate::new(3));
            let started = {
                let gate = Arc::clone(&gate);
                thread::spawn(move || gate.arrive(true))
            };
            // The second shard's thread could not be spawned: the first must not wait for it.
            gate.abort();
            assert!(!started.join().unwrap());
        });
    }

    #[test]
    fn the_start_gate_opens_once_all_arrive() {
        loom::model(|| {
            let gate = Arc::new(StartGate::new(2));
            let other = {
                let gate = Arc::clone(&gate);
                thread::spawn(move || gate.arrive(true))
            };
            assert!(gate.arrive(true));
            assert!(other.join().unwrap());
        });
    }
}
