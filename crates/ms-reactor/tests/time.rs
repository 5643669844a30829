//! Timers through the public API: order, never early, cancellation, reset, timeout, interval.

#![cfg(not(loom))]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ms_reactor::{Elapsed, Reactor, interval, sleep, sleep_until, spawn, timeout};

/// Every timer completes, none before its deadline. (Firing order is proven without a clock
/// by the unit tests of the timer heap; here a slow machine may see deadlines pass before the
/// first poll, which completes a timer at once, so completion order is not asserted.)
#[test]
fn timers_complete_and_never_early() {
    let reactor = Reactor::new().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    reactor.block_on({
        let order = Rc::clone(&order);
        async move {
            let handles: Vec<_> = [7u64, 2, 5, 1, 3]
                .into_iter()
                .map(|ms| {
                    let order = Rc::clone(&order);
                    let deadline = start + Duration::from_millis(ms);
                    spawn(async move {
                        sleep_until(deadline).await;
                        assert!(Instant::now() >= deadline, "fired early");
                        order.borrow_mut().push(ms);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    let mut done = order.borrow().clone();
    done.sort_unstable();
    assert_eq!(done, [1, 2, 3, 5, 7]);
    assert!(reactor.stats().timers_fired <= 5);
}

#[test]
fn cancelled_timers_never_fire() {
    let reactor = Reactor::new().unwrap();
    let deadline = reactor.block_on(async {
        // Register 100 timers far in the future (so registration cannot race the clock), move
        // them to 1 ms from now, then cancel them all by dropping.
        let far = Instant::now() + Duration::from_secs(3600);
        let mut timers: Vec<_> = (0..100).map(|_| sleep_until(far)).collect();
        for timer in &mut timers {
            let polled = std::future::poll_fn(|cx| {
                assert!(std::pin::Pin::new(&mut *timer).poll(cx).is_pending());
                std::task::Poll::Ready(())
            });
            polled.await;
        }
        let deadline = Instant::now() + Duration::from_millis(1);
        for timer in &mut timers {
            timer.reset(deadline);
        }
        drop(timers);
        sleep(Duration::from_millis(5)).await;
        deadline
    });
    assert!(Instant::now() > deadline, "their deadline has passed");
    // Only the final sleep may have fired through the heap (or completed at once).
    assert!(reactor.stats().timers_fired <= 1, "a cancelled timer fired");
}

#[test]
fn reset_moves_the_deadline_later() {
    let reactor = Reactor::new().unwrap();
    let start = Instant::now();
    reactor.block_on(async {
        let mut timer = sleep(Duration::from_millis(1));
        timer.reset(start + Duration::from_millis(6));
        (&mut timer).await;
        assert!(Instant::now() >= start + Duration::from_millis(6));
        assert!(timer.is_elapsed());
    });
}

#[test]
fn timeout_gives_the_output_or_elapsed() {
    let reactor = Reactor::new().unwrap();
    assert_eq!(
        reactor.block_on(timeout(
            Duration::from_millis(1),
            std::future::pending::<()>()
        )),
        Err(Elapsed)
    );
    assert_eq!(
        reactor.block_on(timeout(Duration::from_secs(60), async { 9 })),
        Ok(9)
    );
    assert_eq!(Elapsed.to_string(), "deadline elapsed");
}

#[test]
fn interval_ticks_at_multiples_of_its_period() {
    let reactor = Reactor::new().unwrap();
    let ticks = reactor.block_on(async {
        let mut every = interval(Duration::from_millis(2));
        let mut ticks = Vec::new();
        for _ in 0..3 {
            ticks.push(every.tick().await);
        }
        ticks
    });
    // Ticks are scheduled instants: whole multiples of the period apart (a loaded machine may
    // skip one, never drift).
    let period = Duration::from_millis(2).as_nanos();
    for pair in ticks.windows(2) {
        let gap = (pair[1] - pair[0]).as_nanos();
        assert!(gap >= period && gap % period == 0, "gap of {gap} ns");
    }
}
