//! Regression tests for the findings of the first independent review of ms-future: pending
//! chains as tail calls, side looks that must not steal a task's wake-up, re-entrant waker
//! drops, and dropped futures letting go of their waker.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

use ms_future::{BrokenPromise, Future, Promise, promise, ready};
use support::Executor;

/// A loop written as a continuation returning the next round: each round waits on a pending
/// future. If chains nested one level per round, polling or dropping after 200k rounds would
/// overflow this 256 KiB stack.
#[test]
fn a_recursive_server_loop_runs_in_constant_stack() {
    const ROUNDS: u32 = 200_000;
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            type Inbox = Rc<RefCell<VecDeque<Future<u32>>>>;
            fn serve(inbox: Inbox, seen: Rc<Cell<u32>>) -> Future<u32> {
                let next = inbox.borrow_mut().pop_front().expect("a round is queued");
                next.then(move |v| {
                    seen.set(seen.get() + 1);
                    if v == ROUNDS {
                        ready(v)
                    } else {
                        serve(inbox, seen)
                    }
                })
            }
            let ex = Executor::default();
            let inbox: Inbox = Rc::default();
            let seen = Rc::new(Cell::new(0));
            let (first, future) = promise();
            inbox.borrow_mut().push_back(future);
            let done = Rc::new(Cell::new(None));
            let sink = Rc::clone(&done);
            let server = serve(Rc::clone(&inbox), Rc::clone(&seen));
            ex.spawn(async move { sink.set(Some(server.await)) });
            let mut pending: Promise<u32> = first;
            for round in 1..=ROUNDS {
                let (next, future) = promise();
                inbox.borrow_mut().push_back(future);
                pending.set_value(round);
                pending = next;
                ex.run_until_stalled();
            }
            drop(pending);
            assert_eq!(seen.get(), ROUNDS);
            assert_eq!(done.get(), Some(Ok(ROUNDS)));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn try_take_from_the_side_does_not_steal_the_tasks_wake_up() {
    let ex = Executor::default();
    let (p, f) = promise::<u8>();
    let shared = Rc::new(RefCell::new(f));
    let in_task = Rc::clone(&shared);
    let got = Rc::new(Cell::new(None));
    let sink = Rc::clone(&got);
    let id = ex.spawn(async move {
        let out =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *in_task.borrow_mut()).poll(cx));
        sink.set(Some(out.await));
    });
    // Someone else on this core looks at the future: nothing there yet.
    assert_eq!(shared.borrow_mut().try_take(), None);
    p.set_value(4);
    assert_eq!(
        ex.pending_wakes(),
        [id],
        "the awaiting task is still the one woken"
    );
    ex.run_until_stalled();
    assert_eq!(got.get(), Some(Ok(4)));

    // Through a pending chain too.
    let (p, f) = promise::<u8>();
    let shared = Rc::new(RefCell::new(f.map(|v| v + 1)));
    let in_task = Rc::clone(&shared);
    let id = ex.spawn(async move {
        let out =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *in_task.borrow_mut()).poll(cx));
        assert_eq!(out.await, Ok(6));
    });
    assert_eq!(shared.borrow_mut().try_take(), None);
    p.set_value(5);
    assert_eq!(ex.pending_wakes(), [id]);
    ex.run_until_stalled();
    assert!(ex.is_done(id));
}

/// A waker whose drop drops a promise: the shape of "task X owned the promise, the future
/// moved to task Y, and X went away when its waker was replaced".
fn waker_dropping(promise: Promise<u8>) -> Waker {
    type Slot = RefCell<Option<Promise<u8>>>;
    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is an `Rc<Slot>` leaked by `waker_dropping` or by a previous clone.
        unsafe { Rc::increment_strong_count(data.cast::<Slot>()) };
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn wake(data: *const ()) {
        // SAFETY: as in `clone`; waking by value consumes this handle's count.
        unsafe { drop_waker(data) }
    }
    unsafe fn wake_by_ref(_: *const ()) {}
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: as in `clone`; this handle owns one count.
        let slot = unsafe { Rc::from_raw(data.cast::<Slot>()) };
        if Rc::strong_count(&slot) == 1 {
            // The last handle: the "task" goes, and the promise it owned with it.
            let promise = slot.borrow_mut().take();
            drop(promise);
        }
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
    let data = Rc::into_raw(Rc::new(RefCell::new(Some(promise)))).cast::<()>();
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract for an `Rc<Slot>` (this test
    // is single-threaded: the waker never leaves this thread).
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

#[test]
fn a_waker_dropped_on_replacement_may_break_the_promise() {
    let (p, mut f) = promise::<u8>();
    let first = waker_dropping(p);
    let pinned = std::pin::Pin::new(&mut f);
    assert!(pinned.poll(&mut Context::from_waker(&first)).is_pending());
    drop(first); // the registered clone still owns the promise

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let count = Arc::new(Count(0.into()));
    let second = Waker::from(Arc::clone(&count));
    // Replacing the waker drops the promise (inside the poll): it must resolve as broken and
    // wake the new waker, not panic or lose the outcome.
    let pinned = std::pin::Pin::new(&mut f);
    let first_poll = pinned.poll(&mut Context::from_waker(&second));
    let output = match first_poll {
        Poll::Ready(output) => output,
        Poll::Pending => {
            assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
            f.try_take().expect("resolved by the dropped promise")
        }
    };
    assert_eq!(output, Err(BrokenPromise));
}

#[test]
fn a_dropped_future_lets_go_of_the_waker() {
    struct Nothing;
    impl Wake for Nothing {
        fn wake(self: Arc<Self>) {}
    }
    let task = Arc::new(Nothing);
    let waker = Waker::from(Arc::clone(&task));
    let (p, mut f) = promise::<u8>();
    assert!(
        std::pin::Pin::new(&mut f)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    assert_eq!(
        Arc::strong_count(&task),
        2,
        "the shared state holds the waker"
    );
    drop(f);
    assert_eq!(
        Arc::strong_count(&task),
        1,
        "dropping the future released it"
    );
    assert!(p.is_canceled());
}
