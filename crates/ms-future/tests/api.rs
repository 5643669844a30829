//! The public behaviour of promises and futures under a real (minimal) executor.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ms_future::{BrokenPromise, Future, INLINE_DEPTH_BUDGET, promise, ready, when_all, when_any};
use support::Executor;

#[test]
fn await_wakes_the_waiting_task_once() {
    let ex = Executor::default();
    let (p, f) = promise::<u32>();
    let got = Rc::new(Cell::new(None));
    let sink = Rc::clone(&got);
    let id = ex.spawn(async move { sink.set(Some(f.await)) });
    assert!(!ex.is_done(id));
    assert!(ex.pending_wakes().is_empty(), "nobody woke it yet");
    p.set_value(7);
    assert_eq!(ex.pending_wakes(), [id]);
    assert_eq!(ex.run_until_stalled(), 1);
    assert!(ex.is_done(id));
    assert_eq!(got.get(), Some(Ok(7)));
}

#[test]
fn dropped_promise_wakes_with_broken_promise() {
    let ex = Executor::default();
    let (p, f) = promise::<String>();
    let got = Rc::new(RefCell::new(None));
    let sink = Rc::clone(&got);
    let id = ex.spawn(async move { *sink.borrow_mut() = Some(f.await) });
    drop(p);
    ex.run_until_stalled();
    assert!(ex.is_done(id));
    assert_eq!(*got.borrow(), Some(Err(BrokenPromise)));
    assert_eq!(
        BrokenPromise.to_string(),
        "broken promise: dropped without a value"
    );
}

#[test]
fn dropping_the_future_first_makes_set_value_a_no_op_that_drops_the_value() {
    let dropped = Rc::new(Cell::new(false));
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let (p, f) = promise::<Flag>();
    assert!(!p.is_canceled());
    drop(f);
    assert!(p.is_canceled());
    p.set_value(Flag(Rc::clone(&dropped)));
    assert!(dropped.get(), "the value is dropped, not leaked");
}

#[test]
fn a_value_set_before_the_first_poll_is_ready_at_once() {
    let (p, mut f) = promise::<u8>();
    p.set_value(3);
    assert!(f.is_ready());
    assert_eq!(f.try_take(), Some(Ok(3)));
}

#[test]
fn then_on_a_pending_future_runs_when_fulfilled_and_in_order() {
    let ex = Executor::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (p, f) = promise::<u32>();
    let (l1, l2) = (Rc::clone(&log), Rc::clone(&log));
    let chain = f
        .map(move |v| {
            l1.borrow_mut().push(format!("map {v}"));
            v + 1
        })
        .then(move |v| {
            l2.borrow_mut().push(format!("then {v}"));
            ready(v * 10)
        });
    assert!(log.borrow().is_empty(), "nothing runs before the value");
    let out = Rc::new(Cell::new(None));
    let sink = Rc::clone(&out);
    ex.spawn(async move { sink.set(Some(chain.await)) });
    p.set_value(1);
    ex.run_until_stalled();
    assert_eq!(*log.borrow(), ["map 1", "then 2"]);
    assert_eq!(out.get(), Some(Ok(20)));
}

#[test]
fn then_on_a_broken_future_skips_the_continuation() {
    let called = Rc::new(Cell::new(false));
    let flag = Rc::clone(&called);
    let mut f = Future::<u8>::broken().map(move |v| {
        flag.set(true);
        v
    });
    assert_eq!(f.try_take(), Some(Err(BrokenPromise)));
    assert!(!called.get());
}

#[test]
fn ready_chain_runs_inline_before_then_returns() {
    let ran = Rc::new(Cell::new(false));
    let flag = Rc::clone(&ran);
    let f = ready(1).map(move |v| {
        flag.set(true);
        v
    });
    assert!(ran.get(), "ran inline, not on a later poll");
    assert!(f.is_ready());
}

#[test]
fn a_million_nested_ready_continuations_do_not_overflow_the_stack() {
    fn countdown(n: u64, calls: Rc<Cell<u64>>) -> Future<u64> {
        calls.set(calls.get() + 1);
        ready(n).then(move |n| {
            if n == 0 {
                ready(0)
            } else {
                countdown(n - 1, calls)
            }
        })
    }
    // A 1 MiB stack: a million nested frames would need hundreds of MiB if inlining had no
    // budget, so this overflows (aborts the test binary) unless the budget works.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let calls = Rc::new(Cell::new(0));
            let mut f = countdown(1_000_000, Rc::clone(&calls));
            assert!(!f.is_ready(), "past the budget the rest is deferred");
            assert_eq!(f.try_take(), Some(Ok(0)));
            assert_eq!(calls.get(), 1_000_001);
        })
        .unwrap()
        .join()
        .unwrap();
    const { assert!(INLINE_DEPTH_BUDGET >= 16) };
}

#[test]
fn a_million_long_iterative_ready_chain_stays_ready() {
    let mut f = ready(0u64);
    for _ in 0..1_000_000 {
        f = f.map(|v| v + 1);
    }
    assert!(f.is_ready());
    assert_eq!(f.try_take(), Some(Ok(1_000_000)));
}

#[test]
fn and_then_passes_errors_through() {
    let mut ok = ready(Ok::<u32, String>(2)).and_then(|v| ready(Ok(v * 2)));
    assert_eq!(ok.try_take(), Some(Ok(Ok(4))));
    let mut err = ready(Err::<u32, String>("no".into())).and_then(|v| ready(Ok(v * 2)));
    assert_eq!(err.try_take(), Some(Ok(Err("no".to_string()))));
}

#[test]
fn when_all_waits_for_every_future_and_keeps_order() {
    let (p1, f1) = promise::<u8>();
    let (p2, f2) = promise::<&str>();
    let mut both = when_all((f1, f2));
    assert_eq!(both.try_take(), None);
    p2.set_value("two");
    assert_eq!(both.try_take(), None);
    p1.set_value(1);
    assert_eq!(both.try_take(), Some(Ok((1, "two"))));

    let (p, f) = promise::<u8>();
    let mut all = when_all(vec![ready(1), f]);
    drop(p);
    assert_eq!(all.try_take(), Some(Err(BrokenPromise)));

    let mut empty = when_all(Vec::<Future<u8>>::new());
    assert_eq!(empty.try_take(), Some(Ok(vec![])));
}

#[test]
fn when_any_takes_the_first_and_drops_the_rest() {
    let (p1, f1) = promise::<u8>();
    let (p2, f2) = promise::<u8>();
    let mut any = when_any(vec![f1, f2]);
    assert_eq!(any.try_take(), None);
    p2.set_value(2);
    assert_eq!(any.try_take(), Some(Ok((1, 2))));
    assert!(p1.is_canceled());
    assert_eq!(
        when_any(Vec::<Future<u8>>::new()).try_take(),
        Some(Err(BrokenPromise))
    );
    assert_eq!(
        when_any(vec![ready(5), ready(6)]).try_take(),
        Some(Ok((0, 5)))
    );
}

#[test]
fn a_newer_waker_replaces_the_old_one() {
    let ex = Executor::default();
    let (p, f) = promise::<u8>();
    let f = Rc::new(RefCell::new(Some(f)));
    // Task 0 polls the future once, then hands it over to task 1.
    let first = Rc::clone(&f);
    let second = Rc::clone(&f);
    ex.spawn(async move {
        let mut fut = first.borrow_mut().take().unwrap();
        let polled = std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut fut).poll(cx).is_pending());
            std::task::Poll::Ready(())
        });
        polled.await;
        *first.borrow_mut() = Some(fut);
    });
    let id = ex.spawn(async move {
        let fut = second.borrow_mut().take().unwrap();
        assert_eq!(fut.await, Ok(9));
    });
    p.set_value(9);
    assert_eq!(ex.pending_wakes(), [id], "only the latest poller is woken");
    ex.run_until_stalled();
    assert!(ex.is_done(id));
}

#[test]
#[should_panic(expected = "polled after it returned its output")]
fn polling_after_completion_panics_clearly() {
    let mut f = ready(1);
    let _ = f.try_take();
    let _ = f.try_take();
}
