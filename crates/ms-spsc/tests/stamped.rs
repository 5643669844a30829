//! The stamped queue: a proptest model against a bounded `VecDeque`, drops, abandonment, and a
//! two-thread run.

#![cfg(not(loom))]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ms_spsc::stamped::channel;
use ms_spsc::{PopError, PushError};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Push(u8),
    PushIter(Vec<u8>),
    Pop,
    Ready(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Push),
        1 => vec(any::<u8>(), 0..20).prop_map(Op::PushIter),
        4 => Just(Op::Pop),
        1 => (0usize..20).prop_map(Op::Ready),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_bounded_vecdeque(ops in vec(op(), 0..256), asked in 0usize..40) {
        let (mut tx, mut rx) = channel::<u8>(asked);
        let cap = tx.capacity();
        prop_assert_eq!(cap, if asked == 0 { 0 } else { asked.next_power_of_two() });
        prop_assert_eq!(rx.capacity(), cap);
        let mut model = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => {
                    let got = tx.try_push(v);
                    if model.len() < cap {
                        prop_assert_eq!(got, Ok(()));
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(got, Err(PushError::Full(v)));
                    }
                }
                Op::PushIter(values) => {
                    let mut iter = values.iter().copied();
                    let n = tx.push_iter(iter.by_ref());
                    prop_assert_eq!(n, values.len().min(cap - model.len()));
                    prop_assert_eq!(iter.next(), values.get(n).copied(), "iterator over-advanced");
                    model.extend(&values[..n]);
                }
                Op::Pop => {
                    let expected = model.pop_front().ok_or(PopError::Empty);
                    prop_assert_eq!(rx.try_pop(), expected);
                }
                Op::Ready(max) => prop_assert_eq!(rx.ready(max), model.len().min(max)),
            }
            prop_assert_eq!(rx.is_empty(), model.is_empty());
        }
    }
}

/// Counts its live instances.
struct Tracked(Arc<AtomicUsize>);

impl Tracked {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(live))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.0.fetch_sub(1, Ordering::Relaxed) > 0, "dropped twice");
    }
}

#[test]
fn items_left_queued_drop_exactly_once_after_wrapping() {
    let live = Arc::new(AtomicUsize::new(0));
    let (mut tx, mut rx) = channel::<Tracked>(4);
    // Several laps, so the items left sit across the ring's end.
    for _ in 0..10 {
        tx.try_push(Tracked::new(&live)).unwrap();
        drop(rx.try_pop().unwrap());
    }
    for _ in 0..3 {
        tx.try_push(Tracked::new(&live)).unwrap();
    }
    drop(rx.try_pop().unwrap());
    assert_eq!(live.load(Ordering::Relaxed), 2);
    drop(tx);
    assert_eq!(
        live.load(Ordering::Relaxed),
        2,
        "the consumer still holds them"
    );
    drop(rx);
    assert_eq!(live.load(Ordering::Relaxed), 0);
}

#[test]
fn zero_capacity_is_always_full_and_empty() {
    let (mut tx, mut rx) = channel::<u32>(0);
    assert_eq!(tx.try_push(1), Err(PushError::Full(1)));
    assert_eq!(tx.push_iter([1, 2].into_iter()), 0);
    assert!(rx.is_empty());
    assert_eq!(rx.ready(5), 0);
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

#[test]
fn abandonment_is_seen_by_both_sides() {
    let (tx, rx) = channel::<u32>(2);
    assert!(!tx.is_abandoned() && !rx.is_abandoned());
    drop(rx);
    assert!(tx.is_abandoned());
    let (tx, rx) = channel::<u32>(2);
    drop(tx);
    assert!(rx.is_abandoned());
}

#[test]
fn two_threads_pass_every_item_in_order() {
    const ITEMS: u64 = 200_000;
    let (mut tx, mut rx) = channel::<[u64; 7]>(64);
    let producer = std::thread::spawn(move || {
        for i in 0..ITEMS {
            let mut item = [i; 7];
            while let Err(full) = tx.try_push(item) {
                item = full.into_inner();
                std::hint::spin_loop();
            }
        }
    });
    let mut next = 0;
    while next < ITEMS {
        match rx.try_pop() {
            Ok(item) => {
                assert_eq!(item, [next; 7], "out of order or torn");
                next += 1;
            }
            Err(PopError::Empty) => std::hint::spin_loop(),
        }
    }
    producer.join().unwrap();
    assert!(rx.is_empty() && rx.is_abandoned());
}

#[test]
fn debug_output_names_the_side() {
    let (tx, rx) = channel::<u8>(2);
    assert!(format!("{tx:?}").contains("stamped::Producer"));
    assert!(format!("{rx:?}").contains("stamped::Consumer"));
}
