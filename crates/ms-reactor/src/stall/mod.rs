//! The stall detector: a poll that holds a reactor's thread past the stall threshold
//! ([`Builder::stall_threshold`](crate::Builder::stall_threshold), 25 ms by default) is
//! reported, with the stuck thread's backtrace, *while it is stuck*, so an endless loop is
//! reported too. The crate docs' "Stall detection" section shows it from the user's side.
//!
//! # How
//!
//! - Each reactor publishes, with two plain atomic stores per poll (no read-modify-write), a
//!   per-poll word (sequence number and what is polled: a task, a poller, the `block_on`
//!   future) and, for a task, its spawn site, in a [`Monitor`] shared with the watchdog.
//! - One process-wide [watchdog](watchdog) thread, started with the first reactor that wants
//!   live detection, looks about twice per threshold; a busy word unchanged for the threshold
//!   is a stall.
//! - It sends the stuck thread a real-time [signal](signal); the handler, on that thread,
//!   walks the thread's own stack into a preallocated buffer (no allocation, no lock).
//! - The watchdog symbolizes the frames and [`emit`](report::emit)s a [`StallReport`]: to the
//!   hook set with [`set_stall_hook`], by default to stderr. At most one report a second per
//!   reactor; a poll reported live is not reported again when it ends, and one that ends
//!   unseen is reported then (without a backtrace), as before.
//!
//! [`Stats::stalls`](crate::Stats::stalls) counts polls that ended past the threshold,
//! [`Stats::stalls_caught_live`](crate::Stats::stalls_caught_live) those caught while they ran
//! (a poll that ends after being caught is in both).
//!
//! The detector is on by default; [`Builder::stall_detector`](crate::Builder::stall_detector)
//! turns it off for one reactor (no watchdog, no signals to its thread).

mod monitor;
mod report;
mod signal;
mod watchdog;

use std::cell::Cell;
use std::panic::Location;
use std::time::Duration;

pub(crate) use monitor::{MAIN, Monitor, POLLER, TASK};
pub(crate) use report::emit;
pub use report::{StackFrame, StallReport, StalledIn, set_stall_hook, take_stall_hook};

use crate::sync::process::Arc;
use crate::sys::coarse_now;

/// A reactor's side of the stall detector.
#[derive(Debug)]
pub(crate) struct Watch {
    monitor: Arc<Monitor>,
    /// Whether the watchdog watches this reactor (then polls are published).
    live: bool,
    /// The number of the current or last poll.
    seq: Cell<u64>,
    /// The word of the current or last poll.
    last: Cell<u64>,
    thread: String,
    tid: libc::pid_t,
    threshold: Duration,
}

impl Watch {
    /// The stall detector of a reactor on this thread; `live`: whether to watch it while it
    /// runs (if the process can).
    pub(crate) fn new(threshold: Duration, live: bool) -> Watch {
        let monitor = Arc::new(Monitor::new());
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        let tid = signal::current_tid();
        let live = live
            && watchdog::register(watchdog::Target {
                monitor: monitor.clone(),
                thread: thread.clone(),
                tid,
                threshold,
            });
        Watch {
            monitor,
            live,
            seq: Cell::new(0),
            last: Cell::new(monitor::IDLE),
            thread,
            tid,
            threshold,
        }
    }

    /// A poll of `kind` (a task's with its spawn site) begins.
    #[inline]
    pub(crate) fn enter(&self, kind: u64, site: Option<&'static Location<'static>>) {
        if self.live {
            let seq = self.seq.get().wrapping_add(1);
            self.seq.set(seq);
            self.last.set(self.monitor.enter(seq, kind, site));
        }
    }

    /// The poll ends.
    #[inline]
    pub(crate) fn leave(&self) {
        if self.live {
            self.monitor.leave(self.seq.get());
        }
    }

    /// The reactor runs on this thread until the guard drops (which also ends a poll that a
    /// panic left): the signal handler captures into its monitor.
    pub(crate) fn running(&self) -> Running<'_> {
        Running {
            watch: self,
            _active: self.live.then(|| signal::Active::enter(&self.monitor)),
        }
    }

    /// The last poll ended `took` after it began, past the threshold: its report, unless it
    /// was reported live or the one-a-second limit holds it back.
    pub(crate) fn ended_report(
        &self,
        took: Duration,
        spawned_at: &'static Location<'static>,
    ) -> Option<StallReport> {
        if self.live && !self.monitor.claim(self.last.get()) {
            return None;
        }
        if !self.monitor.may_report(coarse_now().as_millis() as u64) {
            return None;
        }
        Some(StallReport {
            thread: self.thread.clone(),
            tid: self.tid,
            stalled_in: StalledIn::Task { spawned_at },
            stalled_for: took,
            threshold: self.threshold,
            live: false,
            backtrace: None,
        })
    }

    /// Polls caught stalling while they ran.
    pub(crate) fn caught_live(&self) -> u64 {
        self.monitor.caught_live()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.live {
            watchdog::unregister(&self.monitor);
        }
    }
}

/// See [`Watch::running`].
#[derive(Debug)]
pub(crate) struct Running<'a> {
    watch: &'a Watch,
    _active: Option<signal::Active>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.watch.leave();
    }
}
