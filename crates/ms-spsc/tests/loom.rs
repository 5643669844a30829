//! loom models of the SPSC protocol: every interleaving of a producer and a consumer thread
//! (up to `LOOM_MAX_PREEMPTIONS` preemptions) on a queue of one or two slots.
//!
//! The library is built against loom's atomics and `UnsafeCell` (see `src/sync.rs`), so a slot
//! read that is not ordered after its write by the Release/Acquire pairs is reported as a
//! causality violation, not silently passed.
//!
//! Run: `cargo xtask loom ms-spsc`.

#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

use loom::thread;
use ms_spsc::{Consumer, Producer, channel};

/// Pushes each of `items`, yielding to the other thread while the queue is full.
fn push_all(tx: &mut Producer<u32>, items: impl IntoIterator<Item = u32>) {
    for item in items {
        let mut item = item;
        while let Err(full) = tx.try_push(item) {
            item = full.into_inner();
            thread::yield_now();
        }
    }
}

/// Pops `n` items, yielding while the queue is empty.
fn pop_n(rx: &mut Consumer<u32>, n: usize) -> Vec<u32> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match rx.try_pop() {
            Ok(v) => got.push(v),
            Err(_) => thread::yield_now(),
        }
    }
    got
}

#[test]
fn fifo_without_loss_or_duplicates() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2, 3]));
        assert_eq!(pop_n(&mut rx, 3), [1, 2, 3]);
        producer.join().unwrap();
        assert!(rx.try_pop().is_err());
    });
}

#[test]
fn pop_never_reads_uninit_slot() {
    // One slot, reused every push: the tightest hand-off in both directions.
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(1);
        let producer = thread::spawn(move || push_all(&mut tx, [10, 20]));
        assert_eq!(pop_n(&mut rx, 2), [10, 20]);
        producer.join().unwrap();
    });
}

#[test]
fn batches_without_loss_or_duplicates() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(2);
        let producer = thread::spawn(move || {
            let items = [1, 2, 3];
            let mut sent = 0;
            while sent < items.len() {
                let n = tx.push_slice(&items[sent..]);
                if n == 0 {
                    thread::yield_now();
                }
                sent += n;
            }
        });
        let mut got = Vec::new();
        let mut buf = [0; 2];
        while got.len() < 3 {
            let n = rx.pop_slice(&mut buf);
            if n == 0 {
                thread::yield_now();
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [1, 2, 3]);
        producer.join().unwrap();
    });
}

/// Counts live instances in a counter that the model owns.
struct Tracked(StdArc<StdAtomicUsize>);

impl Tracked {
    fn new(live: &StdArc<StdAtomicUsize>) -> Self {
        live.fetch_add(1, Relaxed);
        Self(StdArc::clone(live))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.0.fetch_sub(1, Relaxed) > 0, "dropped twice");
    }
}

#[test]
fn queued_items_drop_exactly_once() {
    loom::model(|| {
        let live = StdArc::new(StdAtomicUsize::new(0));
        let (mut tx, mut rx) = channel::<Tracked>(2);
        let for_producer = StdArc::clone(&live);
        let producer = thread::spawn(move || {
            // Whichever side drops last frees what is still queued.
            for _ in 0..2 {
                if tx.try_push(Tracked::new(&for_producer)).is_err() {
                    break;
                }
            }
        });
        let _ = rx.try_pop();
        drop(rx);
        producer.join().unwrap();
        assert_eq!(live.load(Relaxed), 0, "an item leaked or was dropped twice");
    });
}

#[test]
fn abandonment_is_seen_after_every_item() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2]));
        let mut got = Vec::new();
        loop {
            // Once the flag is seen, the items still queued are all there is.
            let finished = rx.is_abandoned();
            got.extend(rx.drain());
            if finished {
                break;
            }
            thread::yield_now();
        }
        assert_eq!(got, [1, 2]);
        producer.join().unwrap();
    });
}

#[test]
fn producer_sees_consumer_abandon() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>(1);
        let consumer = thread::spawn(move || drop(rx));
        consumer.join().unwrap();
        assert!(tx.is_abandoned());
    });
}
