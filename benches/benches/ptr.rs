//! ms-ptr's `LocalPtr` against `Rc`.
//!
//! - `ptr_new_drop`: make a pointer to a 32-byte value and drop it (the pool against malloc).
//! - `ptr_clone_drop`: clone an existing pointer and drop the clone (a non-atomic increment and
//!   decrement for both).
//! - `ptr_from_ref`: recover a `LocalPtr` from `&T` (intrusive) and drop it, against cloning an
//!   `Rc` one already holds.

#![allow(missing_docs)]

use std::hint::black_box;
use std::rc::Rc;

use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::op_group;
use ms_ptr::{LocalPtr, RefCount, RefCounted};

type Value = [u64; 4];

struct Counted {
    rc: RefCount,
    value: Value,
}
ms_ptr::ref_counted!(Counted => rc);

fn benches(c: &mut Criterion) {
    let mut g = op_group(c, "ptr_new_drop", 3);
    g.bench_function("ms_local_ptr", |b| {
        b.iter(|| drop(black_box(LocalPtr::new(black_box([1u64; 4])))))
    });
    g.bench_function("rc", |b| {
        b.iter(|| drop(black_box(Rc::new(black_box([1u64; 4])))))
    });
    g.finish();

    let mut g = op_group(c, "ptr_clone_drop", 3);
    let local = LocalPtr::new([1u64; 4]);
    let rc = Rc::new([1u64; 4]);
    g.bench_function("ms_local_ptr", |b| {
        b.iter(|| drop(black_box(LocalPtr::clone(black_box(&local)))))
    });
    g.bench_function("rc", |b| {
        b.iter(|| drop(black_box(Rc::clone(black_box(&rc)))))
    });
    g.finish();

    let mut g = op_group(c, "ptr_from_ref", 3);
    let counted = LocalPtr::new_counted(Counted {
        rc: RefCount::new(),
        value: [1; 4],
    });
    let value: &Counted = &counted;
    g.bench_function("ms_local_ptr", |b| {
        b.iter(|| drop(black_box(black_box(value).local_ptr())))
    });
    g.bench_function("rc_clone", |b| {
        b.iter(|| drop(black_box(Rc::clone(black_box(&rc)))))
    });
    g.finish();
    assert_eq!(counted.value, [1; 4]);
}

criterion_group!(ptr, benches);
criterion_main!(ptr);
