//! The ready path allocates nothing: counted by a global allocator that wraps the system's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ms_future::{promise, ready, when_all};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to `System` unchanged; the counter is a thread-local `Cell` with a const
// initializer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

#[test]
fn ready_then_map_and_then_allocate_nothing() {
    let (n, out) = allocations_during(|| {
        ready(1u64)
            .map(|v| v + 1)
            .then(|v| ready(v * 3))
            .map(Ok::<u64, ()>)
            .and_then(|v| ready(Ok(v + 1)))
            .try_take()
    });
    assert_eq!(out, Some(Ok(Ok(7))));
    assert_eq!(n, 0, "the ready path allocated");
}

#[test]
fn when_all_of_ready_tuples_allocates_nothing() {
    let (n, out) = allocations_during(|| when_all((ready(1), ready('x'), ready(2.5))).try_take());
    assert_eq!(out, Some(Ok((1, 'x', 2.5))));
    assert_eq!(n, 0);
}

#[test]
fn promise_pairs_come_from_the_pool_after_warm_up() {
    // The first pair takes a chunk from the system for the pool; later ones reuse it.
    for _ in 0..8 {
        let (p, f) = promise::<u64>();
        p.set_value(1);
        drop(f);
    }
    let (n, out) = allocations_during(|| {
        let (p, mut f) = promise::<u64>();
        p.set_value(5);
        f.try_take()
    });
    assert_eq!(out, Some(Ok(5)));
    assert_eq!(n, 0, "the shared state must come from the pool");
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = allocations_during(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert!(n >= 1, "the counting allocator is wired in");
}
