//! Thread exit with live blocks: the rule of the crate docs ("Thread exit"). Blocks that outlive
//! their thread's pool are freed later in the same thread's teardown, by another thread-local's
//! destructor; allocations made after the teardown get orphan chunks. Nothing crashes, and under
//! valgrind nothing leaks or is touched after it was freed.
//!
//! Thread-local destructors run in an order std does not specify, so each holder hands what it
//! holds to the next holder (registered later) for as long as the pool is still alive; one of
//! them is guaranteed to see the pool torn down.

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Mutex;

use ms_alloc::{PoolBox, PoolState};

/// What a holder keeps across the pool's teardown.
struct Kept {
    boxes: Vec<PoolBox<[u64; 8]>>,
    block: (NonNull<u8>, Layout),
}

struct Holder {
    slot: RefCell<Option<Kept>>,
    depth: usize,
}

/// What the destructors saw, for the test to check after the thread is joined.
static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn event(e: String) {
    EVENTS.lock().unwrap().push(e);
}

thread_local! {
    static H0: Holder = const { Holder { slot: RefCell::new(None), depth: 0 } };
    static H1: Holder = const { Holder { slot: RefCell::new(None), depth: 1 } };
    static H2: Holder = const { Holder { slot: RefCell::new(None), depth: 2 } };
    static H3: Holder = const { Holder { slot: RefCell::new(None), depth: 3 } };
}

fn holder(depth: usize) -> &'static std::thread::LocalKey<Holder> {
    [&H0, &H1, &H2, &H3][depth]
}

impl Drop for Holder {
    fn drop(&mut self) {
        let Some(kept) = self.slot.take() else { return };
        let state = ms_alloc::pool_state();
        if state == PoolState::Active && self.depth < 3 {
            // The pool is still alive: hand over to a holder whose destructor runs later.
            let mut kept = Some(kept);
            let _ = holder(self.depth + 1).try_with(|h| *h.slot.borrow_mut() = kept.take());
            if kept.is_none() {
                event(format!("depth {}: pool alive, handed over", self.depth));
                return;
            }
            drop(kept);
            event(format!(
                "depth {}: freed while the pool was alive",
                self.depth
            ));
            return;
        }
        // The pool is gone: free into orphan chunks, then allocate and free again.
        for (i, b) in kept.boxes.iter().enumerate() {
            assert_eq!(**b, [i as u64; 8], "contents survived the teardown");
        }
        drop(kept.boxes);
        let (ptr, layout) = kept.block;
        // SAFETY: allocated on this thread with this layout, freed once.
        unsafe {
            assert!(
                std::slice::from_raw_parts(ptr.as_ptr(), layout.size())
                    .iter()
                    .all(|&b| b == 0x5A)
            );
            ms_alloc::deallocate(ptr, layout);
        }
        let late = PoolBox::new([9u64; 8]);
        let late2 = PoolBox::new(String::from("late"));
        assert_eq!(*late, [9; 8]);
        assert_eq!(*late2, "late");
        drop(late);
        drop(late2);
        let block = ms_alloc::allocate(Layout::from_size_align(3000, 8).unwrap());
        // SAFETY: from `allocate` with this layout, on this thread, freed once.
        unsafe { ms_alloc::deallocate(block.cast(), Layout::from_size_align(3000, 8).unwrap()) };
        event(format!(
            "depth {}: freed after teardown ({state:?})",
            self.depth
        ));
    }
}

#[test]
fn blocks_that_outlive_the_pool_are_freed_without_harm() {
    std::thread::spawn(|| {
        // Register the first holder before the pool exists.
        H0.with(|_| ());
        assert_eq!(ms_alloc::pool_state(), PoolState::Unused);
        let boxes: Vec<_> = (0..200u64).map(|i| PoolBox::new([i; 8])).collect();
        let layout = Layout::from_size_align(500, 16).unwrap();
        let block = ms_alloc::allocate(layout).cast::<u8>();
        // SAFETY: a fresh block of at least 500 bytes.
        unsafe { block.as_ptr().write_bytes(0x5A, 500) };
        // Some blocks of the same chunks are freed before exit, some after.
        let short: Vec<_> = (0..50u64).map(PoolBox::new).collect();
        assert_eq!(ms_alloc::pool_state(), PoolState::Active);
        H0.with(|h| {
            *h.slot.borrow_mut() = Some(Kept {
                boxes,
                block: (block, layout),
            })
        });
        drop(short);
    })
    .join()
    .expect("thread panicked");
    let events = EVENTS.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("freed after teardown (Destroyed)")),
        "no destructor ran after the pool's: {events:?}"
    );
}

#[test]
fn a_thread_that_frees_everything_leaves_nothing() {
    // Under valgrind this shows no leak: the pool gives every chunk back at teardown.
    std::thread::spawn(|| {
        let v: Vec<_> = (0..10_000u32).map(PoolBox::new).collect();
        let s = ms_alloc::stats();
        assert_eq!(s.live(), 10_000);
        drop(v);
        assert_eq!(ms_alloc::stats().live(), 0);
    })
    .join()
    .unwrap();
}
