//! The public API and its edges: sizes, zero-sized and over-aligned values, large values,
//! pool usage, pinning, the intrusive `from_ref` (and every way it must refuse), drops.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use ms_alloc::Pool;
use ms_ptr::{LocalPtr, RefCount, RefCounted};

#[test]
fn one_word() {
    assert_eq!(size_of::<LocalPtr<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<LocalPtr<u64>>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<LocalPtr<()>>>(), size_of::<usize>());
}

#[test]
fn zero_sized_and_over_aligned_values() {
    let z = LocalPtr::new(());
    let z2 = z.clone();
    assert_eq!(LocalPtr::strong_count(&z2), 2);
    assert_eq!(*z, ());
    #[derive(Debug, PartialEq)]
    #[repr(align(64))]
    struct Line([u8; 64]);
    let lines: Vec<_> = (0..50u8).map(|i| LocalPtr::new(Line([i; 64]))).collect();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(LocalPtr::as_ptr(l) as usize % 64, 0);
        assert_eq!(**l, Line([i as u8; 64]));
    }
    #[repr(align(4096))]
    struct Page(u8);
    let p = LocalPtr::new(Page(3));
    assert_eq!(LocalPtr::as_ptr(&p) as usize % 4096, 0);
    assert_eq!(p.0, 3);
}

#[test]
fn large_values_go_to_the_system_allocator() {
    std::thread::spawn(|| {
        let big = LocalPtr::new([5u8; 100_000]);
        let again = big.clone();
        assert_eq!(ms_alloc::stats().large_live, 1);
        assert!(again.iter().all(|&b| b == 5));
        drop((big, again));
        assert_eq!(ms_alloc::stats().large_live, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn values_live_in_the_pool() {
    std::thread::spawn(|| {
        let before = Pool::<(usize, [u64; 6])>::stats().unwrap();
        let ptrs: Vec<_> = (0..100u64).map(|i| LocalPtr::new([i; 6])).collect();
        let clones: Vec<_> = ptrs.iter().map(LocalPtr::clone).collect();
        let during = Pool::<(usize, [u64; 6])>::stats().unwrap();
        assert_eq!(
            during.live,
            before.live + 100,
            "one block per value, none per clone"
        );
        drop(ptrs);
        drop(clones);
        assert_eq!(
            Pool::<(usize, [u64; 6])>::stats().unwrap().live,
            before.live
        );
    })
    .join()
    .unwrap();
}

#[test]
fn get_mut_try_unwrap_make_mut() {
    let mut a = LocalPtr::new(vec![1]);
    LocalPtr::get_mut(&mut a).unwrap().push(2);
    let b = a.clone();
    assert!(LocalPtr::get_mut(&mut a).is_none());
    let a = LocalPtr::try_unwrap(a).unwrap_err();
    drop(b);
    let mut a = a;
    LocalPtr::make_mut(&mut a).push(3);
    let mut c = a.clone();
    LocalPtr::make_mut(&mut c).push(4);
    assert!(!LocalPtr::ptr_eq(&a, &c));
    assert_eq!(*a, [1, 2, 3]);
    assert_eq!(*c, [1, 2, 3, 4]);
    assert_eq!(LocalPtr::try_unwrap(a).unwrap(), [1, 2, 3]);
}

#[test]
fn traits_forward_to_the_value() {
    let a = LocalPtr::new(String::from("x"));
    assert_eq!(format!("{a} {a:?}"), "x \"x\"");
    assert!(format!("{a:p}").starts_with("0x"));
    assert_eq!(a, LocalPtr::new(String::from("x")));
    assert!(LocalPtr::new(1) < LocalPtr::new(2));
    let d: LocalPtr<u32> = LocalPtr::default();
    assert_eq!(*d, 0);
    let f: LocalPtr<u32> = 4.into();
    assert_eq!(*f.as_ref(), 4);
    let pinned = LocalPtr::pin(5u8);
    assert_eq!(*pinned, 5);
    let pinned2 = pinned.clone();
    assert_eq!(*pinned2, 5);
}

struct Node {
    rc: RefCount,
    name: &'static str,
    drops: Rc<Cell<u32>>,
}
ms_ptr::ref_counted!(Node => rc);

impl Clone for Node {
    fn clone(&self) -> Node {
        Node {
            rc: self.rc.clone(),
            name: self.name,
            drops: self.drops.clone(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        // A value being dropped by its last LocalPtr cannot be revived.
        assert!(self.try_local_ptr().is_none());
    }
}

fn node(name: &'static str, drops: &Rc<Cell<u32>>) -> Node {
    Node {
        rc: RefCount::new(),
        name,
        drops: drops.clone(),
    }
}

#[test]
fn from_ref_recovers_the_pointer() {
    let drops = Rc::new(Cell::new(0));
    let a = LocalPtr::new_counted(node("a", &drops));
    assert!(a.rc.is_armed());
    let r: &Node = &a;
    let b = r.local_ptr();
    let c = LocalPtr::from_ref(r);
    assert!(LocalPtr::ptr_eq(&a, &b) && LocalPtr::ptr_eq(&a, &c));
    assert_eq!(LocalPtr::strong_count(&a), 3);
    drop(a);
    drop(b);
    assert_eq!(drops.get(), 0);
    assert_eq!(c.name, "a");
    drop(c);
    assert_eq!(drops.get(), 1);
}

#[test]
fn from_ref_refuses_values_outside_a_counted_local_ptr() {
    let drops = Rc::new(Cell::new(0));
    let on_stack = node("stack", &drops);
    assert!(LocalPtr::try_from_ref(&on_stack).is_none());
    let boxed = Box::new(node("box", &drops));
    assert!(boxed.try_local_ptr().is_none());
    let plain = LocalPtr::new(node("plain", &drops));
    assert!(
        LocalPtr::try_from_ref(&*plain).is_none(),
        "made by new, not new_counted"
    );
    let counted = LocalPtr::new_counted(node("counted", &drops));
    let copy = (*counted).clone();
    assert!(!copy.rc.is_armed(), "a clone is a new value");
    assert!(copy.try_local_ptr().is_none());
    let result = panic::catch_unwind(AssertUnwindSafe(|| drop(LocalPtr::from_ref(&on_stack))));
    assert!(result.is_err());
    drop((on_stack, boxed, plain, counted, copy));
    assert_eq!(drops.get(), 5);
}

#[test]
fn counted_values_never_move() {
    let drops = Rc::new(Cell::new(0));
    let mut a = LocalPtr::new_counted(node("pinned", &drops));
    let addr = LocalPtr::as_ptr(&a);
    assert!(LocalPtr::get_mut(&mut a).is_none(), "even when unique");
    let Err(a) = LocalPtr::try_unwrap(a) else {
        panic!("a counted value moved out")
    };
    assert_eq!(LocalPtr::as_ptr(&a), addr);
    let mut a = a;
    // make_mut clones into a new, plain allocation.
    LocalPtr::make_mut(&mut a).name = "moved copy";
    assert_ne!(LocalPtr::as_ptr(&a), addr);
    assert!(!a.rc.is_armed());
    assert_eq!(drops.get(), 1, "the pinned original was dropped in place");
    assert!(LocalPtr::get_mut(&mut a).is_some());
}

#[test]
fn generic_and_tuple_structs() {
    struct Pair<T>(T, RefCount);
    ms_ptr::ref_counted!([T] Pair<T> => 1);
    let p = LocalPtr::new_counted(Pair(vec![1u8], RefCount::new()));
    let q = p.local_ptr();
    assert_eq!(q.0, [1]);
    assert_eq!(LocalPtr::strong_count(&p), 2);
    assert_eq!(format!("{:?}", p.1), "RefCount { armed: true }");
}

#[test]
fn a_panicking_drop_still_frees_the_block() {
    std::thread::spawn(|| {
        struct Bomb(#[allow(dead_code)] u64);
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let a = LocalPtr::new(Bomb(1));
        let b = a.clone();
        drop(a);
        assert_eq!(ms_alloc::stats().live(), 1);
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(b))).is_err());
        assert_eq!(ms_alloc::stats().live(), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn values_are_dropped_once_through_raw_round_trips() {
    let drops = Rc::new(Cell::new(0));
    let a = LocalPtr::new_counted(node("raw", &drops));
    let raw = LocalPtr::into_raw(a.clone());
    // SAFETY: from `into_raw` above on this thread, taken back once.
    let b = unsafe { LocalPtr::from_raw(raw) };
    assert_eq!(LocalPtr::strong_count(&b), 2);
    assert!(LocalPtr::ptr_eq(&b.local_ptr(), &a));
    drop((a, b));
    assert_eq!(drops.get(), 1);
}
