//! A single-producer single-consumer queue whose slots carry their own readiness: the lowest
//! latency for messages of about a cache line sent one at a time (a core's request to another).
//!
//! In [`channel`](crate::channel)'s ring, the consumer learns of an item from the producer's
//! `tail` index, then reads the item's slot: two cache lines cross from core to core per item,
//! one after the other. Here each slot holds its item and a *stamp* in one 64-byte-aligned
//! block, and the consumer waits on the stamp itself: an item of up to 56 bytes crosses in one
//! line, with its stamp. The price is a slot of at least a whole line (a `u64` takes 64 bytes)
//! and no bulk copies, so for small items in batches `channel` is better.
//!
//! An item pushed while the queue is empty goes to a *mailbox*, one extra slot, rather than to
//! the next slot of the ring. A request and its reply sent back and forth one at a time then
//! cross in the same two lines every time, and a line that keeps crossing is handed over
//! faster than a different ring slot each time. On the two-core VM the benchmarks ran on, the
//! `spsc_round_trip/ms_spsc_stamped_56_byte_messages` ping-pong took 68-71 ns with the mailbox
//! against 142-146 ns without it (alternating runs); in a throwaway probe a ring of only 16
//! slots was no faster than one of 1024 (131-137 ns against 136-157), so what costs is a new
//! line per message, not the ring's size. Items pushed while others are queued go to the ring.
//!
//! To find out whether the queue is empty, [`try_push`](Producer::try_push) and
//! [`push_iter`](Producer::push_iter) load the consumer's `head` (a line the consumer writes
//! on every pop) unless the producer knows everything it pushed was popped: once per call. A
//! stream of items is cheaper through `push_iter` than one `try_push` each (in the same probe,
//! a producer streaming with a `head` load per item moved 8 ns per item, as without it).
//!
//! The stamps are `u64`s, so the queue needs 64-bit atomics (every 64-bit target, i686,
//! ARMv7); on a 32-bit target the largest item that shares its line with the stamp is still
//! 56 bytes.
//!
//! # Examples
//!
//! ```
//! use ms_spsc::stamped;
//!
//! let (mut tx, mut rx) = stamped::channel::<[u64; 7]>(64);
//! tx.try_push([1; 7]).unwrap();
//! tx.try_push([2; 7]).unwrap();
//! assert_eq!(rx.ready(10), 2);
//! assert_eq!(rx.try_pop(), Ok([1; 7]));
//! assert_eq!(rx.try_pop(), Ok([2; 7]));
//! assert!(rx.is_empty());
//! ```
//!
//! # Protocol
//!
//! Items are numbered from 0 in a `u64`, which does not wrap in practice (2^64 items).
//!
//! - Stamps: a slot (the mailbox or one of the ring's) holds item `i` exactly when its stamp
//!   is `i + 1`. The producer writes the item, then stores the stamp (Release); the consumer
//!   loads the stamp (Acquire) and reads the item. A ring slot starts stamped as if the lap
//!   before the first had emptied it (`i - capacity + 1` for its first item `i`), the mailbox
//!   as if it had held item `u64::MAX`, so no stamp is mistaken for a later item's.
//! - `head`: the items popped so far, stored (Release) by the consumer after each pop.
//! - Where item `i` goes: to the mailbox if the producer saw items `0..i` all popped (its
//!   last load of `head` said `i`), else to ring slot `i & mask`. The producer loads `head`
//!   (Acquire) at the start of each `try_push` and `push_iter` unless it knows everything
//!   pushed was popped, and when its cached copy says the ring is full. So the mailbox is
//!   written again only after its last item was read, and a ring slot only after the item a
//!   lap before (wherever that item went). The mailbox only ever holds the item at `head`: the
//!   consumer looks there first, then in the ring.
//! - `abandoned`: set (Release) by whichever handle is dropped; read (Acquire) by the other.
//!
//! When both handles are gone, the ring drops the items from `head` on whose stamps say so.

use std::fmt;
use std::mem::MaybeUninit;

use crate::cache_padded::CachePadded;
use crate::error::{PopError, PushError};
use crate::ring::round_capacity;
use crate::sync::{Arc, AtomicBool, AtomicU64, Ordering, UnsafeCell};

/// One item and its stamp, on a cache line of their own (or more, for an item over 56 bytes).
#[repr(C, align(64))]
struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    stamp: AtomicU64,
}

impl<T> Slot<T> {
    fn new(stamp: u64) -> Self {
        Self {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            stamp: AtomicU64::new(stamp),
        }
    }

    /// Whether the stamp says this slot holds item `item`.
    #[inline]
    fn holds(&self, item: u64) -> bool {
        // Acquire: pairs with the producer's Release store of this stamp, so its write of the
        // item happened-before our read.
        self.stamp.load(Ordering::Acquire) == item.wrapping_add(1)
    }
}

/// The shared heap block of one queue.
struct Ring<T> {
    /// Where an item pushed into an empty queue goes.
    mailbox: Slot<T>,
    /// Items popped so far, published by the consumer.
    head: CachePadded<AtomicU64>,
    /// Set when either handle has been dropped.
    abandoned: AtomicBool,
    /// `capacity - 1` when the capacity is non-zero; unused otherwise.
    mask: usize,
    /// A power of two of them, or none (always full).
    slots: Box<[Slot<T>]>,
}

impl<T> Ring<T> {
    /// The ring slot of item `item`. Only called with a non-zero capacity.
    #[inline]
    fn slot(&self, item: u64) -> &Slot<T> {
        // On 32-bit targets the cast drops high bits, which the mask drops anyway.
        &self.slots[item as usize & self.mask]
    }

    /// The slot that holds item `item`, if one does: the mailbox or its ring slot. Only called
    /// with a non-zero capacity.
    #[inline]
    fn find(&self, item: u64) -> Option<&Slot<T>> {
        if self.mailbox.holds(item) {
            return Some(&self.mailbox);
        }
        let slot = self.slot(item);
        slot.holds(item).then_some(slot)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if self.slots.is_empty() {
            return;
        }
        // Both handles are gone; the `Arc` drop that got us here synchronized with their last
        // stores, so these loads see everything. The loop ends within a lap: no slot holds
        // item `tail`.
        let mut item = self.head.load(Ordering::Relaxed);
        while let Some(slot) = self.find(item) {
            slot.value.with_mut(|value| {
                // SAFETY: the stamp says the slot holds item `item`, which nobody popped.
                unsafe { (*value).assume_init_drop() }
            });
            item = item.wrapping_add(1);
        }
    }
}

/// Makes a stamped queue of at least `capacity` slots (the next power of two; zero makes a
/// queue that is always full) and returns its two halves.
///
/// # Panics
///
/// If the rounded capacity overflows `usize`, or the slots cannot be allocated.
#[must_use]
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = round_capacity(capacity);
    // As if the lap before the first had filled and emptied them (see the module docs).
    let slots = (0..capacity as u64)
        .map(|i| Slot::new(i.wrapping_sub(capacity as u64).wrapping_add(1)))
        .collect();
    let ring = Arc::new(Ring {
        // As if it had held item `u64::MAX`.
        mailbox: Slot::new(0),
        head: CachePadded::new(AtomicU64::new(0)),
        abandoned: AtomicBool::new(false),
        mask: capacity.wrapping_sub(1),
        slots,
    });
    let producer = Producer {
        ring: Arc::clone(&ring),
        tail: 0,
        cached_head: 0,
    };
    (producer, Consumer { ring, head: 0 })
}

/// The sending half of a [stamped](self) queue.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Items pushed so far.
    tail: u64,
    /// The consumer's `head` when last loaded.
    cached_head: u64,
}

// SAFETY: the producer may live on any one thread: it moves `T`s into the ring (hence
// `T: Send`), and every location it shares with the consumer is an atomic or a slot handed
// over by the Release/Acquire stamps and `head` (module docs). It is not `Sync`, like the
// consumer: each index has one owner.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    /// Reloads the consumer's `head` unless everything pushed is known to be popped: if it has
    /// been, the next item goes to the mailbox.
    #[inline]
    fn look_for_empty(&mut self) {
        if self.cached_head != self.tail {
            // Acquire: pairs with the consumer's Release store, so its reads of the items
            // popped happened-before our next writes into their slots.
            self.cached_head = self.ring.head.load(Ordering::Acquire);
        }
    }

    /// Starts loading the consumer's `head` (a prefetch: nothing waits for it) if the next push
    /// will need it, that is unless everything pushed is known to be popped.
    ///
    /// Each push into a queue the consumer has popped from since the last push reloads `head`,
    /// a cache miss (the consumer wrote it on its core), and the pushed item becomes visible
    /// only once that load is done. A producer that knows a push is coming, and that the
    /// consumer has popped meanwhile (because the consumer has answered, say), calls this
    /// first, so that the miss overlaps the work before the push.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::stamped::channel::<u32>(8);
    /// tx.try_push(1).unwrap();
    /// assert_eq!(rx.try_pop(), Ok(1)); // on the consumer's thread, as a rule
    /// tx.prefetch_head(); // the consumer has answered: a push is coming
    /// tx.try_push(2).unwrap(); // finds `head` in the cache
    /// assert_eq!(rx.try_pop(), Ok(2));
    /// ```
    #[inline]
    pub fn prefetch_head(&self) {
        if self.cached_head != self.tail {
            crate::sync::prefetch(&*self.ring.head);
        }
    }

    /// Whether a slot is free, reloading the consumer's `head` only if the cached one says not.
    #[inline]
    fn has_room(&mut self) -> bool {
        let capacity = self.ring.slots.len() as u64;
        if self.tail.wrapping_sub(self.cached_head) < capacity {
            return true;
        }
        // Acquire: as in `look_for_empty`.
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        self.tail.wrapping_sub(self.cached_head) < capacity
    }

    /// Writes `value` as item `tail` and stamps it: into the mailbox if every item before it
    /// is known to be popped, else into its ring slot.
    #[inline]
    fn write(&mut self, value: T) {
        let slot = if self.cached_head == self.tail {
            &self.ring.mailbox
        } else {
            self.ring.slot(self.tail)
        };
        slot.value.with_mut(|cell| {
            // SAFETY: the slot's last item was popped and its read happened-before this write
            // (by the Acquire load of `head`): for the mailbox, every item before `tail` was
            // popped (`cached_head == tail`); for a ring slot, its last item is at most
            // `tail - capacity` (if it held one), and `has_room` proved that popped. The
            // consumer reads the slot again only after our stamp.
            unsafe { (*cell).write(value) };
        });
        self.tail = self.tail.wrapping_add(1);
        // Release: the write above happens-before the consumer's Acquire load of the stamp.
        slot.stamp.store(self.tail, Ordering::Release);
    }

    /// Appends `value`, or hands it back if the queue is full.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] with `value`, if every slot is taken.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.look_for_empty();
        if !self.has_room() {
            return Err(PushError::Full(value));
        }
        self.write(value);
        Ok(())
    }

    /// Appends items from `iter` while there is room; returns how many. Takes no item it
    /// cannot push.
    pub fn push_iter<I: Iterator<Item = T>>(&mut self, mut iter: I) -> usize {
        self.look_for_empty();
        let mut pushed = 0;
        while self.has_room() {
            let Some(value) = iter.next() else { break };
            self.write(value);
            pushed += 1;
        }
        pushed
    }

    /// The number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.slots.len()
    }

    /// Whether the consumer has been dropped (pushed items will never be read).
    pub fn is_abandoned(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire)
    }

    /// Once the consumer has been dropped, takes back the oldest item it never popped;
    /// `None` while the consumer lives, or when nothing is left.
    ///
    /// Items pushed into a queue whose consumer is gone would otherwise wait for the producer
    /// to be dropped too. A sender that must answer for what it sent (drop it at home, fail
    /// the caller that waits for it) takes it back with this instead, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::stamped::channel::<u32>(4);
    /// for i in 1..=3 {
    ///     tx.try_push(i).unwrap();
    /// }
    /// assert_eq!(tx.take_back(), None, "the consumer lives");
    /// assert_eq!(rx.try_pop(), Ok(1));
    /// drop(rx);
    /// assert_eq!(tx.take_back(), Some(2));
    /// assert_eq!(tx.take_back(), Some(3));
    /// assert_eq!(tx.take_back(), None);
    /// ```
    pub fn take_back(&mut self) -> Option<T> {
        // Acquire (in `is_abandoned`): pairs with the Release store in `Consumer::drop`, which
        // follows the consumer's last store of `head` and its reads of the items it popped.
        // So the `head` loaded below is final, those reads happened-before ours, and nobody
        // else touches the ring's items any more: the producer is the only handle left.
        if self.ring.slots.is_empty() || !self.is_abandoned() {
            return None;
        }
        // Relaxed: ordered by the Acquire load of `abandoned` above; the only later stores
        // of `head` are this producer's own.
        let head = self.ring.head.load(Ordering::Relaxed);
        if head == self.tail {
            return None;
        }
        let slot = self.ring.find(head)?;
        let value = slot.value.with(|cell| {
            // SAFETY: the stamp says the slot holds item `head`, which the consumer never
            // popped (its final `head` says so) and never will (it is gone). Advancing `head`
            // below keeps the ring's drop, and this method, from reading it again.
            unsafe { (*cell).assume_init_read() }
        });
        // The ring's drop starts at `head`; so does the next call.
        self.ring
            .head
            .store(head.wrapping_add(1), Ordering::Relaxed);
        self.cached_head = head.wrapping_add(1);
        Some(value)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Release: pairs with `Consumer::is_abandoned`; every stamp stored before it is seen.
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("stamped::Producer")
            .field("capacity", &self.capacity())
            .field("pushed", &self.tail)
            .finish_non_exhaustive()
    }
}

/// The receiving half of a [stamped](self) queue.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Items popped so far.
    head: u64,
}

// SAFETY: as for `Producer`: the consumer moves `T`s out of the ring, on one thread at a time.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Consumer<T> {
    /// Whether no item is ready: at most two loads, of the mailbox's stamp and the next ring
    /// slot's.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ring.slots.is_empty() || self.ring.find(self.head).is_none()
    }

    /// The number of items ready to pop, counting at most `max` (a stamp load for the mailbox,
    /// one per ring item counted, and one for the ring slot after them unless `max` was
    /// reached).
    pub fn ready(&self, max: usize) -> usize {
        if self.ring.slots.is_empty() || max == 0 {
            return 0;
        }
        let max = max.min(self.capacity());
        // Only item `head` can be in the mailbox (module docs); the rest follow in the ring.
        let in_mailbox = usize::from(self.ring.mailbox.holds(self.head));
        let in_ring = (in_mailbox..max)
            .map(|i| self.head.wrapping_add(i as u64))
            .take_while(|&item| self.ring.slot(item).holds(item))
            .count();
        in_mailbox + in_ring
    }

    /// Removes the oldest item.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] if no item is ready.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.ring.slots.is_empty() {
            return Err(PopError::Empty);
        }
        let Some(slot) = self.ring.find(self.head) else {
            return Err(PopError::Empty);
        };
        let value = slot.value.with(|cell| {
            // SAFETY: the stamp (Acquire) says the slot holds item `head`, written before it;
            // the producer writes the slot again only after our `head` store below.
            unsafe { (*cell).assume_init_read() }
        });
        self.head = self.head.wrapping_add(1);
        // Release: our read happens-before the producer's next write into the slot.
        self.ring.head.store(self.head, Ordering::Release);
        Ok(value)
    }

    /// The number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.slots.len()
    }

    /// Whether the producer has been dropped. If this says so and the queue is empty *after*
    /// it, nothing more will come (checked in the other order, a last item may be missed).
    pub fn is_abandoned(&self) -> bool {
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Release: pairs with `Producer::is_abandoned`.
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("stamped::Consumer")
            .field("capacity", &self.capacity())
            .field("popped", &self.head)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use static_assertions::{assert_impl_all, assert_not_impl_any};

    assert_impl_all!(Producer<u8>: Send);
    assert_impl_all!(Consumer<u8>: Send);
    assert_not_impl_any!(Producer<u8>: Sync, Clone);
    assert_not_impl_any!(Consumer<u8>: Sync, Clone);
    assert_not_impl_any!(Producer<std::rc::Rc<u8>>: Send);
    assert_not_impl_any!(Consumer<std::rc::Rc<u8>>: Send);

    #[test]
    fn an_item_of_56_bytes_shares_its_line_with_its_stamp() {
        assert_eq!(size_of::<Slot<[u64; 7]>>(), 64);
        assert_eq!(align_of::<Slot<u8>>(), 64);
    }

    #[test]
    fn an_item_pushed_into_an_empty_queue_goes_to_the_mailbox() {
        let (mut tx, mut rx) = channel::<u32>(4);
        let mailbox = |tx: &Producer<u32>| tx.ring.mailbox.stamp.load(Ordering::Relaxed);
        tx.try_push(1).unwrap();
        tx.try_push(2).unwrap();
        assert_eq!(mailbox(&tx), 1, "item 0 in the mailbox");
        assert!(
            tx.ring.slot(1).holds(1),
            "item 1 queued behind it, in the ring"
        );
        assert_eq!(rx.try_pop(), Ok(1));
        // Item 1 is still queued: item 2 goes to the ring too.
        tx.try_push(3).unwrap();
        assert!(tx.ring.slot(2).holds(2));
        assert_eq!((rx.try_pop(), rx.try_pop()), (Ok(2), Ok(3)));
        // All popped: the next item goes to the mailbox again, by `try_push` or `push_iter`.
        tx.try_push(4).unwrap();
        assert_eq!(mailbox(&tx), 4);
        assert_eq!(rx.try_pop(), Ok(4));
        assert_eq!(tx.push_iter([5, 6].into_iter()), 2);
        assert_eq!(mailbox(&tx), 5);
        assert!(tx.ring.slot(5).holds(5));
        assert_eq!(rx.ready(usize::MAX), 2);
        assert_eq!((rx.try_pop(), rx.try_pop()), (Ok(5), Ok(6)));
        assert!(rx.is_empty());
    }

    #[test]
    fn item_numbers_wrap_around_u64() {
        let (mut tx, mut rx) = channel::<u32>(4);
        let start = u64::MAX;
        // As if `start` items had gone through: the lap before in the ring, and an older one
        // in the mailbox.
        for item in start..=start.wrapping_add(3) {
            let before = item.wrapping_sub(4);
            tx.ring
                .slot(item)
                .stamp
                .store(before.wrapping_add(1), Ordering::Relaxed);
        }
        tx.ring
            .mailbox
            .stamp
            .store(start.wrapping_sub(4), Ordering::Relaxed);
        tx.ring.head.store(start, Ordering::Relaxed);
        (tx.tail, tx.cached_head, rx.head) = (start, start, start);
        // Full across the wrap: item `u64::MAX` in the mailbox (stamp 0), items 0 to 2 in the
        // ring.
        assert_eq!(tx.push_iter(0..10), 4);
        assert_eq!(tx.ring.mailbox.stamp.load(Ordering::Relaxed), 0);
        assert_eq!(rx.ready(usize::MAX), 4);
        assert_eq!(tx.try_push(9), Err(PushError::Full(9)));
        assert_eq!(
            (0..4).map(|_| rx.try_pop().unwrap()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(rx.is_empty());
        for i in 0..100 {
            tx.try_push(i).unwrap();
            tx.try_push(i + 1000).unwrap();
            assert_eq!(rx.ready(usize::MAX), 2);
            assert_eq!(rx.try_pop(), Ok(i));
            assert_eq!(rx.try_pop(), Ok(i + 1000));
            assert!(rx.is_empty());
        }
    }
}
