//! A single-producer single-consumer queue whose slots carry their own readiness: the lowest
//! latency for messages of about a cache line sent one at a time (a core's request to another).
//!
//! In [`channel`](crate::channel)'s ring, the consumer learns of an item from the producer's
//! `tail` index, then reads the item's slot: two cache lines cross from core to core per item,
//! one after the other. Here each slot holds its item and a *stamp* in one 64-byte-aligned
//! block, and the consumer waits on the stamp of the slot it reads next: an item of up to 56
//! bytes crosses in one line, with its stamp. The price is a slot of at least a whole line (a
//! `u64` takes 64 bytes) and no bulk copies, so for small items in batches `channel` is better.
//!
//! # Examples
//!
//! ```
//! use ms_spsc::stamped;
//!
//! let (mut tx, mut rx) = stamped::channel::<[u64; 7]>(64);
//! tx.try_push([1; 7]).unwrap();
//! assert!(!rx.is_empty());
//! assert_eq!(rx.try_pop(), Ok([1; 7]));
//! assert!(rx.is_empty());
//! ```
//!
//! # Protocol
//!
//! - `stamps`: slot `i & mask` holds item `i` (items are numbered from 0, wrapping) exactly when
//!   its stamp is `i + 1`. The producer writes the item, then stores the stamp (Release); the
//!   consumer loads the stamp (Acquire) and reads the item. A slot starts stamped as if the lap
//!   before the first had emptied it (`i - capacity + 1` for its first item `i`), so no stamp is
//!   mistaken for the next item's, even when the indices wrap.
//! - `head`: the items popped so far, stored (Release) by the consumer after each pop; the
//!   producer loads it (Acquire) only when its cached copy says the ring is full, so a slot is
//!   written again only after its last item was read.
//! - `abandoned`: set (Release) by whichever handle is dropped; read (Acquire) by the other.
//!
//! When both handles are gone, the ring drops the items from `head` on whose stamps say so.

use std::fmt;
use std::mem::MaybeUninit;

use crate::cache_padded::CachePadded;
use crate::error::{PopError, PushError};
use crate::ring::{free_slots, round_capacity};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// One item and its stamp, on a cache line of their own (or more, for an item over 56 bytes).
#[repr(C, align(64))]
struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    stamp: AtomicUsize,
}

/// The shared heap block of one queue.
struct Ring<T> {
    /// Items popped so far, published by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Set when either handle has been dropped.
    abandoned: AtomicBool,
    /// `capacity - 1` when the capacity is non-zero; unused otherwise.
    mask: usize,
    /// A power of two of them, or none (always full).
    slots: Box<[Slot<T>]>,
}

impl<T> Ring<T> {
    /// The slot of item `index`. Only called with a non-zero capacity.
    #[inline]
    fn slot(&self, index: usize) -> &Slot<T> {
        &self.slots[index & self.mask]
    }

    /// Whether slot `index`'s stamp says it holds item `index`.
    #[inline]
    fn holds(&self, index: usize) -> bool {
        // Acquire: pairs with the producer's Release store of this stamp, so its write of the
        // item happened-before our read.
        self.slot(index).stamp.load(Ordering::Acquire) == index.wrapping_add(1)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if self.slots.is_empty() {
            return;
        }
        // Both handles are gone; the `Arc` drop that got us here synchronized with their last
        // stores, so these loads see everything. The loop ends within a lap: slot `tail` holds
        // `tail - capacity + 1`, not `tail + 1`.
        let mut index = self.head.load(Ordering::Relaxed);
        while self.holds(index) {
            self.slot(index).value.with_mut(|value| {
                // SAFETY: the stamp says the slot holds item `index`, which nobody popped.
                unsafe { (*value).assume_init_drop() }
            });
            index = index.wrapping_add(1);
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
    let slots = (0..capacity)
        .map(|i: usize| Slot {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            // As if the lap before the first had filled and emptied it (see the module docs).
            stamp: AtomicUsize::new(i.wrapping_sub(capacity).wrapping_add(1)),
        })
        .collect();
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
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
    tail: usize,
    /// The consumer's `head` when last loaded.
    cached_head: usize,
}

// SAFETY: the producer may live on any one thread: it moves `T`s into the ring (hence
// `T: Send`), and every location it shares with the consumer is an atomic or a slot handed
// over by the Release/Acquire stamps and `head` (module docs). It is not `Sync`, like the
// consumer: each index has one owner.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    /// Whether a slot is free, reloading the consumer's `head` only if the cached one says not.
    #[inline]
    fn has_room(&mut self) -> bool {
        let capacity = self.ring.slots.len();
        free_slots(
            capacity,
            self.tail,
            &mut self.cached_head,
            &self.ring.head,
            1,
        ) > 0
    }

    /// Writes `value` into the free slot of item `tail` and stamps it.
    #[inline]
    fn write(&mut self, value: T) {
        let slot = self.ring.slot(self.tail);
        slot.value.with_mut(|cell| {
            // SAFETY: `has_room` proved item `tail - capacity` popped (its read happened-before,
            // by `head`), and the consumer reads this slot again only after our stamp below.
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
        if !self.has_room() {
            return Err(PushError::Full(value));
        }
        self.write(value);
        Ok(())
    }

    /// Appends items from `iter` while there is room; returns how many. Takes no item it
    /// cannot push.
    pub fn push_iter<I: Iterator<Item = T>>(&mut self, mut iter: I) -> usize {
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
    head: usize,
}

// SAFETY: as for `Producer`: the consumer moves `T`s out of the ring, on one thread at a time.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Consumer<T> {
    /// Whether no item is ready: one load, of the next slot's stamp.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ring.slots.is_empty() || !self.ring.holds(self.head)
    }

    /// The number of items ready to pop, counting at most `max` (one stamp load per item
    /// counted, and one for the slot after them unless `max` was reached).
    pub fn ready(&self, max: usize) -> usize {
        if self.ring.slots.is_empty() {
            return 0;
        }
        let max = max.min(self.capacity());
        (0..max)
            .take_while(|&i| self.ring.holds(self.head.wrapping_add(i)))
            .count()
    }

    /// Removes the oldest item.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] if no item is ready.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.is_empty() {
            return Err(PopError::Empty);
        }
        let value = self.ring.slot(self.head).value.with(|cell| {
            // SAFETY: the stamp (Acquire) says the slot holds item `head`, written before it;
            // the producer writes it again only after our `head` store below.
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
    fn indices_wrap_around_usize() {
        let (mut tx, mut rx) = channel::<u32>(4);
        let start = usize::MAX - 5;
        // As `channel` would have stamped the slots had the counts started at `start`.
        for i in start..start + 4 {
            tx.ring
                .slot(i)
                .stamp
                .store(i.wrapping_sub(4).wrapping_add(1), Ordering::Relaxed);
        }
        tx.ring.head.store(start, Ordering::Relaxed);
        (tx.tail, tx.cached_head, rx.head) = (start, start, start);
        for i in 0..100 {
            tx.try_push(i).unwrap();
            tx.try_push(i + 1000).unwrap();
            assert_eq!(rx.ready(usize::MAX), 2);
            assert_eq!(rx.try_pop(), Ok(i));
            assert_eq!(rx.try_pop(), Ok(i + 1000));
            assert!(rx.is_empty());
        }
        // Full across the wrap: four ready, a fifth refused.
        assert_eq!(tx.push_iter(0..10), 4);
        assert_eq!(rx.ready(usize::MAX), 4);
        assert_eq!(tx.try_push(9), Err(PushError::Full(9)));
        assert_eq!(
            (0..4).map(|_| rx.try_pop().unwrap()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }
}
