//! The stall detector's system layer: the signal that makes a stuck reactor thread capture its
//! own stack, and the handler that does it.
//!
//! # The signal
//!
//! A real-time signal, picked once per process from the top of the range down
//! (`SIGRTMAX`, `SIGRTMAX - 1`, ...) as the first one nobody handles yet, and installed with
//! `SA_SIGINFO | SA_RESTART` (so system calls it interrupts are restarted where the kernel can).
//! The watchdog sends it to one thread with `tgkill` (a kernel thread id, which unlike a
//! `pthread_t` is harmless to use after the thread is gone).
//!
//! # The handler
//!
//! It serves only signals that this process sent with `tgkill` (`si_code == SI_TKILL`, `si_pid`
//! ours); any other is passed to the handler installed before ours, if it was a function (a
//! default or ignored disposition is not emulated: the signal is dropped). It finds the
//! [`Monitor`] of the reactor running on its thread through a thread-local pointer (set while
//! `block_on` runs), and if the watchdog asked for a capture, walks the stack with
//! [`backtrace::trace_unsynchronized`] into the monitor's preallocated buffer: no allocation,
//! no lock (the unwinder is warmed up once at install, so its first-use set-up does not happen
//! in a handler). It saves and restores `errno`.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use super::monitor::Monitor;
use crate::sync::process::{AtomicI32, OnceLock, Ordering};

thread_local! {
    /// The monitor of the reactor running on this thread (null outside `block_on` and for a
    /// reactor without live detection). `const`-initialised and without a destructor, so a
    /// signal handler can read it (it is a plain `#[thread_local]`).
    static ACTIVE: Cell<*const Monitor> = const { Cell::new(ptr::null()) };
}

/// The handler that was installed before ours, to pass foreign signals on to.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
/// Our process id, as `tgkill` stamps it into `si_pid` (refreshed at each install).
static PID: AtomicI32 = AtomicI32::new(0);

/// Installs the handler once per process; returns the signal, or `None` if none is free or
/// installing failed (then live detection is off, and that was said on stderr once).
pub(crate) fn install() -> Option<libc::c_int> {
    static SIGNAL: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *SIGNAL.get_or_init(|| {
        warm_up();
        match pick_and_install() {
            Ok(signal) => Some(signal),
            Err(e) => {
                eprintln!("ms-reactor: live stall detection is off: {e}");
                None
            }
        }
    })
}

/// Walks this thread's stack once, so that the unwinder's first-use set-up (finding and
/// caching the unwind tables) is done outside any signal handler.
fn warm_up() {
    let mut frames = 0_usize;
    // SAFETY: no other thread unwinds concurrently in a way that matters: libgcc's unwinder,
    // which this uses on Linux, is thread-safe; "unsynchronized" only skips the crate's lock.
    unsafe {
        backtrace::trace_unsynchronized(|_| {
            frames += 1;
            true
        });
    }
    std::hint::black_box(frames);
}

fn pick_and_install() -> std::io::Result<libc::c_int> {
    PID.store(std::process::id() as i32, Ordering::Relaxed);
    let (low, high) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    for signal in (low..=high).rev() {
        // SAFETY: an all-zero sigaction is a valid value to be overwritten.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only queries; `current` is valid and writable.
        if unsafe { libc::sigaction(signal, ptr::null(), &mut current) } != 0 {
            continue; // reserved (under valgrind, say)
        }
        if current.sa_sigaction != libc::SIG_DFL {
            continue; // someone else's
        }
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(_, _, _) as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid, writable sigset.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: as above.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `action` is fully initialised, its handler is async-signal-safe enough (see
        // the module docs) and lives as long as the program; `previous` is writable.
        if unsafe { libc::sigaction(signal, &action, &mut previous) } != 0 {
            continue;
        }
        let _ = PREVIOUS.set(previous);
        return Ok(signal);
    }
    Err(std::io::Error::other(format!(
        "no free real-time signal in {low}..={high}"
    )))
}

/// This thread's kernel id.
pub(crate) fn current_tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Sends `signal` to thread `tid` of this process.
pub(crate) fn send(tid: libc::pid_t, signal: libc::c_int) -> std::io::Result<()> {
    // SAFETY: tgkill takes plain integers; a thread that is gone is an ESRCH error.
    let result = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            std::process::id() as libc::pid_t,
            tid,
            signal,
        )
    };
    if result == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// While alive, `monitor`'s reactor runs on this thread: the handler captures into it.
#[derive(Debug)]
pub(crate) struct Active {
    previous: *const Monitor,
}

impl Active {
    /// Points this thread's handler at `monitor`, which must outlive the returned guard.
    pub(crate) fn enter(monitor: &Monitor) -> Active {
        let previous = ACTIVE.with(|a| a.replace(monitor));
        // The handler runs on this thread: order the store before what follows, for it.
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        Active { previous }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.previous));
        // Before the monitor can be dropped, the handler no longer sees it.
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// The signal handler; see the module docs.
#[inline(never)]
extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: __errno_location returns this thread's errno, valid for the thread's life.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo (null checked anyway).
    let ours = unsafe { info.as_ref() }.is_some_and(|info| {
        // SAFETY: for SI_TKILL the kernel filled the kill fields, si_pid among them.
        info.si_code == libc::SI_TKILL && unsafe { info.si_pid() } == PID.load(Ordering::Relaxed)
    });
    if ours {
        capture_here();
    } else if let Some(previous) = PREVIOUS.get() {
        let handler = previous.sa_sigaction;
        if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous owner installed this as an SA_SIGINFO handler.
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                    unsafe { std::mem::transmute(handler) };
                handler(signal, info, context);
            } else {
                // SAFETY: the previous owner installed this as a plain handler.
                let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
                handler(signal);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Captures this thread's stack into the running reactor's monitor, if it asked for one.
fn capture_here() {
    let monitor = ACTIVE.with(Cell::get);
    // SAFETY: `ACTIVE` is non-null only while an `Active` guard lives on this thread, and its
    // monitor outlives the guard (the handler interrupts this thread, so the guard cannot be
    // dropped while we run).
    let Some(monitor) = (unsafe { monitor.as_ref() }) else {
        return;
    };
    monitor.capture.fill(monitor.current(), |ips| {
        let mut len = 0;
        // SAFETY: the unwinder (libgcc's) is thread-safe and was warmed up at install; the
        // closure only writes into the preallocated buffer.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                ips[len] = frame.ip() as usize;
                len += 1;
                len < ips.len()
            });
        }
        len
    });
}
