//! [`Stats`]: what one reactor has done, for programs to read and export.

use std::cell::Cell;

/// Counters of one reactor since it was made. Read them with
/// [`Reactor::stats`](crate::Reactor::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Task polls.
    pub tasks_polled: u64,
    /// Tasks that panicked (each was contained: its handle resolved to an error).
    pub tasks_panicked: u64,
    /// Wakes from this reactor's own thread.
    pub local_wakes: u64,
    /// Wakes that came from other threads through the inbox.
    pub remote_wakes: u64,
    /// `epoll_wait` calls.
    pub epoll_waits: u64,
    /// Of those, the ones that may have blocked (a non-zero timeout).
    pub sleeps: u64,
    /// I/O readiness events delivered.
    pub io_events: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Task polls that held the thread longer than the stall threshold, counted when they end
    /// (whether or not the live detector caught them first).
    pub stalls: u64,
    /// Polls (of tasks, pollers or the `block_on` future) that the live stall detector caught
    /// holding the thread past the threshold while they ran, once each, whether or not the
    /// one-report-a-second limit let them be reported (see
    /// [`Builder::stall_detector`](crate::Builder::stall_detector)). A caught task poll that
    /// then ends is in `stalls` too; one that never ends is only here.
    pub stalls_caught_live: u64,
}

/// The live counters of one reactor: a `Cell` each, so counting costs one add, not a copy
/// of the whole [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tasks_spawned: Cell<u64>,
    pub(crate) tasks_polled: Cell<u64>,
    pub(crate) tasks_panicked: Cell<u64>,
    pub(crate) local_wakes: Cell<u64>,
    pub(crate) remote_wakes: Cell<u64>,
    pub(crate) epoll_waits: Cell<u64>,
    pub(crate) sleeps: Cell<u64>,
    pub(crate) io_events: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) stalls: Cell<u64>,
}

/// Adds `n` to a counter.
#[inline]
pub(crate) fn add(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get().wrapping_add(n));
}

impl Counters {
    /// A copy of every counter.
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            tasks_spawned: self.tasks_spawned.get(),
            tasks_polled: self.tasks_polled.get(),
            tasks_panicked: self.tasks_panicked.get(),
            local_wakes: self.local_wakes.get(),
            remote_wakes: self.remote_wakes.get(),
            epoll_waits: self.epoll_waits.get(),
            sleeps: self.sleeps.get(),
            io_events: self.io_events.get(),
            timers_fired: self.timers_fired.get(),
            stalls: self.stalls.get(),
            stalls_caught_live: 0,
        }
    }
}
