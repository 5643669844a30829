//! SIGINT and SIGTERM: an orderly stop of every running engine.
//!
//! The first engine run installs a handler for both signals. The handler only writes one
//! byte to a pipe (async-signal-safe); a watcher thread blocked on the pipe then calls `stop`
//! on every engine running at that moment, so their `stopped()` futures resolve, in-flight
//! work finishes, and `run` returns normally. A second signal while stopping does the same
//! again (it cannot kill the process mid-stop). A signal that arrives when no engine runs
//! gets its default action back and is raised again, so it ends the process as usual.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once, Weak};

/// The write end of the self-pipe, for the handler.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static INSTALL: Once = Once::new();

/// Something that can be stopped: an engine's shared state.
pub(crate) trait Stop: Send + Sync {
    fn stop(&self);
}

/// The engines running now.
static RUNNING: Mutex<Vec<Weak<dyn Stop>>> = Mutex::new(Vec::new());

/// Registers a running engine (and installs the handler on first use).
///
/// # Errors
///
/// If the pipe, the watcher thread or the handler cannot be set up.
pub(crate) fn register(engine: Weak<dyn Stop>) -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| result = install());
    result?;
    let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
    running.retain(|e| e.strong_count() > 0);
    running.push(engine);
    Ok(())
}

fn install() -> io::Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    PIPE_WRITE.store(write_end, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("ms-signals".into())
        .spawn(move || watch(read_end))?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is valid; we set the handler and an empty mask.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid sigset_t to empty.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is a valid sigaction whose handler is async-signal-safe (it only
        // calls write(2) on a pipe); a null old-action pointer is allowed.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal handler: async-signal-safe, it only writes one byte (the signal's number).
extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is one readable byte. A full pipe
        // (many signals at once) loses nothing that matters: one byte suffices to stop.
        let _ = unsafe { libc::write(fd, std::ptr::from_ref(&byte).cast(), 1) };
    }
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
                // No engine to stop: behave as if we had never handled it.
                let signal = libc::c_int::from(byte);
                // SAFETY: restoring the default action of a valid signal number and raising it
                // on this process are plain system calls with no memory arguments.
                unsafe {
                    libc::signal(signal, libc::SIG_DFL);
                    libc::raise(signal);
                }
            }
            for engine in running {
                engine.stop();
            }
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}
