//! [`StallReport`] and where reports go: [`emit`] hands each one to the stall hook (see
//! [`set_stall_hook`]), by default a line on stderr plus the backtrace.

use std::fmt;
use std::panic::{AssertUnwindSafe, Location};
use std::path::PathBuf;
use std::time::Duration;

use crate::sync::process::{Arc, RwLock};

/// A poll that held a reactor's thread past its stall threshold.
///
/// Made by the live detector while the poll still runs ([`live`](Self::live), with a
/// [`backtrace`](Self::backtrace) of the stuck thread), or by the reactor when a poll ends
/// past the threshold unseen (without one). Handed to the stall hook ([`set_stall_hook`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StallReport {
    /// The name of the reactor's thread (`"<unnamed>"` if it has none).
    pub thread: String,
    /// The kernel id of the reactor's thread.
    pub tid: i32,
    /// What was being polled.
    pub stalled_in: StalledIn,
    /// How long the poll had held the thread: at least this long for a live report (the poll
    /// goes on), exactly (to the coarse clock's millisecond or so) for an ended one.
    pub stalled_for: Duration,
    /// The reactor's stall threshold.
    pub threshold: Duration,
    /// Whether the poll was still running when reported.
    pub live: bool,
    /// The stuck thread's stack, innermost frame first, captured on that thread while it was
    /// stuck (live reports; `None` if it could not be captured before the poll ended, and for
    /// ended polls).
    pub backtrace: Option<Vec<StackFrame>>,
}

/// What a stalled poll was polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StalledIn {
    /// A task, spawned at this place in the source.
    Task {
        /// Where it was spawned.
        spawned_at: &'static Location<'static>,
    },
    /// A [`Poller`](crate::Poller).
    Poller,
    /// The future passed to [`Reactor::block_on`](crate::Reactor::block_on).
    BlockOn,
}

/// One symbol of a captured stack: a function at an instruction pointer (an inlined function
/// gets a frame of its own, at the same pointer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackFrame {
    /// The instruction pointer.
    pub ip: usize,
    /// The demangled function name, without its hash, if the symbol is known.
    pub name: Option<String>,
    /// The source file, if debug info says.
    pub file: Option<PathBuf>,
    /// The source line, if debug info says.
    pub line: Option<u32>,
}

impl fmt::Display for StalledIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StalledIn::Task { spawned_at } => write!(f, "a task spawned at {spawned_at}"),
            StalledIn::Poller => f.write_str("a poller"),
            StalledIn::BlockOn => f.write_str("the block_on future"),
        }
    }
}

impl fmt::Display for StackFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x} ", self.ip)?;
        match &self.name {
            Some(name) => f.write_str(name)?,
            None => f.write_str("<unknown>")?,
        }
        if let Some(file) = &self.file {
            write!(f, " at {}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// The report as the default hook prints it: one line, then the backtrace's frames, one a line.
impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (held, since) = if self.live {
            ("has held", "at least ")
        } else {
            ("held", "")
        };
        write!(
            f,
            "ms-reactor: stall: {} {held} thread {:?} (tid {}) for {since}{:?} (threshold {:?})",
            self.stalled_in, self.thread, self.tid, self.stalled_for, self.threshold
        )?;
        match &self.backtrace {
            Some(frames) => {
                f.write_str("; backtrace:")?;
                for (i, frame) in frames.iter().enumerate() {
                    write!(f, "\n  {i:>3}: {frame}")?;
                }
                Ok(())
            }
            None if self.live => f.write_str(" (no backtrace: the poll ended first)"),
            None => Ok(()),
        }
    }
}

type Hook = Arc<dyn Fn(&StallReport) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Sets the process-wide stall hook, which every stall report goes to instead of the default
/// (which prints the report's [`Display`](fmt::Display) form on stderr), as
/// [`std::panic::set_hook`] does for panics.
///
/// The hook is called on the stall watchdog's thread for live reports (while the stalled
/// thread is still stuck: do not wait for it), and on the reactor's thread for polls that
/// ended past the threshold. Keep it short. A panic in it is caught (and reported by the panic
/// hook); the report is then lost, nothing else.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static REPORTS: AtomicUsize = AtomicUsize::new(0);
/// ms_reactor::set_stall_hook(Box::new(|report| {
///     REPORTS.fetch_add(1, Ordering::Relaxed);
///     eprintln!("{report}");
/// }));
/// // ... run reactors ...
/// drop(ms_reactor::take_stall_hook());
/// ```
pub fn set_stall_hook(hook: Box<dyn Fn(&StallReport) + Send + Sync>) {
    *HOOK.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(hook));
}

/// Unregisters the stall hook and returns it (the default one, printing to stderr, if none was
/// set); reports go to stderr again.
pub fn take_stall_hook() -> Box<dyn Fn(&StallReport) + Send + Sync> {
    let hook = HOOK.write().unwrap_or_else(|p| p.into_inner()).take();
    match hook {
        Some(hook) => Box::new(move |report| hook(report)),
        None => Box::new(default_hook),
    }
}

fn default_hook(report: &StallReport) {
    eprintln!("{report}");
}

/// Where every stall report goes: the hook, or stderr. A panicking hook is contained (the
/// panic hook has reported it): it must not end the watchdog or the reactor.
pub(crate) fn emit(report: &StallReport) {
    // Cloned out, so a hook may set another without deadlocking.
    let hook = HOOK.read().unwrap_or_else(|p| p.into_inner()).clone();
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| match hook {
        Some(hook) => hook(report),
        None => default_hook(report),
    }));
}

/// Symbolizes captured instruction pointers, dropping the frames of the signal handler that
/// captured them (everything up to its trampoline), when they can be recognised.
pub(crate) fn symbolize(ips: &[usize]) -> Vec<StackFrame> {
    let mut frames = Vec::with_capacity(ips.len());
    // Where each pointer's frames start in `frames`.
    let mut starts = Vec::with_capacity(ips.len());
    // The handler's own frame, if recognised: the kernel's sigreturn trampoline follows it,
    // then the interrupted code.
    let mut handler = None;
    for (i, &ip) in ips.iter().enumerate() {
        starts.push(frames.len());
        let mut any = false;
        backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
            any = true;
            let name = symbol.name().map(|n| format!("{n:#}"));
            if handler.is_none()
                && name
                    .as_deref()
                    .is_some_and(|n| n.ends_with("stall::signal::on_signal"))
            {
                handler = Some(i);
            }
            frames.push(StackFrame {
                ip,
                name,
                file: symbol.filename().map(PathBuf::from),
                line: symbol.lineno(),
            });
        });
        if !any {
            frames.push(StackFrame {
                ip,
                name: None,
                file: None,
                line: None,
            });
        }
    }
    if let Some(&interrupted) = handler.and_then(|i| starts.get(i + 2)) {
        frames.drain(..interrupted);
    }
    frames
}
