//! The executor: spawning, joining, aborting, panics, fairness and statistics.

#![cfg(not(loom))]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ms_reactor::{JoinError, Reactor, spawn, yield_now};

#[test]
fn a_hundred_thousand_tasks_all_complete() {
    let reactor = Reactor::new().unwrap();
    let done = Rc::new(Cell::new(0u64));
    let sum = reactor.block_on({
        let done = Rc::clone(&done);
        async move {
            let handles: Vec<_> = (0..100_000u64)
                .map(|i| {
                    let done = Rc::clone(&done);
                    spawn(async move {
                        done.set(done.get() + 1);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        }
    });
    assert_eq!(done.get(), 100_000);
    assert_eq!(sum, 100_000 * 99_999 / 2);
    assert_eq!(reactor.live_tasks(), 0);
    let stats = reactor.stats();
    assert_eq!(stats.tasks_spawned, 100_000);
    assert!(stats.tasks_polled >= 100_000);
}

#[test]
fn tasks_run_in_fifo_order_and_yield_to_each_other() {
    let reactor = Reactor::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    reactor.block_on({
        let log = Rc::clone(&log);
        async move {
            let handles: Vec<_> = (0..3)
                .map(|id| {
                    let log = Rc::clone(&log);
                    spawn(async move {
                        for step in 0..2 {
                            log.borrow_mut().push((id, step));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    assert_eq!(
        *log.borrow(),
        [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    );
}

#[test]
fn a_panicking_task_is_contained_and_the_reactor_runs_on() {
    let reactor = Reactor::new().unwrap();
    let (bad, good) = reactor.block_on(async {
        let bad = spawn(async {
            yield_now().await;
            panic!("boom in a task");
        });
        let good = spawn(async { "still fine" });
        (bad.await, good.await)
    });
    assert_eq!(bad, Err(JoinError::Panicked("boom in a task".into())));
    assert_eq!(good, Ok("still fine"));
    assert_eq!(reactor.stats().tasks_panicked, 1);
    assert_eq!(reactor.block_on(async { spawn(async { 5 }).await }), Ok(5));
}

#[test]
fn abort_cancels_a_pending_task_and_drops_it() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let reactor = Reactor::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let result = reactor.block_on({
        let dropped = Rc::clone(&dropped);
        async move {
            let flag = Flag(dropped);
            let handle = spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            });
            yield_now().await;
            assert!(!handle.is_finished());
            handle.abort();
            handle.await
        }
    });
    assert_eq!(result, Err(JoinError::Cancelled));
    assert!(dropped.get(), "the aborted task's state was dropped");
    assert_eq!(reactor.live_tasks(), 0);
}

#[test]
fn a_task_may_abort_itself() {
    let reactor = Reactor::new().unwrap();
    let slot: Rc<RefCell<Option<ms_reactor::JoinHandle<()>>>> = Rc::default();
    let ran_after = Rc::new(Cell::new(false));
    let handle = reactor.spawn({
        let slot = Rc::clone(&slot);
        let ran_after = Rc::clone(&ran_after);
        async move {
            yield_now().await;
            if let Some(me) = slot.borrow().as_ref() {
                me.abort();
            }
            yield_now().await;
            ran_after.set(true);
        }
    });
    // Hand the task its own handle; on its second poll it aborts itself.
    *slot.borrow_mut() = Some(handle);
    reactor.block_on(async {
        for _ in 0..4 {
            yield_now().await;
        }
    });
    assert!(
        !ran_after.get(),
        "aborted during its own poll: never polled again"
    );
    assert_eq!(reactor.live_tasks(), 0);
}

#[test]
fn detached_tasks_run_to_completion() {
    let reactor = Reactor::new().unwrap();
    let done = Rc::new(Cell::new(false));
    let flag = Rc::clone(&done);
    drop(reactor.spawn(async move {
        yield_now().await;
        flag.set(true);
    }));
    // The detached task keeps running while the main future yields to it.
    reactor.block_on(async {
        for _ in 0..5 {
            yield_now().await;
        }
    });
    assert!(done.get());
    assert_eq!(reactor.live_tasks(), 0);
}

#[test]
fn a_busy_yielding_task_cannot_starve_a_timer() {
    // The spinner yields forever; if the reactor never got back to its timers, it would hit its
    // limit first. Counted, not timed.
    const LIMIT: u64 = 50_000_000;
    let reactor = Reactor::new().unwrap();
    let spins = Rc::new(Cell::new(0u64));
    let spinner = reactor.spawn({
        let spins = Rc::clone(&spins);
        async move {
            while spins.get() < LIMIT {
                spins.set(spins.get() + 1);
                yield_now().await;
            }
        }
    });
    reactor.block_on(ms_reactor::sleep(Duration::from_millis(2)));
    assert!(
        spins.get() < LIMIT,
        "the timer fired while the spinner was still spinning"
    );
    spinner.abort();
    reactor.block_on(async {});
}

#[test]
#[should_panic(expected = "block_on called inside a running reactor")]
fn nested_block_on_is_refused() {
    let reactor = Reactor::new().unwrap();
    let inner = Reactor::new().unwrap();
    reactor.block_on(async { inner.block_on(async {}) });
}

#[test]
#[should_panic(expected = "outside a running reactor")]
fn spawn_outside_a_reactor_panics_clearly() {
    drop(spawn(async {}));
}

#[test]
fn dropping_the_reactor_cancels_its_tasks() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.spawn(std::future::pending::<u8>());
    reactor.block_on(yield_now());
    drop(reactor);
    let other = Reactor::new().unwrap();
    assert_eq!(other.block_on(handle), Err(JoinError::Cancelled));
}

#[test]
fn a_poll_that_holds_the_thread_is_counted_as_a_stall() {
    // The task blocks the thread for 60 ms, three times the threshold: whatever the coarse
    // clock's resolution (a few ms), the poll is measured above it.
    let reactor = Reactor::builder()
        .stall_threshold(Duration::from_millis(20))
        .build()
        .unwrap();
    reactor.block_on(async {
        spawn(async { std::thread::sleep(Duration::from_millis(60)) })
            .await
            .unwrap();
    });
    assert!(reactor.stats().stalls >= 1);
}

#[test]
fn aborting_outside_the_reactor_frees_the_task_at_once() {
    let reactor = Reactor::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let flag = Flag(Rc::clone(&dropped));
    let handle = reactor.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    reactor.block_on(yield_now());
    assert_eq!(reactor.live_tasks(), 1);
    // Neither this reactor nor any other runs now.
    handle.abort();
    assert!(dropped.get(), "the future was dropped by the abort");
    assert_eq!(reactor.live_tasks(), 0, "and its slot freed");
    assert!(handle.is_finished());
    assert_eq!(reactor.block_on(handle), Err(JoinError::Cancelled));
}

/// Both spawns name the caller's line: `#[track_caller]` used to stop at the closure inside
/// `ms_reactor::spawn`, so every task it spawned was reported as spawned in lib.rs.
#[test]
fn a_task_is_reported_where_the_user_spawned_it() {
    let reactor = Reactor::new().unwrap();
    let (line, handle) = (line!(), reactor.spawn(async {}));
    assert_eq!(
        (handle.spawned_at().file(), handle.spawned_at().line()),
        (file!(), line)
    );
    let (free, line) = reactor.block_on(async {
        let (line, handle) = (line!(), spawn(async {}));
        let at = handle.spawned_at();
        handle.await.unwrap();
        ((at.file(), at.line()), line)
    });
    assert_eq!(free, (file!(), line), "the free fn's caller");
    drop(handle);
}
