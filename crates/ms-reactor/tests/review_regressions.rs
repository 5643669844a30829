//! Regression tests for the findings of the first independent review of ms-reactor.

#![cfg(not(loom))]

use std::time::Duration;

use ms_reactor::{JoinError, Reactor, sleep, spawn, timeout, yield_now};

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

/// A pinned future is dropped where it was polled, when it finishes and when it is aborted
/// (the task used to move it out of its block first, breaking `Pin`'s drop guarantee).
#[test]
fn a_task_future_is_dropped_in_place() {
    use std::cell::Cell;
    use std::marker::PhantomPinned;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    /// Records its address at its first poll; its drop checks it is still there.
    struct Anchored {
        polled_at: Cell<usize>,
        finish: bool,
        drops_in_place: Rc<Cell<u32>>,
        _pin: PhantomPinned,
    }
    impl std::future::Future for Anchored {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polled_at.set(std::ptr::from_ref(&*self).addr());
            if self.finish {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
    impl Drop for Anchored {
        fn drop(&mut self) {
            if self.polled_at.get() == std::ptr::from_ref(&*self).addr() {
                self.drops_in_place.set(self.drops_in_place.get() + 1);
            }
        }
    }
    let in_place = Rc::new(Cell::new(0));
    let anchored = |finish| Anchored {
        polled_at: Cell::new(0),
        finish,
        drops_in_place: Rc::clone(&in_place),
        _pin: PhantomPinned,
    };
    let reactor = Reactor::new().unwrap();
    reactor.block_on(async {
        spawn(anchored(true)).await.unwrap();
        let pending = spawn(anchored(false));
        yield_now().await;
        pending.abort();
        assert_eq!(pending.await, Err(JoinError::Cancelled));
    });
    assert_eq!(in_place.get(), 2, "both dropped where they were polled");
}
