//! Edge cases of the public API: capacity rounding, zero capacity, zero-sized types, drops,
//! abandonment, batch operations at the wrap-around.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};

use ms_spsc::{PopError, PushError, channel};

#[test]
fn capacity_rounding() {
    for (asked, got) in [(1, 1), (2, 2), (3, 4), (5, 8), (1000, 1024), (1024, 1024)] {
        let (tx, rx) = channel::<u8>(asked);
        assert_eq!((tx.capacity(), rx.capacity()), (got, got), "asked {asked}");
    }
}

#[test]
#[should_panic(expected = "spsc capacity overflows usize")]
fn capacity_overflow_panics() {
    let _ = channel::<()>(usize::MAX);
}

#[test]
fn zero_capacity_is_always_full() {
    let (mut tx, mut rx) = channel::<String>(0);
    assert_eq!(tx.capacity(), 0);
    assert!(tx.is_full());
    assert_eq!(
        tx.try_push("kept".into()),
        Err(PushError::Full("kept".into()))
    );
    assert_eq!(tx.push_iter(["a".to_string()].into_iter()), 0);

    assert_eq!(rx.try_pop(), Err(PopError::Empty));
    assert_eq!(rx.peek(), None);
    assert_eq!(rx.drain().count(), 0);
    let (mut tx, mut rx) = channel::<u8>(0);
    assert_eq!(tx.push_slice(b"abc"), 0);
    assert_eq!(rx.pop_slice(&mut [0; 4]), 0);
}

#[test]
fn full_queue_hands_the_value_back() {
    let (mut tx, mut rx) = channel(2);
    tx.try_push(vec![1]).unwrap();
    tx.try_push(vec![2]).unwrap();
    let err = tx.try_push(vec![3]).unwrap_err();
    assert_eq!(format!("{err:?}"), "Full(_)");
    assert_eq!(err.to_string(), "full spsc queue");
    assert_eq!(err.into_inner(), vec![3]);
    assert_eq!(rx.try_pop(), Ok(vec![1]));
    assert_eq!(PopError::Empty.to_string(), "empty spsc queue");
}

#[test]
fn zero_sized_type() {
    let (mut tx, mut rx) = channel::<()>(4);
    for _ in 0..4 {
        tx.try_push(()).unwrap();
    }
    assert!(tx.try_push(()).is_err());
    assert_eq!(rx.len(), 4);
    for _ in 0..1000 {
        rx.try_pop().unwrap();
        tx.try_push(()).unwrap();
    }
    assert_eq!(rx.drain().count(), 4);
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

/// Counts live instances of itself in its own static, so each test uses its own counter.
struct DropCounter<'a>(&'a AtomicUsize);

impl<'a> DropCounter<'a> {
    fn new(live: &'a AtomicUsize) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Self(live)
    }
}

impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::Relaxed);
        assert!(before > 0, "dropped twice");
    }
}

#[test]
fn drops_each_item_exactly_once() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    let (mut tx, mut rx) = channel(8);
    for _ in 0..8 {
        assert!(tx.try_push(DropCounter::new(&LIVE)).is_ok());
    }
    drop(rx.try_pop().unwrap());
    drop(rx.drain().take(2).collect::<Vec<_>>());
    assert_eq!(LIVE.load(Ordering::Relaxed), 5);
    drop(rx);
    assert_eq!(
        LIVE.load(Ordering::Relaxed),
        5,
        "items live until the last handle goes"
    );
    assert!(tx.is_abandoned());
    drop(tx);
    assert_eq!(LIVE.load(Ordering::Relaxed), 0);
}

#[test]
fn non_empty_queue_dropped_producer_last_after_wrapping() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    let (mut tx, mut rx) = channel(4);
    for _ in 0..10 {
        assert!(tx.try_push(DropCounter::new(&LIVE)).is_ok());
        drop(rx.try_pop().unwrap());
    }
    for _ in 0..3 {
        assert!(tx.try_push(DropCounter::new(&LIVE)).is_ok());
    }
    drop(tx);
    drop(rx);
    assert_eq!(LIVE.load(Ordering::Relaxed), 0);
}

#[test]
fn leaked_drain_loses_and_duplicates_nothing() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    let (mut tx, mut rx) = channel(4);
    for _ in 0..4 {
        assert!(tx.try_push(DropCounter::new(&LIVE)).is_ok());
    }
    let mut drain = rx.drain();
    drop(drain.next().unwrap());
    drop(drain.next().unwrap());
    std::mem::forget(drain);
    // The two popped items are gone for good; the rest are still there.
    assert_eq!(rx.len(), 2);
    assert_eq!(LIVE.load(Ordering::Relaxed), 2);
    drop(rx);
    drop(tx);
    assert_eq!(LIVE.load(Ordering::Relaxed), 0);
}

#[test]
fn panicking_iterator_loses_nothing_it_pushed() {
    let (mut tx, mut rx) = channel::<u32>(8);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.push_iter((0..5).map(|i| if i == 3 { panic!("boom") } else { i }));
    }));
    assert!(result.is_err());
    // The three items written before the panic are published by the next operation.
    tx.try_push(99).unwrap();
    assert_eq!(rx.drain().collect::<Vec<_>>(), [0, 1, 2, 99]);
}

#[test]
fn abandonment_is_seen_by_both_sides() {
    let (tx, rx) = channel::<u8>(2);
    assert!(!tx.is_abandoned() && !rx.is_abandoned());
    drop(rx);
    assert!(tx.is_abandoned());

    let (mut tx, mut rx) = channel::<u8>(2);
    tx.try_push(7).unwrap();
    drop(tx);
    assert!(rx.is_abandoned());
    assert_eq!(
        rx.try_pop(),
        Ok(7),
        "items pushed before abandonment are kept"
    );
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
}

#[test]
fn batches_wrap_around_the_ring() {
    let (mut tx, mut rx) = channel::<u16>(8);
    let mut next = 0u16;
    let mut expected = 0u16;
    let mut buf = [0u16; 5];
    for round in 0..100 {
        let values: Vec<u16> = (next..next + 5).collect();
        let pushed = tx.push_slice(&values);
        next += pushed as u16;
        let popped = rx.pop_slice(&mut buf[..(round % 5) + 1]);
        for &v in &buf[..popped] {
            assert_eq!(v, expected);
            expected += 1;
        }
        assert_eq!(rx.len(), (next - expected) as usize);
        assert_eq!(tx.slots(), 8 - rx.len());
    }
}

#[test]
fn debug_output_names_the_state() {
    let (mut tx, rx) = channel::<u8>(2);
    tx.try_push(1).unwrap();
    assert_eq!(
        format!("{tx:?}"),
        "Producer { capacity: 2, len: 1, abandoned: false }"
    );
    assert_eq!(
        format!("{rx:?}"),
        "Consumer { capacity: 2, len: 1, abandoned: false }"
    );
}
