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
use ms_spsc::{Consumer, PopError, Producer, PushError, channel, stamped};

/// The sending half of either queue.
trait Send32 {
    fn push(&mut self, item: u32) -> Result<(), PushError<u32>>;
}

/// The receiving half of either queue.
trait Receive32 {
    fn pop(&mut self) -> Result<u32, PopError>;
    /// Takes every item ready now.
    fn take_ready(&mut self) -> Vec<u32>;
    fn abandoned(&self) -> bool;
}

impl Send32 for Producer<u32> {
    fn push(&mut self, item: u32) -> Result<(), PushError<u32>> {
        self.try_push(item)
    }
}

impl Send32 for stamped::Producer<u32> {
    fn push(&mut self, item: u32) -> Result<(), PushError<u32>> {
        self.try_push(item)
    }
}

impl Receive32 for Consumer<u32> {
    fn pop(&mut self) -> Result<u32, PopError> {
        self.try_pop()
    }
    fn take_ready(&mut self) -> Vec<u32> {
        self.drain().collect()
    }
    fn abandoned(&self) -> bool {
        self.is_abandoned()
    }
}

impl Receive32 for stamped::Consumer<u32> {
    fn pop(&mut self) -> Result<u32, PopError> {
        self.try_pop()
    }
    fn take_ready(&mut self) -> Vec<u32> {
        (0..self.ready(usize::MAX))
            .map(|_| self.try_pop().expect("counted ready"))
            .collect()
    }
    fn abandoned(&self) -> bool {
        self.is_abandoned()
    }
}

/// Pushes each of `items`, yielding to the other thread while the queue is full.
fn push_all(tx: &mut impl Send32, items: impl IntoIterator<Item = u32>) {
    for item in items {
        let mut item = item;
        while let Err(full) = tx.push(item) {
            item = full.into_inner();
            thread::yield_now();
        }
    }
}

/// Pops `n` items, yielding while the queue is empty.
fn pop_n(rx: &mut impl Receive32, n: usize) -> Vec<u32> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match rx.pop() {
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

/// A producer thread pushes two tracked items (what fits) and drops its half while this thread
/// pops one and drops the other half: whichever side drops last frees what is still queued,
/// each item exactly once.
fn queued_items_drop_exactly_once_in<P: Send + 'static, C>(
    (mut tx, mut rx): (P, C),
    push: fn(&mut P, Tracked) -> bool,
    pop: fn(&mut C),
) {
    let live = StdArc::new(StdAtomicUsize::new(0));
    let for_producer = StdArc::clone(&live);
    let producer = thread::spawn(move || {
        for _ in 0..2 {
            if !push(&mut tx, Tracked::new(&for_producer)) {
                break;
            }
        }
    });
    pop(&mut rx);
    drop(rx);
    producer.join().unwrap();
    assert_eq!(live.load(Relaxed), 0, "an item leaked or was dropped twice");
}

#[test]
fn queued_items_drop_exactly_once() {
    loom::model(|| {
        queued_items_drop_exactly_once_in(
            channel::<Tracked>(2),
            |tx, item| tx.try_push(item).is_ok(),
            |rx| drop(rx.try_pop()),
        );
    });
}

/// Once `rx` sees its producer gone, the items still queued are all there is: takes items
/// until then and returns them.
fn take_until_abandoned(rx: &mut impl Receive32) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        let finished = rx.abandoned();
        got.extend(rx.take_ready());
        if finished {
            return got;
        }
        thread::yield_now();
    }
}

#[test]
fn abandonment_is_seen_after_every_item() {
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2]));
        assert_eq!(take_until_abandoned(&mut rx), [1, 2]);
        producer.join().unwrap();
    });
}

/// Spins (yielding) until `abandoned()` says so. No join: the flag alone must order what
/// the other side did before it let go.
fn wait_for_abandon(abandoned: impl Fn() -> bool) {
    while !abandoned() {
        thread::yield_now();
    }
}

#[test]
fn producer_sees_consumer_abandon() {
    // The consumer pops the one item of a full queue, then drops its half. Once the producer
    // sees the flag (not a join), the pop is visible: there is room again. With the flag's
    // Release/Acquire weakened to Relaxed, the producer may still load the old `head` and
    // find the queue full, which this model reports.
    loom::model(|| {
        let (mut tx, mut rx) = channel::<u32>(1);
        tx.try_push(1).unwrap();
        let consumer = thread::spawn(move || {
            assert_eq!(rx.try_pop(), Ok(1));
            drop(rx);
        });
        wait_for_abandon(|| tx.is_abandoned());
        assert!(
            tx.try_push(2).is_ok(),
            "the consumer's pop is seen with its abandon"
        );
        consumer.join().unwrap();
    });
}

// ===== the stamped queue =====
//
// In every model the first item goes to the mailbox; later ones go to it or to the ring,
// depending on whether the producer saw everything before them popped.

/// Pushes `items` with `push_iter`, as many as fit per call, yielding while none fits.
fn push_in_batches(tx: &mut stamped::Producer<u32>, items: impl IntoIterator<Item = u32>) {
    let mut iter = items.into_iter().peekable();
    while iter.peek().is_some() {
        if tx.push_iter(iter.by_ref()) == 0 {
            thread::yield_now();
        }
    }
}

#[test]
fn stamped_fifo_without_loss_or_duplicates() {
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2, 3]));
        assert_eq!(pop_n(&mut rx, 3), [1, 2, 3]);
        producer.join().unwrap();
        assert!(rx.is_empty());
    });
}

#[test]
fn stamped_mailbox_reuse_never_reads_a_stale_item() {
    // One slot: every item goes to the mailbox (the ring never has room for a second one), so
    // the mailbox is reused on every push, as soon as the producer sees its item popped.
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(1);
        let producer = thread::spawn(move || push_in_batches(&mut tx, [10, 20, 30]));
        assert_eq!(pop_n(&mut rx, 3), [10, 20, 30]);
        producer.join().unwrap();
    });
}

#[test]
fn stamped_ring_slot_reuse_never_reads_a_stale_item() {
    // Two slots and four items pushed in batches: while the consumer lags, items go to the
    // ring and its slots are reused lap after lap; a stamp from the lap before must never
    // pass for the next.
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(2);
        let producer = thread::spawn(move || push_in_batches(&mut tx, [10, 20, 30, 40]));
        assert_eq!(pop_n(&mut rx, 4), [10, 20, 30, 40]);
        producer.join().unwrap();
    });
}

#[test]
fn stamped_ready_counts_only_what_can_be_popped() {
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2]));
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(rx.take_ready());
            thread::yield_now();
        }
        assert_eq!(got, [1, 2]);
        producer.join().unwrap();
    });
}

#[test]
fn stamped_queued_items_drop_exactly_once() {
    loom::model(|| {
        queued_items_drop_exactly_once_in(
            stamped::channel::<Tracked>(2),
            |tx, item| tx.try_push(item).is_ok(),
            |rx| drop(rx.try_pop()),
        );
    });
}

#[test]
fn stamped_abandonment_is_seen_after_every_item() {
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(2);
        let producer = thread::spawn(move || push_all(&mut tx, [1, 2]));
        assert_eq!(take_until_abandoned(&mut rx), [1, 2]);
        producer.join().unwrap();
    });
}

#[test]
fn stamped_take_back_returns_exactly_what_was_never_popped() {
    // The consumer pops what is ready (maybe nothing, maybe everything) and drops its half
    // while the producer pushes; once the producer sees the abandon (no join), it takes back
    // the rest. Every item is popped or taken back, once. With the abandon's Release/Acquire
    // weakened, the producer may read a stale `head` and take back an item already popped
    // (a duplicate), which this model reports.
    loom::model(|| {
        let (mut tx, mut rx) = stamped::channel::<u32>(2);
        tx.try_push(1).unwrap();
        let consumer = thread::spawn(move || {
            let got = rx.take_ready();
            drop(rx);
            got
        });
        let second_pushed = tx.try_push(2).is_ok();
        wait_for_abandon(|| tx.is_abandoned());
        let mut taken = Vec::new();
        while let Some(item) = tx.take_back() {
            taken.push(item);
        }
        let mut all = consumer.join().unwrap();
        all.extend(taken);
        let expected: &[u32] = if second_pushed { &[1, 2] } else { &[1] };
        assert_eq!(
            all, expected,
            "each item popped or taken back, once, in order"
        );
    });
}
