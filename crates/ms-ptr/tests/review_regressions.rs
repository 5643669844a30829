//! Regressions for the independent review of `ms-ptr`: a `Drop` impl that moves an armed value
//! out of its allocation (S1), a `from_ref` pointer that is the last owner and frees the block
//! (S2), and the pinned (`new_counted`) allocation's header word in every shape of value.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use ms_ptr::{LocalPtr, RefCount, RefCounted};

/// Runs `f` on a fresh thread, so its pool statistics are its own, and checks that every pool
/// and system-allocator block it took was given back.
fn on_fresh_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        f();
        let stats = ms_alloc::stats();
        assert_eq!(stats.live(), 0, "a pool block leaked");
        assert_eq!(stats.large_live, 0, "a large block leaked");
    })
    .join()
    .unwrap();
}

/// What an `Evil` saw in its destructors.
#[derive(Default)]
struct Seen {
    /// `Evil::drop` calls.
    drops: Cell<u32>,
    /// `Evil::drop` calls that found the count armed.
    armed_in_drop: Cell<u32>,
    /// Values moved out of their allocation by `Evil::drop`.
    stolen: Cell<u32>,
}

/// The S1 trigger: a destructor that moves its value out of the allocation.
struct Evil {
    rc: RefCount,
    n: u64,
    seen: Rc<Seen>,
    /// Put the moved-out value in a `LocalPtr::new` instead of a `Box`.
    into_local_ptr: bool,
}
ms_ptr::ref_counted!(Evil => rc);

impl Evil {
    fn new(n: u64, seen: &Rc<Seen>, into_local_ptr: bool) -> Evil {
        Evil {
            rc: RefCount::new(),
            n,
            seen: seen.clone(),
            into_local_ptr,
        }
    }
}

impl Drop for Evil {
    fn drop(&mut self) {
        let seen = self.seen.clone();
        seen.drops.set(seen.drops.get() + 1);
        if self.rc.is_armed() {
            seen.armed_in_drop.set(seen.armed_in_drop.get() + 1);
        }
        if self.n == 0 {
            return;
        }
        // Safe code may move the value out through `&mut self`; `n == 0` marks the stand-in.
        let stand_in = Evil::new(0, &seen, false);
        let stolen = std::mem::replace(self, stand_in);
        seen.stolen.set(seen.stolen.get() + 1);
        assert!(!stolen.rc.is_armed(), "an armed count left its allocation");
        let mut stolen = stolen;
        stolen.n = 0; // Its own drop must not steal again.
        if stolen.into_local_ptr {
            let mut p = LocalPtr::new(stolen);
            assert!(LocalPtr::try_from_ref(&*p).is_none());
            // A plain `LocalPtr` may hand out `&mut`, and no `from_ref` pointer can coexist.
            assert!(LocalPtr::get_mut(&mut p).is_some());
            assert!(p.try_local_ptr().is_none());
        } else {
            let boxed = Box::new(stolen);
            assert!(LocalPtr::try_from_ref(&*boxed).is_none());
            let tried = panic::catch_unwind(AssertUnwindSafe(|| {
                std::mem::forget(LocalPtr::from_ref(&*boxed));
            }));
            assert!(
                tried.is_err(),
                "from_ref accepted a value outside a LocalPtr"
            );
        }
    }
}

#[test]
fn a_destructor_that_moves_its_value_out_finds_it_disarmed() {
    for into_local_ptr in [false, true] {
        on_fresh_thread(move || {
            let seen = Rc::new(Seen::default());
            let a = LocalPtr::new_counted(Evil::new(1, &seen, into_local_ptr));
            assert!(a.rc.is_armed());
            let b = a.local_ptr();
            drop(a);
            assert_eq!(seen.drops.get(), 0);
            drop(b);
            assert_eq!(seen.armed_in_drop.get(), 0, "the last drop disarms first");
            assert_eq!(seen.stolen.get(), 1);
            // `Evil::drop` ran on the pinned original, then once on the stolen value wherever
            // it went; the stand-in left in the block only had its fields dropped.
            assert_eq!(seen.drops.get(), 2);
        });
    }
}

#[test]
fn a_moved_out_value_can_be_counted_again() {
    on_fresh_thread(|| {
        thread_local! {
            static MOVED: Cell<Option<LocalPtr<Again>>> = const { Cell::new(None) };
        }
        struct Again {
            rc: RefCount,
            generation: u32,
        }
        ms_ptr::ref_counted!(Again => rc);
        impl Drop for Again {
            fn drop(&mut self) {
                assert!(!self.rc.is_armed());
                if self.generation == 0 {
                    let stand_in = Again {
                        rc: RefCount::new(),
                        generation: u32::MAX,
                    };
                    let mut moved = std::mem::replace(self, stand_in);
                    moved.generation = 1;
                    let p = LocalPtr::new_counted(moved);
                    assert!(p.rc.is_armed());
                    assert!(LocalPtr::ptr_eq(&p, &p.local_ptr()));
                    MOVED.with(|m| m.set(Some(p)));
                }
            }
        }
        drop(LocalPtr::new_counted(Again {
            rc: RefCount::new(),
            generation: 0,
        }));
        let again = MOVED.with(Cell::take).unwrap();
        assert_eq!(again.generation, 1);
        assert_eq!(LocalPtr::strong_count(&again), 1);
        drop(again);
    });
}

/// A counted value that counts its drops and checks it is disarmed in them.
struct Counted<T> {
    before: T,
    rc: RefCount,
    drops: Rc<Cell<u32>>,
}
ms_ptr::ref_counted!([T] Counted<T> => rc);

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        assert!(!self.rc.is_armed(), "armed while being dropped");
        assert!(self.try_local_ptr().is_none());
        self.drops.set(self.drops.get() + 1);
    }
}

fn counted<T>(before: T, drops: &Rc<Cell<u32>>) -> LocalPtr<Counted<T>> {
    LocalPtr::new_counted(Counted {
        before,
        rc: RefCount::new(),
        drops: drops.clone(),
    })
}

/// S2's shape, `let b = a.local_ptr(); drop(a); drop(b);`, for one value.
fn from_ref_pointer_is_the_last_owner<T: PartialEq + std::fmt::Debug + Clone>(before: T) {
    let drops = Rc::new(Cell::new(0));
    let a = counted(before.clone(), &drops);
    let b = a.local_ptr();
    let c = LocalPtr::from_ref(&*b);
    assert!(LocalPtr::ptr_eq(&a, &b) && LocalPtr::ptr_eq(&b, &c));
    assert_eq!(LocalPtr::strong_count(&a), 3);
    drop(a);
    drop(c);
    assert_eq!(drops.get(), 0);
    assert_eq!(b.before, before);
    drop(b);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_from_ref_pointer_can_free_the_block() {
    on_fresh_thread(|| {
        from_ref_pointer_is_the_last_owner(7u8);
        from_ref_pointer_is_the_last_owner(String::from("s2"));
        from_ref_pointer_is_the_last_owner([3u64; 40]);
        // Larger than the largest size class: the system allocator's block.
        from_ref_pointer_is_the_last_owner([1u8; 100_000]);
    });
}

#[test]
fn over_aligned_counted_values_keep_their_header() {
    #[derive(Debug, Clone, PartialEq)]
    #[repr(align(64))]
    struct Line([u8; 64]);
    #[derive(Debug, Clone, PartialEq)]
    #[repr(align(4096))]
    struct Page(u8);
    on_fresh_thread(|| {
        let drops = Rc::new(Cell::new(0));
        let lines: Vec<_> = (0..20u8).map(|i| counted(Line([i; 64]), &drops)).collect();
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(LocalPtr::as_ptr(l) as usize % 64, 0);
            assert_eq!(l.before, Line([i as u8; 64]));
        }
        let again: Vec<_> = lines.iter().map(|l| l.local_ptr()).collect();
        drop(lines);
        assert_eq!(drops.get(), 0);
        drop(again);
        assert_eq!(drops.get(), 20);
        from_ref_pointer_is_the_last_owner(Line([5; 64]));
        from_ref_pointer_is_the_last_owner(Page(6));
    });
}

#[test]
fn a_panicking_destructor_frees_a_counted_block() {
    on_fresh_thread(|| {
        struct Bomb {
            rc: RefCount,
        }
        ms_ptr::ref_counted!(Bomb => rc);
        impl Drop for Bomb {
            fn drop(&mut self) {
                assert!(!self.rc.is_armed());
                panic!("boom");
            }
        }
        let a = LocalPtr::new_counted(Bomb {
            rc: RefCount::new(),
        });
        let b = a.local_ptr();
        drop(a);
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(b))).is_err());
    });
}

#[test]
fn a_count_outside_the_value_panics_before_allocating() {
    on_fresh_thread(|| {
        struct Outside {
            behind: Box<RefCount>,
        }
        // SAFETY: deliberately broken (the count is behind a `Box`, not stored inline), to
        // check that `new_counted` refuses it; the value is never given to `from_ref`.
        unsafe impl RefCounted for Outside {
            fn ref_count(&self) -> &RefCount {
                &self.behind
            }
        }
        let made = panic::catch_unwind(|| {
            drop(LocalPtr::new_counted(Outside {
                behind: Box::new(RefCount::new()),
            }))
        });
        assert!(made.is_err());
        assert_eq!(ms_alloc::stats().live(), 0);
    });
}
