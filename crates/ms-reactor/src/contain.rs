//! Containing the user code the reactor runs outside a task's poll: the wakers it wakes (a
//! timer's, an fd's, a [`JoinHandle`](crate::JoinHandle)'s awaiter, which may be any custom
//! waker), the panic payloads it drops, the [pollers](crate::Poller) it drops. A panic there
//! must not unwind through the reactor's loop or its drop: it is caught, reported on stderr,
//! and the reactor goes on.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Waker;

use crate::core::panic_message;

/// Drops a caught panic's payload, whose own `drop` is user code and may panic too: that
/// second panic is caught and its payload leaked (dropping it could panic again, forever).
/// For any code that catches panics of user code and must not unwind itself (ms-engine's
/// mesh does, too).
///
/// # Examples
///
/// ```
/// struct PanicsOnDrop;
///
/// impl Drop for PanicsOnDrop {
///     fn drop(&mut self) {
///         panic!("the payload's own drop");
///     }
/// }
///
/// let payload = std::panic::catch_unwind(|| std::panic::panic_any(PanicsOnDrop)).unwrap_err();
/// ms_reactor::drop_payload(payload); // does not unwind
/// ```
pub fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Runs `f`, user code the reactor calls: a panic is reported as `what`'s and its payload
/// dropped (contained); returns whether `f` returned normally.
pub(crate) fn run(what: &str, f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(payload) => {
            eprintln!("ms-reactor: {what} panicked: {}", panic_message(&*payload));
            drop_payload(payload);
            false
        }
    }
}

/// Wakes `waker` (any custom waker: its `wake` is user code), containing a panic.
pub(crate) fn wake(waker: Waker) {
    run("a waker", move || waker.wake());
}
