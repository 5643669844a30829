//! The process-wide stall watchdog: one thread, started with the first reactor that turns live
//! detection on, that looks at every such reactor's poll word about twice per threshold and
//! has a stuck thread capture its stack (by a signal, see [`signal`](super::signal)), then
//! symbolizes and reports it.
//!
//! # A look, per reactor
//!
//! 1. If a capture is outstanding: take it when the handler has filled it and report; give up
//!    (and report without a backtrace) after [`GIVE_UP`].
//! 2. Else read the poll word. A busy word first seen at `since` and still the same at `now`,
//!    with `now - since` at least the threshold, is a stall: claim it (see
//!    [`Monitor::claim`]), count it, and if the reactor's one-report-a-second allows, ask for a
//!    capture and signal the thread.
//!
//! The watchdog sleeps on a condition variable between looks (half the smallest threshold,
//! 1 ms while a capture is outstanding; no timeout while no reactor is watched), so it never
//! spins. Reports are symbolized and emitted with the list unlocked: a reactor that ends
//! (unregisters) never waits for symbolization or for the hook.

use std::panic::Location;
use std::time::{Duration, Instant};

use super::monitor::{self, Monitor};
use super::report::{self, StallReport, StalledIn};
use super::signal;
use crate::sync::process::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use crate::sys::coarse_now;

/// How long the watchdog waits for a stuck thread to run its signal handler.
const GIVE_UP: Duration = Duration::from_secs(1);
/// How often it looks while a capture is outstanding.
const WAITING_PERIOD: Duration = Duration::from_millis(1);

/// What the watchdog knows of one reactor.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) thread: String,
    pub(crate) tid: libc::pid_t,
    pub(crate) threshold: Duration,
}

/// A reactor being watched, and what the watchdog saw of it.
#[derive(Debug)]
struct Watched {
    target: Target,
    /// The poll word at the last look, and when it was first seen.
    seen: u64,
    since: Instant,
    /// The last word caught stalling (it is not caught twice).
    caught: u64,
    pending: Option<Pending>,
}

/// A stall waiting for its capture.
#[derive(Debug)]
struct Pending {
    word: u64,
    stalled_in: StalledIn,
    since: Instant,
    sent_at: Instant,
}

/// A stall ready to report, still unsymbolized.
struct Ready {
    thread: String,
    tid: libc::pid_t,
    threshold: Duration,
    stalled_in: StalledIn,
    stalled_for: Duration,
    ips: Option<Vec<usize>>,
}

#[derive(Debug, Default)]
struct Watchdog {
    watched: Mutex<Vec<Watched>>,
    changed: Condvar,
}

static WATCHDOG: OnceLock<Option<(Watchdog, libc::c_int)>> = OnceLock::new();

/// The watchdog and its signal, started on first use; `None` if live detection is unavailable
/// (no free signal, or no thread could be started; said once on stderr).
fn watchdog() -> Option<(&'static Watchdog, libc::c_int)> {
    let started = WATCHDOG.get_or_init(|| {
        let signal = signal::install()?;
        let spawned = std::thread::Builder::new()
            .name("ms-stall-watchdog".into())
            .spawn(|| {
                if let Some((watchdog, signal)) = watchdog() {
                    watchdog.run(signal);
                }
            });
        match spawned {
            // The thread blocks on `WATCHDOG` until this initialisation is done.
            Ok(_) => Some((Watchdog::default(), signal)),
            Err(e) => {
                eprintln!("ms-reactor: live stall detection is off: no watchdog thread: {e}");
                None
            }
        }
    });
    started.as_ref().map(|(w, s)| (w, *s))
}

/// Watches `target`'s reactor from now on; false if live detection is unavailable.
pub(crate) fn register(target: Target) -> bool {
    let Some((watchdog, _)) = watchdog() else {
        return false;
    };
    let seen = target.monitor.current();
    watchdog.lock().push(Watched {
        target,
        seen,
        since: Instant::now(),
        caught: monitor::IDLE,
        pending: None,
    });
    // Its threshold may be the smallest yet.
    watchdog.changed.notify_one();
    true
}

/// Stops watching `monitor`'s reactor; no signal is sent to its thread once this returns.
pub(crate) fn unregister(monitor: &Arc<Monitor>) {
    if let Some((watchdog, _)) = watchdog() {
        watchdog
            .lock()
            .retain(|w| !Arc::ptr_eq(&w.target.monitor, monitor));
    }
}

impl Watchdog {
    fn lock(&self) -> MutexGuard<'_, Vec<Watched>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, signal: libc::c_int) {
        let mut ready = Vec::new();
        let mut watched = self.lock();
        loop {
            let now = Instant::now();
            let now_ms = coarse_now().as_millis() as u64;
            for w in watched.iter_mut() {
                w.look(now, now_ms, signal, &mut ready);
            }
            if !ready.is_empty() {
                drop(watched);
                for stall in ready.drain(..) {
                    report::emit(&stall.into_report());
                }
                watched = self.lock();
                continue;
            }
            let period = if watched.iter().any(|w| w.pending.is_some()) {
                Some(WAITING_PERIOD)
            } else {
                watched
                    .iter()
                    .map(|w| w.target.threshold / 2)
                    .min()
                    .map(|p| p.clamp(WAITING_PERIOD, Duration::from_secs(1)))
            };
            watched = match period {
                Some(period) => {
                    self.changed
                        .wait_timeout(watched, period)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .changed
                    .wait(watched)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

impl Watched {
    /// One look at this reactor; see the module docs.
    fn look(&mut self, now: Instant, now_ms: u64, signal: libc::c_int, ready: &mut Vec<Ready>) {
        let monitor = &self.target.monitor;
        if let Some(pending) = &self.pending {
            let ips = match monitor.capture.take() {
                // A capture of another poll (the stalled one ended first) is no use.
                Some((word, ips)) => Some((word == pending.word).then_some(ips)),
                None if now - pending.sent_at >= GIVE_UP && monitor.capture.cancel() => Some(None),
                None => None,
            };
            if let Some(ips) = ips {
                ready.push(self.ready(pending.stalled_in, now - pending.since, ips));
                self.pending = None;
            }
            return;
        }
        let Some((word, site)) = monitor.observe() else {
            return;
        };
        if word != self.seen {
            self.seen = word;
            self.since = now;
            return;
        }
        if monitor::kind(word) == monitor::IDLE
            || word == self.caught
            || now - self.since < self.target.threshold
        {
            return;
        }
        self.caught = word;
        if !monitor.claim(word) {
            return; // the reactor reported it as it ended
        }
        monitor.count_caught_live();
        if !monitor.may_report(now_ms) {
            return;
        }
        let stalled_in = stalled_in(word, site);
        if !monitor.capture.request() {
            ready.push(self.ready(stalled_in, now - self.since, None));
            return;
        }
        match signal::send(self.target.tid, signal) {
            Ok(()) => {
                self.pending = Some(Pending {
                    word,
                    stalled_in,
                    since: self.since,
                    sent_at: now,
                });
            }
            Err(_) => {
                monitor.capture.cancel();
                ready.push(self.ready(stalled_in, now - self.since, None));
            }
        }
    }

    fn ready(
        &self,
        stalled_in: StalledIn,
        stalled_for: Duration,
        ips: Option<Vec<usize>>,
    ) -> Ready {
        Ready {
            thread: self.target.thread.clone(),
            tid: self.target.tid,
            threshold: self.target.threshold,
            stalled_in,
            stalled_for,
            ips,
        }
    }
}

/// What poll word `word` (with spawn site `site`) was polling.
fn stalled_in(word: u64, site: Option<&'static Location<'static>>) -> StalledIn {
    match (monitor::kind(word), site) {
        (monitor::TASK, Some(spawned_at)) => StalledIn::Task { spawned_at },
        (monitor::MAIN, _) => StalledIn::BlockOn,
        _ => StalledIn::Poller,
    }
}

impl Ready {
    fn into_report(self) -> StallReport {
        StallReport {
            thread: self.thread,
            tid: self.tid,
            stalled_in: self.stalled_in,
            stalled_for: self.stalled_for,
            threshold: self.threshold,
            live: true,
            backtrace: self.ips.map(|ips| report::symbolize(&ips)),
        }
    }
}
