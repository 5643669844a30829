//! Preemption inside a task: the per-poll I/O budget, `need_preempt` and `maybe_yield`. Each
//! test counts how often another task ran while a loop went on; none measures time.

#![cfg(not(loom))]

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ms_reactor::{IO_BUDGET, Reactor, Registration, maybe_yield, need_preempt, spawn, yield_now};

/// A task that counts its runs until `stop` is set.
fn counter(runs: &Rc<Cell<u64>>, stop: &Rc<Cell<bool>>) -> ms_reactor::JoinHandle<()> {
    let (runs, stop) = (Rc::clone(runs), Rc::clone(stop));
    spawn(async move {
        while !stop.get() {
            runs.set(runs.get() + 1);
            yield_now().await;
        }
    })
}

/// A socket that stays readable (nobody reads it) is ready from the cache on every poll: a
/// loop awaiting its readiness never returned `Pending` and held the core for good.
#[test]
fn a_loop_on_cached_readiness_lets_other_tasks_run() {
    const LOOPS: u64 = 100 * IO_BUDGET as u64;
    let reactor = Reactor::new().unwrap();
    let (runs, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let during = reactor.block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.write_all(b"x").unwrap();
        let registration = Registration::new(a).unwrap();
        let (runs, stop) = (Rc::clone(&runs), Rc::clone(&stop));
        spawn(async move {
            // Once readable (the first epoll event), the loop starts, with the counter behind.
            registration.readable().await;
            let counter = counter(&runs, &stop);
            for _ in 0..LOOPS {
                registration.readable().await;
            }
            let during = runs.get();
            stop.set(true);
            counter.await.unwrap();
            drop(b);
            during
        })
        .await
        .unwrap()
    });
    // The looper yields once per budget, and the counter runs once per yield.
    assert!(
        during >= LOOPS / u64::from(IO_BUDGET) - 2,
        "the other task ran {during} times during {LOOPS} ready polls"
    );
}

/// The budget is per poll: spent after `IO_BUDGET` operations, fresh after a yield.
#[test]
fn need_preempt_follows_the_io_budget() {
    let reactor = Reactor::new().unwrap();
    let (runs, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    reactor.block_on(async {
        let counter = counter(&runs, &stop);
        // A task, so that it alternates with the counter (FIFO) one poll each.
        spawn({
            let (runs, stop) = (Rc::clone(&runs), Rc::clone(&stop));
            async move {
                let before = runs.get();
                assert!(!need_preempt());
                for _ in 0..IO_BUDGET {
                    ms_reactor::consume_budget().await;
                }
                assert_eq!(
                    runs.get(),
                    before,
                    "the budget's operations ran in one poll"
                );
                assert!(need_preempt(), "the I/O budget is spent");
                maybe_yield().await;
                assert_eq!(
                    runs.get(),
                    before + 1,
                    "maybe_yield let the other task run once"
                );
                assert!(!need_preempt(), "a new poll, a new budget");
                stop.set(true);
            }
        })
        .await
        .unwrap();
        counter.await.unwrap();
    });
    assert!(!need_preempt(), "outside a reactor");
}

/// A loop of computation that awaits `maybe_yield` on each iteration lets the other tasks run
/// once its poll has used the time quota (zero here, so the count does not depend on the
/// machine's speed: every clock read finds it used).
#[test]
fn maybe_yield_in_a_cpu_loop_lets_other_tasks_run() {
    const ITERATIONS: u64 = 10_000;
    let reactor = Reactor::builder()
        .time_quota(Duration::ZERO)
        .build()
        .unwrap();
    let (runs, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let during = reactor.block_on(reactor.spawn({
        let (runs, stop) = (Rc::clone(&runs), Rc::clone(&stop));
        async move {
            let counter = counter(&runs, &stop);
            let mut sum = 0u64;
            for i in 0..ITERATIONS {
                sum = sum.wrapping_add(std::hint::black_box(i));
                maybe_yield().await;
            }
            assert_eq!(sum, ITERATIONS * (ITERATIONS - 1) / 2);
            let during = runs.get();
            stop.set(true);
            counter.await.unwrap();
            during
        }
    }));
    let during = during.unwrap();
    // With a zero quota, the first check of each poll finds it used: a yield per iteration.
    assert!(
        during >= ITERATIONS - 2,
        "the other task ran {during} times during {ITERATIONS} iterations"
    );
}
