//! Preemption inside a task: a budget of I/O operations per poll ([`poll_proceed`],
//! [`consume_budget`]) and a check of the poll's time ([`need_preempt`], [`maybe_yield`]).
//!
//! The reactor runs a task until it returns `Pending`, but readiness is cached: a read loop on
//! a socket that always has data, or an accept loop on a busy listener, never sees `Pending`
//! and would hold the core until the data runs out. So each poll of a task (and of the
//! `block_on` future) may do [`IO_BUDGET`] I/O operations; after that, ready I/O answers
//! `Pending` and wakes the task, which goes to the back of the run queue. A loop of plain
//! computation has no I/O to cut it short: it asks [`need_preempt`] (or awaits
//! [`maybe_yield`]) as Seastar's loops do.
//!
//! # State
//!
//! A thread-local [`Budget`], set by the reactor before each poll ([`start`]) and made
//! unconstrained again after it (the guard's drop): outside a reactor's poll, I/O always
//! proceeds and [`need_preempt`] is always `false`. The time quota is the reactor's
//! ([`Builder::time_quota`](crate::Builder::time_quota)), measured from the first
//! [`need_preempt`] call of the poll: reading the clock at every poll's start would cost
//! every task a clock read, most of them for nothing. After that first call the clock is
//! read once every `CLOCK_EVERY` calls, so a call costs a thread-local load and a compare.

use std::cell::Cell;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How many I/O operations one poll of a task may do before ready I/O returns `Pending`
/// (tokio's figure).
pub const IO_BUDGET: u32 = 128;

/// The I/O budget outside a reactor's poll: never spent.
const UNCONSTRAINED: u32 = u32::MAX;

/// [`need_preempt`] reads the clock once every this many calls.
const CLOCK_EVERY: u32 = 32;

/// The current poll's budget; see the module docs.
struct Budget {
    /// I/O operations left (`UNCONSTRAINED` outside a poll).
    io_left: Cell<u32>,
    /// The poll's time quota; `None` outside a poll.
    quota: Cell<Option<Duration>>,
    /// When the poll first asked [`need_preempt`].
    started: Cell<Option<Instant>>,
    /// [`need_preempt`] calls left before the clock is read again.
    until_clock: Cell<u32>,
    /// The poll has used its time quota.
    expired: Cell<bool>,
}

thread_local! {
    static BUDGET: Budget = const {
        Budget {
            io_left: Cell::new(UNCONSTRAINED),
            quota: Cell::new(None),
            started: Cell::new(None),
            until_clock: Cell::new(0),
            expired: Cell::new(false),
        }
    };
}

/// The budget of the poll that is running: unconstrained again when dropped.
pub(crate) struct PollBudget(());

/// A poll of a task starts, with the reactor's time quota `quota`.
pub(crate) fn start(quota: Duration) -> PollBudget {
    BUDGET.with(|b| {
        b.io_left.set(IO_BUDGET);
        b.quota.set(Some(quota));
        b.started.set(None);
        b.until_clock.set(0);
        b.expired.set(false);
    });
    PollBudget(())
}

impl Drop for PollBudget {
    fn drop(&mut self) {
        BUDGET.with(|b| {
            b.io_left.set(UNCONSTRAINED);
            b.quota.set(None);
            b.expired.set(false);
        });
    }
}

impl Budget {
    /// Reads the clock: whether the poll has used its quota.
    #[cold]
    fn quota_used(&self) -> bool {
        self.until_clock.set(CLOCK_EVERY - 1);
        let Some(quota) = self.quota.get() else {
            return false;
        };
        let now = Instant::now();
        let started = *self.started.get().get_or_insert(now);
        self.started.set(Some(started));
        let used = now.duration_since(started) >= quota;
        self.expired.set(used);
        used
    }
}

/// Takes one unit of the running task's I/O budget: `Ready` if there was one left (always,
/// outside a reactor's poll), else `Pending` after waking the task, so that it runs again
/// once the tasks queued behind it have. Call it before each I/O operation on a resource
/// whose readiness is cached (ms-reactor's [`Registration`](crate::Registration) does, when
/// it reports readiness).
///
/// # Examples
///
/// ```
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// reactor.block_on(async {
///     for _ in 0..ms_reactor::IO_BUDGET {
///         std::future::poll_fn(ms_reactor::poll_proceed).await; // ready at once
///     }
///     assert!(ms_reactor::need_preempt());
///     std::future::poll_fn(ms_reactor::poll_proceed).await; // yields first
///     assert!(!ms_reactor::need_preempt());
/// });
/// ```
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    BUDGET.with(|b| match b.io_left.get() {
        UNCONSTRAINED => Poll::Ready(()),
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        left => {
            b.io_left.set(left - 1);
            Poll::Ready(())
        }
    })
}

/// Takes one unit of the running task's I/O budget, yielding first if it is spent: the
/// `async` form of [`poll_proceed`].
pub async fn consume_budget() {
    std::future::poll_fn(poll_proceed).await;
}

/// Whether the running task should let the others run: its poll has used the reactor's time
/// quota ([`Builder::time_quota`](crate::Builder::time_quota), counted from the poll's first
/// call of this function; the clock is read once every 32 calls) or its I/O budget. Cheap:
/// a thread-local load and a compare between clock reads. Always `false` outside a reactor's
/// poll.
#[inline]
pub fn need_preempt() -> bool {
    BUDGET.with(|b| {
        if b.io_left.get() == 0 || b.expired.get() {
            return true;
        }
        match b.until_clock.get() {
            0 => b.quota_used(),
            left => {
                b.until_clock.set(left - 1);
                false
            }
        }
    })
}

/// Yields (as [`yield_now`](crate::yield_now)) if [`need_preempt`], else returns at once: for a
/// long loop of computation inside a task, awaited once per iteration.
///
/// # Examples
///
/// ```
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let sum = reactor.block_on(async {
///     let mut sum = 0u64;
///     for i in 0..1_000_000 {
///         sum += i;
///         ms_reactor::maybe_yield().await;
///     }
///     sum
/// });
/// assert_eq!(sum, 499_999_500_000);
/// ```
pub async fn maybe_yield() {
    if need_preempt() {
        crate::yield_now().await;
    }
}
