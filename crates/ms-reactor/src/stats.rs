//! [`Stats`]: what one reactor has done, for programs to read and export.

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
    /// Polls that held the thread longer than the stall threshold.
    pub stalls: u64,
}
