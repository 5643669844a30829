//! Panics in user code that the reactor runs outside a task's poll (custom wakers it wakes,
//! the payload of a task's panic, a poller's drop) stay contained: the reactor runs on, or
//! tears down cleanly.

#![cfg(not(loom))]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use ms_reactor::{JoinError, Poller, Reactor, Sleep, sleep, spawn, yield_now};

/// A custom waker whose `wake` panics.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a custom waker panicked in wake");
    }
}

/// Polls `future` once with a [`PanickingWaker`], which it keeps to wake later.
fn poll_with_panicking_waker<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(PanickingWaker));
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// The reactor wakes a timer's waker when it fires: a panicking one used to unwind out of
/// `block_on`.
#[test]
fn a_timers_waker_that_panics_does_not_escape_the_reactor() {
    let reactor = Reactor::new().unwrap();
    let ran_on = catch_unwind(AssertUnwindSafe(|| {
        reactor.block_on(async {
            // An hour ahead: pending at its first poll, however slow the machine; then moved to
            // now, keeping the panicking waker it registered.
            let mut timer = sleep(Duration::from_secs(3600));
            assert!(poll_with_panicking_waker(&mut timer).is_pending());
            timer.reset(std::time::Instant::now());
            // A later deadline fires in the same turn or after, so the panicking waker has been
            // woken by the time this one completes.
            sleep(Duration::from_millis(1)).await;
            drop(timer);
            spawn(async { 7 }).await.unwrap()
        })
    }));
    assert_eq!(ran_on.ok(), Some(7), "the panic escaped the reactor");
}

/// The reactor wakes a join handle's awaiter when the task finishes, outside the task's
/// poll: a panicking waker used to unwind out of `block_on`.
#[test]
fn a_join_handles_waker_that_panics_does_not_escape_the_reactor() {
    let reactor = Reactor::new().unwrap();
    let ran_on = catch_unwind(AssertUnwindSafe(|| {
        reactor.block_on(async {
            let mut handle = spawn(async {
                yield_now().await;
                5
            });
            assert!(poll_with_panicking_waker(&mut handle).is_pending());
            while !handle.is_finished() {
                yield_now().await;
            }
            handle.await.unwrap()
        })
    }));
    assert_eq!(ran_on.ok(), Some(5), "the panic escaped the reactor");
}

/// A panic payload whose own drop panics, with a payload whose drop panics too. Both are
/// zero-sized, so the payloads the reactor leaks (it cannot drop them) allocate nothing, and
/// valgrind sees no leak.
struct PanicsOnDrop;

/// The payload of [`PanicsOnDrop`]'s drop.
struct PanicsOnDropToo;

/// The payload of [`PanicsOnDropToo`]'s drop.
struct Last;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        std::panic::panic_any(PanicsOnDropToo);
    }
}

impl Drop for PanicsOnDropToo {
    fn drop(&mut self) {
        std::panic::panic_any(Last);
    }
}

/// The reactor drops a task's panic payload after reporting it: its drop used to unwind out
/// of `block_on`.
#[test]
fn a_panic_payload_whose_drop_panics_does_not_escape_the_reactor() {
    let reactor = Reactor::new().unwrap();
    let ran_on = catch_unwind(AssertUnwindSafe(|| {
        reactor.block_on(async {
            let panicked = spawn(async { std::panic::panic_any(PanicsOnDrop) }).await;
            let after = spawn(async { 3 }).await;
            (panicked, after)
        })
    }));
    let (panicked, after) = match ran_on {
        Ok(ran_on) => ran_on,
        Err(escaped) => {
            // Its drop would panic again: keep the test's own failure readable.
            std::mem::forget(escaped);
            panic!("the payload's drop escaped the reactor");
        }
    };
    assert!(
        matches!(panicked, Err(JoinError::Panicked(_))),
        "{panicked:?}"
    );
    assert_eq!(after, Ok(3));
    assert_eq!(reactor.stats().tasks_panicked, 1);
}

/// A poller whose drop panics.
struct PanicsWhenDropped;

impl Poller for PanicsWhenDropped {
    fn poll(&mut self) -> bool {
        false
    }
    fn try_sleep(&mut self) -> Sleep {
        Sleep::Allowed
    }
    fn woke(&mut self) {}
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("a poller panicked in drop");
    }
}

/// The reactor drops its pollers when it is dropped: a panicking one used to unwind out of
/// the reactor's drop (leaving the rest of its teardown to the unwinding).
#[test]
fn a_pollers_drop_that_panics_does_not_escape_the_reactors_drop() {
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async { ms_reactor::add_poller(PanicsWhenDropped) });
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(reactor)));
    assert!(
        dropped.is_ok(),
        "the poller's panic escaped the reactor's drop"
    );
    // The thread's next reactor works.
    assert_eq!(Reactor::new().unwrap().block_on(async { 1 }), 1);
}
