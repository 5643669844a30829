//! Regression tests for the findings of the first independent review of ms-reactor.

#![cfg(not(loom))]

use std::time::Duration;

use ms_reactor::{JoinError, Reactor, sleep, spawn, timeout};

/// A nested `block_on` refused inside a task whose panic is caught must leave the outer
/// reactor as the running one (it used to leave a dangling pointer to the inner reactor).
#[test]
fn a_caught_nested_block_on_leaves_the_outer_reactor_running() {
    let outer = Reactor::new().unwrap();
    let (nested, after) = outer.block_on(async {
        let nested = spawn(async {
            let inner = Reactor::new().unwrap();
            inner.block_on(async {});
        })
        .await;
        // Spawning, timers and wakes still reach the outer reactor.
        let after = spawn(async {
            sleep(Duration::from_millis(1)).await;
            7
        })
        .await;
        (nested, after)
    });
    assert!(
        matches!(nested, Err(JoinError::Panicked(m)) if m.contains("inside a running reactor"))
    );
    assert_eq!(after, Ok(7));
    assert_eq!(outer.stats().tasks_panicked, 1);
}

/// A timer polled under one reactor and then awaited under another moves to the second
/// (it used to look its id up in the wrong table).
#[test]
fn a_timer_moves_to_the_reactor_that_polls_it() {
    let first = Reactor::new().unwrap();
    // Registered far in the future (so the first poll is surely pending), then moved close.
    let mut timer = sleep(Duration::from_secs(3600));
    first.block_on(async {
        std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut timer).poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
    });
    timer.reset(std::time::Instant::now() + Duration::from_millis(2));
    let second = Reactor::new().unwrap();
    // An unrelated timer on the second reactor, which must not be confused with ours.
    second.block_on(async {
        let unrelated = spawn(sleep(Duration::from_secs(3600)));
        (&mut timer).await;
        assert!(timer.is_elapsed());
        assert!(!unrelated.is_finished());
        unrelated.abort();
    });
    drop(first);
}

/// Huge durations mean "never", not a panic.
#[test]
fn huge_durations_do_not_overflow() {
    let reactor = Reactor::new().unwrap();
    assert_eq!(reactor.block_on(timeout(Duration::MAX, async { 1 })), Ok(1));
    let timer = sleep(Duration::MAX);
    assert!(timer.deadline() > std::time::Instant::now() + Duration::from_secs(3600));
}
