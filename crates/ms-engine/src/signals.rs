//! SIGINT and SIGTERM: an orderly stop of every running engine.
//!
//! The first engine run that handles signals (see
//! [`Builder::ignore_signals`](crate::Builder::ignore_signals)) registers an action for both
//! signals with `signal-hook-registry`, which chains it with any handler the program (or
//! another library) installed before or after: theirs still run. The action only writes one
//! byte to a non-blocking pipe, keeping `errno` as it found it (async-signal-safe); a watcher
//! thread blocked on the pipe then calls `stop` on every engine running at that moment, so
//! their `stopped()` futures resolve, in-flight work finishes, and `run` returns normally. A
//! second signal while stopping does the same again (it cannot kill the process mid-stop). A
//! signal that arrives when no engine runs gets its default action back and is raised again,
//! so it ends the process as usual, unless the program had a handler of its own for it when
//! the action was registered (that handler has run; the process goes on).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once, Weak};

/// The write end of the self-pipe, for the action.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();
/// The signals we handle, and whether each had its default action when we registered ours.
const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];
static DEFAULT_BEFORE: [AtomicBool; 2] = [AtomicBool::new(true), AtomicBool::new(true)];

/// Something that can be stopped: an engine's shared state.
pub(crate) trait Stop: Send + Sync {
    fn stop(&self);
}

/// The engines running now.
static RUNNING: Mutex<Vec<Weak<dyn Stop>>> = Mutex::new(Vec::new());

/// Registers a running engine (and installs the action on first use).
///
/// # Errors
///
/// If the pipe, the watcher thread or the action cannot be set up.
pub(crate) fn register(engine: Weak<dyn Stop>) -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| result = install());
    result?;
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    running.retain(|e| e.strong_count() > 0);
    running.push(engine);
    Ok(())
}

/// A pipe whose write end does not block (an action must never wait), both ends close on
/// exec.
fn self_pipe() -> io::Result<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: fcntl on a descriptor we just opened, with integer arguments only.
    let set = unsafe {
        let flags = libc::fcntl(write_end, libc::F_GETFL);
        flags >= 0 && libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    if !set {
        let error = io::Error::last_os_error();
        // SAFETY: closing the two descriptors we opened and nobody else knows of.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
        return Err(error);
    }
    Ok((read_end, write_end))
}

fn install() -> io::Result<()> {
    let (read_end, write_end) = self_pipe()?;
    PIPE_WRITE.store(write_end, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("ms-signals".into())
        .spawn(move || watch(read_end))?;
    for (signal, default_before) in SIGNALS.into_iter().zip(&DEFAULT_BEFORE) {
        default_before.store(has_default_action(signal)?, Ordering::SeqCst);
        // SAFETY: the action is async-signal-safe: it loads an atomic, calls write(2) and
        // reads and restores errno (see `notify`); it neither allocates nor locks.
        unsafe {
            signal_hook_registry::register(signal, move || {
                notify(PIPE_WRITE.load(Ordering::SeqCst), signal);
            })
        }?;
    }
    Ok(())
}

/// Whether `signal`'s disposition is its default action now.
fn has_default_action(signal: libc::c_int) -> io::Result<bool> {
    // SAFETY: an all-zero sigaction is a valid buffer for sigaction(2) to fill.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(old.sa_sigaction == libc::SIG_DFL)
}

/// The action, in signal context: writes one byte (the signal's number) to `fd` if it is
/// open, without blocking, and leaves `errno` as it found it (the interrupted code may be
/// about to read it).
fn notify(fd: i32, signal: libc::c_int) {
    if fd < 0 {
        return;
    }
    // SAFETY: `__errno_location` returns this thread's errno; reading and writing it is
    // async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; `byte` is one readable byte. The write end does
    // not block: a full pipe (many signals at once) loses nothing that matters, one byte
    // suffices to stop.
    let _ = unsafe { libc::write(fd, std::ptr::from_ref(&byte).cast(), 1) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The watcher thread: on every byte, stops every running engine.
fn watch(read_end: i32) {
    let mut byte = 0u8;
    loop {
        // SAFETY: `byte` is one writable byte; `read_end` is our pipe's read end.
        let n = unsafe { libc::read(read_end, std::ptr::from_mut(&mut byte).cast(), 1) };
        if n == 1 {
            let running: Vec<_> = RUNNING
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            if running.is_empty() {
                no_engine_runs(libc::c_int::from(byte));
            }
            for engine in running {
                engine.stop();
            }
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// `signal` came with no engine to stop: if it had its default action before we registered
/// ours, it gets it back and is raised again (the process ends as usual); if the program had
/// a handler of its own, that handler has run, and that is all.
fn no_engine_runs(signal: libc::c_int) {
    let default_before = SIGNALS
        .iter()
        .zip(&DEFAULT_BEFORE)
        .any(|(&s, default)| s == signal && default.load(Ordering::SeqCst));
    if default_before {
        // SAFETY: restoring the default action of a valid signal number and raising it on
        // this process are plain system calls with no memory arguments. It replaces the
        // registry's handler for good, which is fine: the process ends.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn errno() -> i32 {
        // SAFETY: this thread's errno.
        unsafe { *libc::__errno_location() }
    }

    fn set_errno(value: i32) {
        // SAFETY: this thread's errno.
        unsafe { *libc::__errno_location() = value };
    }

    #[test]
    fn the_action_keeps_errno() {
        let (read_end, write_end) = self_pipe().unwrap();
        // SAFETY: closing our own pipe's read end: writes now fail with EPIPE (Rust's runtime
        // ignores SIGPIPE in every program, the test harness included).
        unsafe { libc::close(read_end) };
        set_errno(libc::EINTR);
        notify(write_end, libc::SIGINT); // the write fails (EPIPE)
        assert_eq!(errno(), libc::EINTR, "the action clobbered errno");
        set_errno(libc::EAGAIN);
        notify(-1, libc::SIGINT);
        assert_eq!(errno(), libc::EAGAIN);
        // SAFETY: closing our own pipe's write end.
        unsafe { libc::close(write_end) };
    }

    #[test]
    fn the_action_never_blocks_on_a_full_pipe() {
        let (read_end, write_end) = self_pipe().unwrap();
        // Far more bytes than a pipe holds (64 KiB by default), none read: a blocking write
        // end would hang here for good.
        for _ in 0..200_000 {
            notify(write_end, libc::SIGTERM);
        }
        // SAFETY: closing our own pipe.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
    }
}
