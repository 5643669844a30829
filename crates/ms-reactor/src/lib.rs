//! The per-core event loop of Mini-SeaStar: one [`Reactor`] per thread, running tasks,
//! timers and (edge-triggered) epoll, with wakes from other threads through an inbox that
//! rings the reactor's eventfd only when it sleeps.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let reactor = ms_reactor::Reactor::new().unwrap();
//! let total = reactor.block_on(async {
//!     let a = ms_reactor::spawn(async { 1 });
//!     let b = ms_reactor::spawn(async {
//!         ms_reactor::sleep(Duration::from_millis(1)).await;
//!         2
//!     });
//!     ms_reactor::yield_now().await;
//!     a.await.unwrap() + b.await.unwrap()
//! });
//! assert_eq!(total, 3);
//! assert_eq!(reactor.stats().tasks_spawned, 2);
//! ```
//!
//! # Types
//!
//! - [`Reactor`] (made by [`Reactor::new`] or a [`Builder`]): [`block_on`](Reactor::block_on),
//!   [`spawn`](Reactor::spawn), [`stats`](Reactor::stats).
//! - [`spawn`], [`yield_now`]: for code running inside a reactor. [`JoinHandle`] (await,
//!   [`abort`](JoinHandle::abort), or drop to detach) and [`JoinError`].
//! - [`need_preempt`], [`maybe_yield`]: preemption points for long loops inside a task;
//!   [`poll_proceed`], [`consume_budget`]: the per-poll I/O budget ([`IO_BUDGET`]), for I/O
//!   code.
//! - [`sleep`], [`sleep_until`], [`Timer`], [`timeout`], [`interval`].
//! - [`Registration`]: an fd registered once, edge-triggered, with cached [`Readiness`].
//! - [`Stats`]: per-reactor counters, from [`Reactor::stats`] or, inside a task, [`stats`].
//! - [`Poller`] ([`add_poller`], [`Sleep`], [`reactor_waker`]): work the loop looks for itself
//!   on every turn and busy-poll spin, such as lock-free queues from other cores.
//! - [`StallReport`] ([`StalledIn`], [`StackFrame`]), [`set_stall_hook`], [`take_stall_hook`]:
//!   the stall detector's reports and where they go.
//!
//! # Rules
//!
//! - A reactor and everything on it belong to one thread (`!Send`); wakers are `Send + Sync`
//!   and may be woken from anywhere.
//! - A task runs until it returns `Pending`; a turn runs at most 256 tasks (and stops early
//!   after a 0.5 ms quota) before I/O and timers are polled again, so a busy task cannot starve
//!   them. A poll longer than the stall threshold (25 ms) is reported while it runs, with the
//!   stuck thread's backtrace, at most once a second (see below).
//! - Preemption reaches inside a task in two ways:
//!   - *I/O budget.* Readiness is cached, so a read or accept loop on a socket that always has
//!     data would never see `Pending`. Each poll of a task may do [`IO_BUDGET`] (128) I/O
//!     operations: after that, ready I/O ([`Registration::poll_readable`] and
//!     [`poll_writable`](Registration::poll_writable), ms-net's reads, writes and accepts)
//!     returns `Pending` and wakes the task, which runs again after the tasks queued behind
//!     it. Other I/O code takes the budget with [`poll_proceed`] or [`consume_budget`].
//!   - *Time quota.* A loop of computation has no I/O to cut it: it awaits [`maybe_yield`]
//!     (or checks [`need_preempt`]) on each iteration, which yields once the poll has used
//!     the reactor's time quota ([`Builder::time_quota`], 0.5 ms; counted from the poll's
//!     first check, the clock read once every 32 checks) or its I/O budget.
//! - A panicking task is caught: the panic is reported, its [`JoinHandle`] resolves to
//!   [`JoinError::Panicked`], and the reactor runs on.
//!
//! # Stall detection
//!
//! A poll (of a task, a [`Poller`] or the `block_on` future) that holds the thread past the
//! [stall threshold](Builder::stall_threshold) is reported *while it is stuck*, so an endless
//! loop is reported too: a process-wide watchdog thread sees that the reactor's published
//! per-poll sequence number has not moved, and sends the thread a real-time signal whose
//! handler captures the thread's own stack; the watchdog then symbolizes it and hands a
//! [`StallReport`] to the stall hook (by default: stderr). At most one report a second per
//! reactor; a poll reported live is not reported again when it ends, and a task poll that ends
//! past the threshold unseen is reported then, without a backtrace.
//! [`Stats::stalls_caught_live`] and [`Stats::stalls`] count them.
//! [`Builder::stall_detector`] turns the live detector off for one reactor.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! ms_reactor::set_stall_hook(Box::new(|report| {
//!     // On the watchdog's thread, while the reactor's thread is still stuck.
//!     let frames = report.backtrace.as_ref().map_or(0, Vec::len);
//!     eprintln!(
//!         "{} stuck for {:?} in {} ({frames} frames)",
//!         report.thread, report.stalled_for, report.stalled_in
//!     );
//! }));
//! let reactor = ms_reactor::Reactor::builder()
//!     .stall_threshold(Duration::from_millis(10))
//!     .build()
//!     .unwrap();
//! reactor.block_on(async {
//!     // Holds the thread for 100 ms: reported after 10 to 15 ms, with this frame on the stack.
//!     std::thread::sleep(Duration::from_millis(100));
//! });
//! assert_eq!(reactor.stats().stalls_caught_live, 1);
//! ```

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod contain;
mod coop;
mod core;
mod io;
mod join;
mod poller;
mod registry;
mod remote;
mod stall;
mod stats;
mod sync;
mod sys;
mod task;
mod time;
mod timers;
mod waker;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use coop::{IO_BUDGET, consume_budget, maybe_yield, need_preempt, poll_proceed};
pub use io::{Readiness, Registration};
pub use join::{JoinError, JoinHandle};
pub use poller::{Poller, Sleep, add_poller, reactor_waker};
pub use stall::{StackFrame, StallReport, StalledIn, set_stall_hook, take_stall_hook};
pub use stats::Stats;
pub use time::{Elapsed, Interval, Timer, interval, sleep, sleep_until, timeout};

pub use crate::contain::drop_payload;
pub use crate::core::panic_message;
use crate::core::{Config, Core};

/// One thread's event loop. See the [crate docs](crate).
pub struct Reactor {
    core: Rc<Core>,
}

impl Reactor {
    /// A reactor with the default settings (see [`Builder`]).
    ///
    /// # Errors
    ///
    /// If epoll or the eventfd cannot be created (for example, out of file descriptors), or
    /// 1024 reactors are alive at once.
    pub fn new() -> std::io::Result<Reactor> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a reactor.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, running every task spawned meanwhile.
    /// Tasks still pending when it returns stay on the reactor for the next `block_on`.
    ///
    /// # Panics
    ///
    /// If called from inside a running reactor (a nested event loop would starve it).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future)
    }

    /// Spawns `future` on this reactor; it starts running at the next `block_on`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future, std::panic::Location::caller())
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The number of tasks alive (spawned and not finished or aborted).
    pub fn live_tasks(&self) -> usize {
        self.core.live_tasks()
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("live_tasks", &self.live_tasks())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Settings for a [`Reactor`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let reactor = ms_reactor::Reactor::builder()
///     .busy_poll(Duration::from_micros(50))
///     .stall_threshold(Duration::from_millis(10))
///     .build()
///     .unwrap();
/// assert_eq!(reactor.block_on(async { 1 }), 1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// The defaults: 0.5 ms time quota per turn, 25 ms stall threshold, no busy-poll.
    pub fn new() -> Builder {
        Builder {
            config: Config {
                time_quota: Duration::from_micros(500),
                stall_threshold: Duration::from_millis(25),
                busy_poll: Duration::ZERO,
                // Under valgrind every poll is slow, and naming a backtrace's frames takes
                // seconds: the live detector would only slow the program down further.
                stall_detector: !ms_alloc::running_on_valgrind(),
            },
        }
    }

    /// How long a turn may run tasks before it polls I/O and timers again.
    pub fn time_quota(mut self, quota: Duration) -> Builder {
        self.config.time_quota = quota;
        self
    }

    /// A poll (of a task, a [`Poller`] or the `block_on` future) longer than this is a stall:
    /// reported while it runs by the live stall detector, and counted (and reported, if the
    /// detector did not) when a task's poll ends. See [`set_stall_hook`] for where reports go.
    pub fn stall_threshold(mut self, threshold: Duration) -> Builder {
        self.config.stall_threshold = threshold;
        self
    }

    /// Whether the live stall detector watches this reactor (default: on, except in a program
    /// running under valgrind): a watchdog thread
    /// notices a poll stuck past the [threshold](Self::stall_threshold) while it runs, and a
    /// signal makes the stuck thread capture its backtrace for the report (see
    /// [`StallReport`]). Off: no signal is ever sent to this reactor's thread, and a stalled
    /// task is reported only when its poll ends, without a backtrace.
    ///
    /// The detector uses one real-time signal, the first free one from `SIGRTMAX` down, and
    /// a thread of its own, both set up with the first reactor that wants it. It costs two
    /// atomic stores per poll.
    pub fn stall_detector(mut self, on: bool) -> Builder {
        self.config.stall_detector = on;
        self
    }

    /// How long an idle reactor polls for I/O and wakes before it sleeps in `epoll_wait`
    /// (zero: sleep at once, unless a [`Poller`] asks for polling with
    /// [`Poller::busy_until`]). Busy-polling trades a core's idle time for wake-up latency.
    pub fn busy_poll(mut self, duration: Duration) -> Builder {
        self.config.busy_poll = duration;
        self
    }

    /// Makes the reactor.
    ///
    /// # Errors
    ///
    /// As [`Reactor::new`].
    pub fn build(self) -> std::io::Result<Reactor> {
        Ok(Reactor {
            core: Core::new(self.config)?,
        })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// Spawns `future` on the reactor running on this thread.
///
/// # Panics
///
/// If no reactor is running on this thread (call it inside [`Reactor::block_on`], or use
/// [`Reactor::spawn`]).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let at = std::panic::Location::caller();
    Core::with_current(|core| match core {
        Some(core) => core.spawn(future, at),
        None => panic!("ms_reactor::spawn at {at} outside a running reactor"),
    })
}

/// The counters of the reactor running on this thread, or `None` outside one.
///
/// # Examples
///
/// ```
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let spawned = reactor.block_on(async {
///     ms_reactor::spawn(async {}).await.unwrap();
///     ms_reactor::stats().unwrap().tasks_spawned
/// });
/// assert_eq!(spawned, 1);
/// assert!(ms_reactor::stats().is_none());
/// ```
pub fn stats() -> Option<Stats> {
    Core::with_current(|core| core.map(Core::stats))
}

/// Lets the other queued tasks run before this one continues.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use static_assertions::{assert_impl_all, assert_not_impl_any};

    assert_not_impl_any!(Reactor: Send, Sync);
    assert_not_impl_any!(JoinHandle<u8>: Send, Sync);
    assert_not_impl_any!(Timer: Send, Sync);
    assert_not_impl_any!(Registration<std::os::unix::net::UnixStream>: Send, Sync);
    assert_impl_all!(std::task::Waker: Send, Sync);
}
