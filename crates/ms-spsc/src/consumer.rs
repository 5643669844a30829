//! [`Consumer`] and its batch iterator [`Drain`]: the popping half of a queue.

use std::fmt;
use std::iter::FusedIterator;

use crate::error::PopError;
use crate::ring::Ring;
use crate::sync::{Arc, Ordering};

/// The popping half of a queue made by [`channel`](crate::channel).
///
/// It is [`Send`] when `T` is, but neither [`Sync`] nor [`Clone`]: exactly one thread pops.
///
/// # Examples
///
/// ```
/// use ms_spsc::PopError;
///
/// let (mut tx, mut rx) = ms_spsc::channel(8);
/// tx.try_push("a").unwrap();
/// assert_eq!(rx.peek(), Some(&"a"));
/// assert_eq!(rx.try_pop(), Ok("a"));
/// assert_eq!(rx.try_pop(), Err(PopError::Empty));
/// drop(tx);
/// assert!(rx.is_abandoned());
/// ```
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Items read so far; published in `ring.head` at the end of each operation.
    head: usize,
    /// The last `ring.tail` this side loaded; `cached_tail <= ring.tail`, so the consumer never
    /// reads a slot that is not yet written.
    cached_tail: usize,
}

// SAFETY: the consumer may live on any one thread: it moves `T`s out of the ring (hence
// `T: Send`), and every location it shares with the producer is an atomic or a slot handed over
// by the Release/Acquire protocol in `ring.rs`. It is not `Sync`: two threads popping through
// `&Consumer` would read the same slot twice, and `try_pop` takes `&mut self` for that reason.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T> Consumer<T> {
    pub(crate) fn new(ring: Arc<Ring<T>>) -> Self {
        Self {
            ring,
            head: 0,
            cached_tail: 0,
        }
    }

    /// Occupied slots as far as this side knows, reloading `tail` only if the cache shows fewer
    /// than `wanted` (1 for a single pop, so it reloads only when the cache says empty).
    #[inline]
    fn ready(&mut self, wanted: usize) -> usize {
        let ready = self.cached_tail.wrapping_sub(self.head);
        if ready >= wanted {
            return ready;
        }
        // Acquire: pairs with the Release store of `tail` in the producer, so its slot writes
        // happened-before our reads.
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        self.cached_tail.wrapping_sub(self.head)
    }

    /// Publishes every slot read so far as free.
    #[inline]
    fn publish(&self) {
        // Release: our reads of the freed slots happen-before the producer's next writes into
        // them; pairs with the Acquire load of `head` in the producer.
        self.ring.head.store(self.head, Ordering::Release);
    }

    /// Pops the oldest item.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] when no item is queued.
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        if self.ready(1) == 0 {
            return Err(PopError::Empty);
        }
        // SAFETY: `ready` proved slot `head` occupied against an Acquire-loaded `tail`, and we
        // advance `head` past it before anything could read it again.
        let value = unsafe { self.ring.read(self.head) };
        self.head = self.head.wrapping_add(1);
        self.publish();
        Ok(value)
    }

    /// Borrows the oldest item without popping it.
    pub fn peek(&mut self) -> Option<&T> {
        if self.ready(1) == 0 {
            return None;
        }
        // SAFETY: slot `head` is occupied (as in `try_pop`), and it stays so while the returned
        // borrow holds `&mut self`, which every pop needs.
        Some(unsafe { self.ring.peek(self.head) })
    }

    /// Copies up to `dst.len()` of the oldest items into `dst`, freeing their slots once, and
    /// returns how many were popped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::channel::<u64>(8);
    /// tx.push_slice(&[1, 2, 3]);
    /// let mut buf = [0; 2];
    /// assert_eq!(rx.pop_slice(&mut buf), 2);
    /// assert_eq!(buf, [1, 2]);
    /// ```
    pub fn pop_slice(&mut self, dst: &mut [T]) -> usize
    where
        T: Copy,
    {
        let n = self.ready(dst.len()).min(dst.len());
        // SAFETY: `ready` proved `n` slots from `head` on occupied; `T: Copy`, so copying them
        // out leaves nothing to drop.
        unsafe { self.ring.read_slice(self.head, &mut dst[..n]) };
        if n != 0 {
            self.head = self.head.wrapping_add(n);
            self.publish();
        }
        n
    }

    /// An iterator over the items queued now, which frees their slots once, when it is dropped.
    ///
    /// Items pushed while it runs are left for the next call. Leaking the iterator loses
    /// nothing: the items it yielded stay popped, and their slots are freed by the next
    /// operation.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ms_spsc::channel(4);
    /// tx.push_iter(["x".to_string(), "y".to_string()].into_iter());
    /// let all: Vec<String> = rx.drain().collect();
    /// assert_eq!(all, ["x", "y"]);
    /// assert!(rx.is_empty());
    /// ```
    pub fn drain(&mut self) -> Drain<'_, T> {
        let remaining = self.ready(usize::MAX);
        Drain {
            consumer: self,
            remaining,
        }
    }

    /// The number of slots, a power of two (or zero: a queue that is always full).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The number of items queued now; the producer may be pushing concurrently, so it can only
    /// grow until the next pop.
    pub fn len(&self) -> usize {
        // Acquire: pairs with the producer's Release store of `tail`.
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether no item is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the [`Producer`](crate::Producer) has been dropped. Once this returns `true`,
    /// the items still queued are the last ones: pop them until [`PopError::Empty`].
    pub fn is_abandoned(&self) -> bool {
        // Acquire: pairs with the Release store in `Producer::drop`, which follows its final
        // publication of `tail`.
        self.ring.abandoned.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
impl<T> Consumer<T> {
    /// Moves this side's indices to `index`; see `Producer::set_indices_for_test`.
    pub(crate) fn set_indices_for_test(&mut self, index: usize) {
        self.head = index;
        self.cached_tail = index;
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Items read by a leaked `Drain` must not be dropped again by `Ring::drop`.
        self.publish();
        // Release: pairs with `Producer::is_abandoned`.
        self.ring.abandoned.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

// ===== impl Drain =====

/// The iterator returned by [`Consumer::drain`].
pub struct Drain<'a, T> {
    consumer: &'a mut Consumer<T>,
    /// Items known occupied and not yet yielded, from `consumer.head` on.
    remaining: usize,
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        let consumer = &mut *self.consumer;
        // SAFETY: `drain` proved `remaining` slots from `head` occupied; we advance the
        // consumer's own `head` past each slot as we read it, so none is read twice.
        let value = unsafe { consumer.ring.read(consumer.head) };
        consumer.head = consumer.head.wrapping_add(1);
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for Drain<'_, T> {}

impl<T> FusedIterator for Drain<'_, T> {}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        self.consumer.publish();
    }
}

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("remaining", &self.remaining)
            .finish()
    }
}
