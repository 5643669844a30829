//! The fast paths of `poll`, `then` and `drop`: a ready future, and a waiting one whose promise
//! resolved it and went away (its shared state is unwrapped without the cells' round trips).
//! Each must behave exactly as the general path does.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use ms_future::{BrokenPromise, Future, promise, ready};

/// Counts its drops.
struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_fulfilled_future_whose_promise_is_gone_polls_ready_once() {
    let drops = Rc::new(Cell::new(0));
    let (p, mut f) = promise::<Counted>();
    p.set_value(Counted(Rc::clone(&drops)));
    assert!(f.is_ready());
    let out = f.try_take().expect("resolved").expect("a value");
    assert_eq!(drops.get(), 0, "the value is moved out, not dropped");
    drop(out);
    assert_eq!(drops.get(), 1);
    assert!(format!("{f:?}").contains("done"));
    let again = catch_unwind(AssertUnwindSafe(|| f.try_take()));
    assert!(again.is_err(), "polling after the output was taken panics");
    drop(f);
    assert_eq!(drops.get(), 1, "dropped exactly once");
}

#[test]
fn a_broken_future_whose_promise_is_gone_polls_broken() {
    let (p, mut f) = promise::<u8>();
    drop(p);
    assert_eq!(f.try_take(), Some(Err(BrokenPromise)));
}

#[test]
fn the_waker_of_a_pending_poll_is_woken_then_released_by_the_fast_path() {
    let count = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let (p, mut f) = promise::<u8>();
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut f).poll(&mut cx).is_pending());
    assert_eq!(
        Arc::strong_count(&count),
        3,
        "the shared state holds a clone"
    );
    p.set_value(9);
    assert_eq!(count.0.load(Ordering::Relaxed), 1, "woken once");
    assert_eq!(Arc::strong_count(&count), 2, "waking consumed the clone");
    assert_eq!(std::pin::Pin::new(&mut f).poll(&mut cx), Poll::Ready(Ok(9)));
    drop(waker);
    assert_eq!(Arc::strong_count(&count), 1);
}

#[test]
fn then_on_a_fulfilled_future_whose_promise_is_gone_runs_inline() {
    let (p, f) = promise::<u32>();
    p.set_value(20);
    let ran = Rc::new(Cell::new(false));
    let flag = Rc::clone(&ran);
    let mut g = f.then(move |v| {
        flag.set(true);
        ready(v + 1)
    });
    assert!(ran.get(), "ran inline");
    assert_eq!(g.try_take(), Some(Ok(21)));

    let (p, f) = promise::<u32>();
    drop(p);
    let mut g = f.map(|v| v + 1);
    assert_eq!(g.try_take(), Some(Err(BrokenPromise)));
}

#[test]
fn ready_values_that_own_something_are_dropped_once() {
    let drops = Rc::new(Cell::new(0));
    let f = ready(Counted(Rc::clone(&drops)));
    drop(f);
    assert_eq!(drops.get(), 1);
    let f = ready(Counted(Rc::clone(&drops))).map(|c| (c, 1));
    assert_eq!(drops.get(), 1);
    drop(f);
    assert_eq!(drops.get(), 2);
    let mut f = ready(Counted(Rc::clone(&drops)));
    let out = f.try_take();
    assert_eq!(drops.get(), 2);
    drop(f);
    drop(out);
    assert_eq!(drops.get(), 3);
}

#[test]
fn a_panicking_step_leaves_the_future_in_its_state() {
    let mut f: Future<u8> = Future::from_async(async { panic!("boom") });
    let first = catch_unwind(AssertUnwindSafe(|| f.try_take()));
    assert!(first.is_err());
    assert!(
        format!("{f:?}").contains("chained"),
        "the step is put back, as it was before the poll: {f:?}"
    );
}

#[test]
fn dropping_a_waiting_future_releases_its_state_and_waker() {
    let count = Arc::new(CountWakes(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let drops = Rc::new(Cell::new(0));
    let (p, mut f) = promise::<Counted>();
    assert!(
        std::pin::Pin::new(&mut f)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(f);
    assert_eq!(Arc::strong_count(&count), 2, "the waker was released");
    assert!(p.is_canceled());
    p.set_value(Counted(Rc::clone(&drops)));
    assert_eq!(drops.get(), 1, "the value is dropped by set_value");
    assert_eq!(count.0.load(Ordering::Relaxed), 0, "nobody was woken");
}
