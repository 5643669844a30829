//! [`Producer`]: the pushing half of a queue.

use std::fmt;

use crate::error::PushError;
use crate::ring::Ring;
use crate::sync::{Arc, Ordering};

/// The pushing half of a queue made by [`channel`](crate::channel).
///
/// It is [`Send`] when `T` is, so it can move to the core that produces, but it is neither
/// [`Sync`] nor [`Clone`]: exactly one thread pushes.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ms_spsc::channel::<u32>(2);
/// tx.try_push(1).unwrap();
/// tx.try_push(2).unwrap();
/// assert_eq!(tx.try_push(3).unwrap_err().into_inner(), 3);
/// assert_eq!(rx.try_pop(), Ok(1));
/// ```
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Items written so far; published in `ring.tail` at the end of each operation.
    tail: usize,
    /// The last `ring.head` this side loaded; `head <= ring.head`, so `tail - head` over-estimates
    /// the occupied slots and the producer never overwrites one.
    cached_head: usize,
}

// SAFETY: the producer may live on any one thread: it moves `T`s into the ring (hence
// `T: Send`), and every location it shares with the consumer is an atomic or a slot handed over
// by the Release/Acquire protocol in `ring.rs`. It is not `Sync`: two threads pushing through
// `&Producer` would race on the same slot, and `try_push` takes `&mut self` for that reason.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Producer<T> {
    pub(crate) fn new(ring: Arc<Ring<T>>) -> Self {
        Self {
            ring,
            tail: 0,
            cached_head: 0,
        }
    }

    /// Free slots as far as this side knows, reloading `head` only if the cache shows fewer
    /// than `wanted` (1 for a single push, so it reloads only when the cache says full).
    #[inline]
    fn free_slots(&mut self, wanted: usize) -> usize {
        let capacity = self.ring.capacity();
        let free = capacity - self.tail.wrapping_sub(self.cached_head);
        if free >= wanted {
            return free;
        }
        // Acquire: pairs with the Release store of `head` in the consumer, so its reads of the
        // slots it freed happened-before our writes into them.
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        capacity - self.tail.wrapping_sub(self.cached_head)
    }

    /// Publishes every item written so far.
    #[inline]
    fn publish(&self) {
        // Release: publishes the slot writes; pairs with the Acquire load of `tail` in the
        // consumer.
        self.ring.tail.store(self.tail, Ordering::Release);
    }

    /// Pushes `value`, or hands it back if the queue is full.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] with the value when no slot is free.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.free_slots(1) == 0 {
            return Err(PushError::Full(value));
        }
        // SAFETY: `free_slots` proved slot `tail` vacant against an Acquire-loaded `head`.
        unsafe { self.ring.write(self.tail, value) };
        self.tail = self.tail.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// Pushes items from `iter` until it ends or the queue is full, publishing them once, and
    /// returns how many were pushed.
    ///
    /// No item is lost: the iterator is advanced only for items that fit, so pass
    /// `iter.by_ref()` to keep the rest. If the iterator panics, the items pushed before the
    /// panic are published with the next operation (or when the producer is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::channel::<u32>(4);
    /// let mut items = 0..10;
    /// assert_eq!(tx.push_iter(items.by_ref()), 4);
    /// assert_eq!(items.next(), Some(4));
    /// assert_eq!(rx.drain().collect::<Vec<_>>(), [0, 1, 2, 3]);
    /// ```
    pub fn push_iter<I: Iterator<Item = T>>(&mut self, iter: I) -> usize {
        let free = self.free_slots(iter.size_hint().1.unwrap_or(usize::MAX));
        let mut pushed = 0;
        for value in iter.take(free) {
            // SAFETY: `free_slots` proved `free` slots from `tail` on vacant, and we write fewer.
            unsafe { self.ring.write(self.tail, value) };
            self.tail = self.tail.wrapping_add(1);
            pushed += 1;
        }
        if pushed != 0 {
            self.publish();
        }
        pushed
    }

    /// Copies as many items of `values` as fit into the queue, publishing them once, and
    /// returns how many were pushed (a prefix of `values`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::channel::<u8>(4);
    /// assert_eq!(tx.push_slice(b"hello"), 4);
    /// let mut buf = [0; 8];
    /// assert_eq!(rx.pop_slice(&mut buf), 4);
    /// assert_eq!(&buf[..4], b"hell");
    /// ```
    pub fn push_slice(&mut self, values: &[T]) -> usize
    where
        T: Copy,
    {
        let n = self.free_slots(values.len()).min(values.len());
        // SAFETY: `free_slots` proved `n` slots from `tail` on vacant.
        unsafe { self.ring.write_slice(self.tail, &values[..n]) };
        if n != 0 {
            self.tail = self.tail.wrapping_add(n);
            self.publish();
        }
        n
    }

    /// The number of slots, a power of two (or zero: a queue that is always full).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The number of items queued now; the consumer may be popping them concurrently, so it can
    /// only shrink until the next push.
    pub fn len(&self) -> usize {
        // Acquire: pairs with the consumer's Release store of `head`.
        self.tail
            .wrapping_sub(self.ring.head.load(Ordering::Acquire))
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of free slots now; it can only grow until the next push.
    pub fn slots(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Whether every slot is taken now.
    pub fn is_full(&self) -> bool {
        self.slots() == 0
    }

    /// Whether the [`Consumer`](crate::Consumer) has been dropped: nothing pushed from now on
    /// will be read (it is dropped with the queue).
    pub fn is_abandoned(&self) -> bool {
        // Acquire: pairs with the Release store in `Consumer::drop`.
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
impl<T> Producer<T> {
    pub(crate) fn cached_head_for_test(&self) -> usize {
        self.cached_head
    }

    /// Moves both shared indices and this side's to `index` on an empty, fresh queue.
    pub(crate) fn set_indices_for_test(&mut self, index: usize) {
        assert!(self.is_empty());
        self.ring.head.store(index, Ordering::Relaxed);
        self.ring.tail.store(index, Ordering::Relaxed);
        self.tail = index;
        self.cached_head = index;
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Items written by an interrupted `push_iter` must be visible to the consumer and to
        // `Ring::drop`, or they would leak.
        self.publish();
        // Release: orders the final `tail` before the flag; pairs with `Consumer::is_abandoned`,
        // so a consumer that sees the flag sees every item.
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}
