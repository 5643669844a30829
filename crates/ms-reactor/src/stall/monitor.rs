//! [`Monitor`]: what one reactor shares with the stall watchdog, and the protocols over it.
//!
//! # Fields, and who touches them
//!
//! | field         | written by                          | read by                         |
//! |---------------|-------------------------------------|---------------------------------|
//! | `poll`        | the reactor: a store per poll start and end | the watchdog; the handler |
//! | `site`        | the reactor, before a task poll's `poll` store | the watchdog           |
//! | `claimed`     | whoever reports a stalled poll: a swap | the same                     |
//! | `last_report` | whoever reports: a compare-exchange | the same                        |
//! | `caught_live` | the watchdog (an add per stalled poll) | the reactor's `stats()`      |
//! | `capture`     | the handler and the watchdog, by the state machine of [`Capture`] | |
//!
//! # The poll word
//!
//! `poll` is `seq << 2 | kind`: `kind` is [`IDLE`] between polls, else what is being polled
//! ([`TASK`], [`POLLER`], [`MAIN`]); `seq` grows by one per poll, so a poll has a word of its
//! own and a watchdog that sees the same busy word twice knows the thread has not left that
//! poll in between. The reactor keeps `seq` in a `Cell` and only *stores* (no read-modify-write
//! on the hot path): [`Monitor::enter`] and [`Monitor::leave`].
//!
//! # Reading a task poll's spawn site (a seqlock)
//!
//! The reactor stores `site` (Release), then the busy word (Release); at the end of the poll,
//! the idle word. The watchdog ([`Monitor::observe`]) loads the word (Acquire), `site`
//! (Acquire), and the word again; it trusts `site` only if both loads of the word agree.
//! Why that is enough: the first Acquire load of busy word `w` synchronizes with its store, so
//! `site` reads the value stored for `w`'s poll or a later one. A later one was stored (Release)
//! after the idle word that ended `w`'s poll, so reading it (Acquire) makes that idle word
//! visible, and the second load of the word cannot return `w` again (words never repeat and a
//! location's values are seen in order). So equal loads mean `site` is `w`'s. The loom model
//! `site_read_under_a_stable_word_is_that_polls` checks it.
//!
//! # One report per poll
//!
//! A poll past the threshold may be reported by the watchdog while it runs, and by the reactor
//! when it ends. Each first *claims* the poll: `claimed.swap(word)`; the one that gets back a
//! different word reports, the other stays quiet (one atomic location: its swaps are totally
//! ordered, so exactly one sees the old value). Only stalled polls get there: the hot path
//! never swaps. Loom model: `a_stalled_poll_is_claimed_once`.
//!
//! # The capture handoff
//!
//! [`Capture`] holds one backtrace (raw instruction pointers) and moves through
//! `IDLE -> REQUESTED` (watchdog, before it signals the thread), `REQUESTED -> CAPTURING`
//! (the handler, by compare-exchange, Acquire), `CAPTURING -> FILLED` (the handler, Release,
//! after writing the frames), `FILLED -> IDLE` (the watchdog, after copying them out, Release),
//! and `REQUESTED -> IDLE` (the watchdog gives up on a signal that does not come, by
//! compare-exchange). The frames are written only in `CAPTURING` and read only in `FILLED`, and
//! each handover is a Release/Acquire pair, so the two never overlap; a late signal finds
//! `IDLE` (or the next `REQUESTED`, which it may then serve) and never writes under a reader.
//! Loom model: `capture_handoff_never_races`.

use std::panic::Location;
use std::ptr;

use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering, UnsafeCell};

/// The kind bits of an idle reactor's poll word.
pub(crate) const IDLE: u64 = 0;
/// A task is being polled.
pub(crate) const TASK: u64 = 1;
/// A [`Poller`](crate::Poller) is being polled.
pub(crate) const POLLER: u64 = 2;
/// The `block_on` future is being polled.
pub(crate) const MAIN: u64 = 3;
const KIND_MASK: u64 = 3;

/// The kind bits of poll word `word`.
pub(crate) fn kind(word: u64) -> u64 {
    word & KIND_MASK
}

/// The most frames one capture keeps.
pub(crate) const MAX_FRAMES: usize = 128;

/// What a reactor shares with the watchdog; see the module docs.
#[derive(Debug)]
pub(crate) struct Monitor {
    poll: AtomicU64,
    site: AtomicPtr<Location<'static>>,
    claimed: AtomicU64,
    /// When the last report of this reactor was made: milliseconds on the coarse clock, plus
    /// one (zero: never).
    last_report: AtomicU64,
    caught_live: AtomicU64,
    pub(crate) capture: Capture,
}

impl Monitor {
    pub(crate) fn new() -> Self {
        Self {
            poll: AtomicU64::new(IDLE),
            site: AtomicPtr::new(ptr::null_mut()),
            claimed: AtomicU64::new(IDLE),
            last_report: AtomicU64::new(0),
            caught_live: AtomicU64::new(0),
            capture: Capture::new(),
        }
    }

    // ===== the reactor's side =====

    /// Publishes the start of a poll of `kind` (with `site` for a task), numbered `seq`, and
    /// returns its word. Called by the reactor's thread only.
    #[inline]
    pub(crate) fn enter(
        &self,
        seq: u64,
        kind: u64,
        site: Option<&'static Location<'static>>,
    ) -> u64 {
        debug_assert!(kind != IDLE && kind <= KIND_MASK);
        let word = seq << 2 | kind;
        let site = site.map_or(ptr::null_mut(), |s| ptr::from_ref(s).cast_mut());
        // Release, so that a watchdog reading this site also sees the idle word before it (see
        // the module docs).
        self.site.store(site, Ordering::Release);
        self.poll.store(word, Ordering::Release);
        word
    }

    /// Publishes the end of the current poll, numbered `seq`.
    #[inline]
    pub(crate) fn leave(&self, seq: u64) {
        self.poll.store(seq << 2 | IDLE, Ordering::Release);
    }

    /// The poll word as the reactor's own thread (or a signal handler on it) sees it.
    pub(crate) fn current(&self) -> u64 {
        // Relaxed: the only writer is this very thread, so program order shows its last store.
        self.poll.load(Ordering::Relaxed)
    }

    // ===== the watchdog's side =====

    /// The current poll word and, if a task is being polled, its spawn site, consistently
    /// (see the module docs); `None` if the word changed meanwhile (then it was not stuck).
    pub(crate) fn observe(&self) -> Option<(u64, Option<&'static Location<'static>>)> {
        let word = self.poll.load(Ordering::Acquire);
        if kind(word) != TASK {
            return Some((word, None));
        }
        let site = self.site.load(Ordering::Acquire);
        // Relaxed: ordered after the Acquire load of `site` above.
        if self.poll.load(Ordering::Relaxed) != word {
            return None;
        }
        // SAFETY: a non-null `site` was made from a `&'static Location` in `enter`.
        Some((word, unsafe { site.as_ref() }))
    }

    /// Counts a poll caught stalling while it ran.
    pub(crate) fn count_caught_live(&self) {
        self.caught_live.fetch_add(1, Ordering::Relaxed);
    }

    /// Polls caught stalling while they ran, so far.
    pub(crate) fn caught_live(&self) -> u64 {
        self.caught_live.load(Ordering::Relaxed)
    }

    // ===== either side =====

    /// Claims the report of poll `word`: true for the first claimant only (see the module docs).
    pub(crate) fn claim(&self, word: u64) -> bool {
        self.claimed.swap(word, Ordering::AcqRel) != word
    }

    /// Whether a report may be made at `now_ms` (coarse clock): at most one a second; taking
    /// the answer `true` counts as reporting.
    pub(crate) fn may_report(&self, now_ms: u64) -> bool {
        let stamp = now_ms.wrapping_add(1);
        let last = self.last_report.load(Ordering::Relaxed);
        if last != 0 && stamp.wrapping_sub(last) < 1000 {
            return false;
        }
        self.last_report
            .compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

// ===== impl Capture =====

const CAPTURE_IDLE: u32 = 0;
const REQUESTED: u32 = 1;
const CAPTURING: u32 = 2;
const FILLED: u32 = 3;

/// One captured backtrace.
#[derive(Debug)]
pub(crate) struct Frames {
    /// The poll word when the stack was captured.
    pub(crate) word: u64,
    pub(crate) len: usize,
    pub(crate) ips: [usize; MAX_FRAMES],
}

/// A buffer a signal handler fills with one backtrace for the watchdog; see the module docs.
#[derive(Debug)]
pub(crate) struct Capture {
    state: AtomicU32,
    frames: UnsafeCell<Frames>,
}

// SAFETY: `frames` is written only by the thread that moved `state` from REQUESTED to
// CAPTURING, and read only by the thread that saw FILLED, with Release/Acquire handovers
// between them (see the module docs); everything else is atomic.
unsafe impl Sync for Capture {}

impl Capture {
    fn new() -> Self {
        Self {
            state: AtomicU32::new(CAPTURE_IDLE),
            frames: UnsafeCell::new(Frames {
                word: IDLE,
                len: 0,
                ips: [0; MAX_FRAMES],
            }),
        }
    }

    /// Watchdog: asks for a capture; false if one is still outstanding.
    pub(crate) fn request(&self) -> bool {
        // Release: our last read of the frames happens before the handler's next write.
        self.state
            .compare_exchange(
                CAPTURE_IDLE,
                REQUESTED,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Handler: fills the buffer by `fill` if a capture was asked for; returns whether it did.
    /// `fill` must not allocate or lock (it runs in a signal handler).
    pub(crate) fn fill(
        &self,
        word: u64,
        fill: impl FnOnce(&mut [usize; MAX_FRAMES]) -> usize,
    ) -> bool {
        if self
            .state
            .compare_exchange(REQUESTED, CAPTURING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.frames.with_mut(|frames| {
            // SAFETY: we moved the state to CAPTURING, so no one else touches the frames until
            // our Release store of FILLED below.
            let frames = unsafe { &mut *frames };
            frames.word = word;
            frames.len = fill(&mut frames.ips).min(MAX_FRAMES);
        });
        self.state.store(FILLED, Ordering::Release);
        true
    }

    /// Watchdog: the captured frames, if the handler has filled the buffer (which is then free
    /// for the next request): the poll word it saw, and the instruction pointers.
    pub(crate) fn take(&self) -> Option<(u64, Vec<usize>)> {
        if self.state.load(Ordering::Acquire) != FILLED {
            return None;
        }
        let taken = self.frames.with(|frames| {
            // SAFETY: FILLED (loaded with Acquire) hands the frames to us until we store IDLE.
            let frames = unsafe { &*frames };
            (frames.word, frames.ips[..frames.len].to_vec())
        });
        self.state.store(CAPTURE_IDLE, Ordering::Release);
        Some(taken)
    }

    /// Watchdog: gives up an outstanding request; false if the handler has begun (then
    /// [`take`](Self::take) will soon succeed) or finished.
    pub(crate) fn cancel(&self) -> bool {
        self.state
            .compare_exchange(
                REQUESTED,
                CAPTURE_IDLE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_are_per_poll_and_idle_between() {
        let monitor = Monitor::new();
        let word = monitor.enter(1, TASK, Some(Location::caller()));
        assert_eq!(kind(word), TASK);
        assert_eq!(monitor.observe().unwrap().0, word);
        assert!(monitor.observe().unwrap().1.is_some());
        monitor.leave(1);
        assert_eq!(kind(monitor.current()), IDLE);
        assert_ne!(monitor.enter(2, TASK, None), word);
    }

    #[test]
    fn a_poll_is_claimed_once_and_reports_are_a_second_apart() {
        let monitor = Monitor::new();
        let word = monitor.enter(1, MAIN, None);
        assert!(monitor.claim(word));
        assert!(!monitor.claim(word));
        assert!(monitor.may_report(5));
        assert!(!monitor.may_report(5 + 999));
        assert!(monitor.may_report(5 + 1000));
    }

    #[test]
    fn a_capture_is_filled_only_on_request() {
        let monitor = Monitor::new();
        let capture = &monitor.capture;
        assert!(!capture.fill(7, |_| unreachable!()));
        assert!(capture.request());
        assert!(!capture.request(), "one outstanding request at a time");
        assert!(capture.fill(7, |ips| {
            ips[..2].copy_from_slice(&[1, 2]);
            2
        }));
        assert!(!capture.cancel());
        assert_eq!(capture.take(), Some((7, vec![1, 2])));
        assert_eq!(capture.take(), None);
        assert!(capture.request());
        assert!(capture.cancel());
        assert!(!capture.fill(8, |_| unreachable!()), "a late signal");
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Two threads each: the reactor (or its signal handler) and the watchdog.

    use super::*;
    use loom::thread;
    use std::sync::Arc;

    #[test]
    fn site_read_under_a_stable_word_is_that_polls() {
        loom::model(|| {
            let monitor = Arc::new(Monitor::new());
            let first: &'static Location<'static> = Location::caller();
            let second: &'static Location<'static> = Location::caller();
            let reactor = {
                let monitor = monitor.clone();
                thread::spawn(move || {
                    monitor.enter(1, TASK, Some(first));
                    monitor.leave(1);
                    monitor.enter(2, TASK, Some(second));
                })
            };
            if let Some((word, site)) = monitor.observe() {
                match word {
                    w if w == 1 << 2 | TASK => assert!(ptr::eq(site.unwrap(), first)),
                    w if w == 2 << 2 | TASK => assert!(ptr::eq(site.unwrap(), second)),
                    w => assert_eq!(kind(w), IDLE),
                }
            }
            reactor.join().unwrap();
        });
    }

    #[test]
    fn a_stalled_poll_is_claimed_once() {
        loom::model(|| {
            let monitor = Arc::new(Monitor::new());
            let reactor = {
                let monitor = monitor.clone();
                thread::spawn(move || {
                    let word = monitor.enter(1, TASK, None);
                    monitor.leave(1);
                    monitor.claim(word)
                })
            };
            let seen = monitor.observe().map(|(word, _)| word);
            let watchdog = seen.filter(|&w| kind(w) == TASK).map(|w| monitor.claim(w));
            let reactor = reactor.join().unwrap();
            match watchdog {
                Some(watchdog) => assert!(reactor ^ watchdog, "exactly one reports"),
                None => assert!(reactor),
            }
        });
    }

    #[test]
    fn capture_handoff_never_races() {
        loom::model(|| {
            let monitor = Arc::new(Monitor::new());
            assert!(monitor.capture.request());
            let handler = {
                let monitor = monitor.clone();
                thread::spawn(move || {
                    monitor.capture.fill(1, |ips| {
                        ips[0] = 10;
                        1
                    })
                })
            };
            // The watchdog gives up at once if it can, and asks again (a late signal may
            // serve the second request).
            let gave_up = monitor.capture.cancel();
            if gave_up {
                assert!(monitor.capture.request());
            }
            let taken = loop {
                if let Some(taken) = monitor.capture.take() {
                    break Some(taken);
                }
                if gave_up && monitor.capture.cancel() {
                    break None;
                }
                thread::yield_now();
            };
            let filled = handler.join().unwrap();
            assert_eq!(taken.is_some(), filled);
            if let Some(taken) = taken {
                assert_eq!(taken, (1, vec![10]));
            }
        });
    }
}
