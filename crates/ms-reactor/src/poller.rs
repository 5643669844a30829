//! [`Poller`]: work the reactor looks for itself on every turn, and while it busy-polls,
//! without a task or a wake in between (Seastar's reactor pollers).
//!
//! A poller suits a source of work that another thread fills without telling anyone, such as
//! a lock-free queue from another core: the reactor calls [`Poller::poll`] once per turn and
//! on every spin of its busy-poll loop, so a message is seen a few nanoseconds after it lands.
//! Before the reactor sleeps, each poller is asked ([`Poller::try_sleep`]) to arrange to be
//! woken, typically by publishing [`reactor_waker`] to its senders and telling them it
//! sleeps, and then to look once more; [`Poller::woke`] follows when the reactor runs again.
//! A poller that expects work any moment can ask the reactor to busy-poll for a while first
//! ([`Poller::busy_until`]).

use std::task::Waker;
use std::time::Instant;

use crate::core::Core;

/// Whether the reactor may sleep, as far as one poller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleep {
    /// Nothing is pending, and whoever brings more will wake the reactor.
    Allowed,
    /// Sleep, but no longer than until this instant (to retry something, say).
    Until(Instant),
    /// Work is pending: do not sleep.
    Refused,
}

/// Work the reactor polls for on every turn; see the module docs.
///
/// Pollers run on the reactor's thread, with no borrow of the reactor held: they may spawn,
/// wake tasks and add pollers. A panic in a poller's methods is not caught: it leaves
/// [`Reactor::block_on`](crate::Reactor::block_on), like a panic of the main future. A panic
/// in its `drop` (when its reactor is dropped) is caught and reported.
pub trait Poller {
    /// Does whatever work is pending; returns whether there was any. Called once per turn and
    /// on every spin of the busy-poll loop, so it should be cheap when there is nothing to do.
    /// Each call has the reactor's time quota and an I/O budget, as a task's poll does: a
    /// poller that runs a queue of work should stop when [`need_preempt`](crate::need_preempt)
    /// says so (and return `true`, to be called again soon).
    fn poll(&mut self) -> bool;

    /// The reactor is about to sleep: arrange to be woken when work comes (see
    /// [`reactor_waker`]), then look once more, and say whether it may sleep. If any poller
    /// refuses, the reactor calls [`woke`](Self::woke) on those asked so far and stays up.
    fn try_sleep(&mut self) -> Sleep;

    /// The reactor runs again after a successful [`try_sleep`](Self::try_sleep) (whether or
    /// not it actually slept).
    fn woke(&mut self);

    /// The reactor found nothing to do, at `now`: until when this poller wants it to keep
    /// polling instead of sleeping, because it expects work very soon (a reply to a message
    /// it sent to another core, say). `None` (the default): no wish. The reactor busy-polls
    /// until the latest instant any poller (or its own busy-poll setting) asks for, never
    /// past its next timer. It asks when it runs out of work, again when the window it took
    /// ends (a wish may have moved on), and after any poller's work that woke no task. Keep
    /// the window bounded: a spinning core burns its CPU.
    fn busy_until(&mut self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
}

/// Adds `poller` to the reactor running on this thread, for as long as the reactor lives.
///
/// # Panics
///
/// If no reactor is running on this thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts what another thread leaves in a shared counter.
/// struct Collector {
///     shared: Arc<AtomicU64>,
///     seen: std::rc::Rc<std::cell::Cell<u64>>,
/// }
///
/// impl ms_reactor::Poller for Collector {
///     fn poll(&mut self) -> bool {
///         let n = self.shared.swap(0, Ordering::Acquire);
///         self.seen.set(self.seen.get() + n);
///         n > 0
///     }
///     fn try_sleep(&mut self) -> ms_reactor::Sleep {
///         ms_reactor::Sleep::Allowed
///     }
///     fn woke(&mut self) {}
/// }
///
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let shared = Arc::new(AtomicU64::new(0));
/// let seen = std::rc::Rc::new(std::cell::Cell::new(0));
/// reactor.block_on(async {
///     ms_reactor::add_poller(Collector { shared: Arc::clone(&shared), seen: seen.clone() });
///     shared.fetch_add(3, Ordering::Release);
///     while seen.get() < 3 {
///         ms_reactor::yield_now().await;
///     }
/// });
/// assert_eq!(seen.get(), 3);
/// ```
pub fn add_poller(poller: impl Poller + 'static) {
    Core::with_current(|core| match core {
        Some(core) => core.add_poller(Box::new(poller)),
        None => panic!("ms_reactor::add_poller outside a running reactor"),
    });
}

/// A waker that wakes the reactor running on this thread itself (not a task): from any
/// thread, it makes the reactor leave `epoll_wait` and run a turn, so its pollers look for
/// work. Cheap when the reactor is awake (no system call); rings its eventfd when it sleeps.
///
/// # Panics
///
/// If no reactor is running on this thread.
pub fn reactor_waker() -> Waker {
    Core::with_current(|core| match core {
        Some(core) => core.reactor_waker(),
        None => panic!("ms_reactor::reactor_waker outside a running reactor"),
    })
}
