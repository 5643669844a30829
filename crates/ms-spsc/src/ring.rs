//! The state shared by one [`Producer`](crate::Producer) and one [`Consumer`](crate::Consumer).
//!
//! # Protocol
//!
//! Fields, and who may touch them:
//!
//! - `tail`: the number of items ever pushed (wrapping). Written only by the producer, with a
//!   Release store after the slot write; read by the consumer with an Acquire load.
//! - `head`: the number of items ever popped (wrapping). Written only by the consumer, with a
//!   Release store after the slot read; read by the producer with an Acquire load.
//! - `slots[i & mask]`: owned by the producer while `head <= i < head + capacity` and `i >= tail`
//!   (vacant), by the consumer while `head <= i < tail` (occupied).
//! - `abandoned`: set (Release) by whichever handle is dropped; read (Acquire) by the other.
//!
//! Both indices run freely and wrap at `usize::MAX`; the capacity is a power of two, so it
//! divides `2^usize::BITS` and `tail - head` (wrapping) is always the number of occupied slots,
//! in `0..=capacity`.
//!
//! Each handle keeps its own index (the authoritative one: it may be ahead of what it has
//! published) and a cached copy of the other side's, and reloads the shared atomic only when
//! the cache says full (producer) or empty (consumer). A handle publishes its own index when it
//! is dropped, so when the last handle goes, `head..tail` are exactly the items still queued.
//!
//! # Safety
//!
//! - A slot is written only by the producer, at index `tail`, after an Acquire load of `head`
//!   showed `tail - head < capacity`: the consumer's read of that slot (one lap earlier)
//!   happened-before its Release store of `head`.
//! - A slot is read only by the consumer, at index `head`, after an Acquire load of `tail` showed
//!   `head != tail`: the producer's write happened-before its Release store of `tail`.
//! - `Ring::drop` runs when both handles are gone (the `Arc` count reached zero, with Acquire),
//!   so it may read `head` and `tail` relaxed and drop `head..tail`.

use std::mem::MaybeUninit;

use crate::cache_padded::CachePadded;
use crate::sync::{AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// The shared heap block of one queue.
pub(crate) struct Ring<T> {
    /// Items popped so far, published by the consumer. In `tail - capacity ..= tail`.
    pub(crate) head: CachePadded<AtomicUsize>,
    /// Items pushed so far, published by the producer. In `head ..= head + capacity`.
    pub(crate) tail: CachePadded<AtomicUsize>,
    /// Set when either handle has been dropped.
    pub(crate) abandoned: AtomicBool,
    /// `capacity - 1` when the capacity is non-zero; unused otherwise.
    mask: usize,
    /// `capacity` slots; a power of two, or zero (always full).
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

impl<T> Ring<T> {
    /// Allocates a ring of `capacity` slots, rounded up to a power of two (zero stays zero).
    ///
    /// # Panics
    ///
    /// If the rounded capacity overflows `usize`.
    #[track_caller]
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = round_capacity(capacity);
        let slots = (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            abandoned: AtomicBool::new(false),
            mask: capacity.wrapping_sub(1),
            slots,
        }
    }

    /// The number of slots.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot that item number `index` lives in.
    #[inline]
    fn slot(&self, index: usize) -> &UnsafeCell<MaybeUninit<T>> {
        let i = index & self.mask;
        debug_assert!(i < self.slots.len());
        // SAFETY: callers only pass indices of owned slots, which exist only when the capacity is
        // non-zero; then `mask = capacity - 1` and `i < capacity = slots.len()`.
        unsafe { self.slots.get_unchecked(i) }
    }

    /// Moves `value` into slot `index`.
    ///
    /// # Safety
    ///
    /// The caller is the producer and slot `index` is vacant: `tail <= index` and
    /// `index - head < capacity`, with `head` read by an Acquire load.
    #[inline]
    pub(crate) unsafe fn write(&self, index: usize, value: T) {
        self.slot(index).with_mut(|slot| {
            // SAFETY: the slot is vacant and ours (the caller's contract); nothing else reads or
            // writes it until we publish `tail`.
            unsafe { slot.write(MaybeUninit::new(value)) };
        });
    }

    /// Moves the value out of slot `index`, leaving it vacant.
    ///
    /// # Safety
    ///
    /// The caller is the consumer and slot `index` is occupied: `head <= index < tail`, with
    /// `tail` read by an Acquire load, and the value is not read again.
    #[inline]
    pub(crate) unsafe fn read(&self, index: usize) -> T {
        self.slot(index).with(|slot| {
            // SAFETY: the slot is occupied and initialized (the caller's contract), and the
            // producer does not touch it until we publish a `head` past `index`.
            unsafe { (*slot).assume_init_read() }
        })
    }

    /// The slots holding items `start .. start + len` as at most two runs of contiguous slots
    /// (the second starts at slot 0 when the range wraps around the end of the ring).
    #[inline]
    fn runs(&self, start: usize, len: usize) -> [&[UnsafeCell<MaybeUninit<T>>]; 2] {
        debug_assert!(len <= self.capacity());
        if len == 0 {
            return [&[], &[]];
        }
        let first = start & self.mask;
        let to_end = self.capacity() - first;
        if len <= to_end {
            [&self.slots[first..first + len], &[]]
        } else {
            [&self.slots[first..], &self.slots[..len - to_end]]
        }
    }

    /// Copies `values` into the slots of items `start .. start + values.len()`.
    ///
    /// # Safety
    ///
    /// The caller is the producer and all those slots are vacant (see [`Ring::write`]).
    #[inline]
    pub(crate) unsafe fn write_slice(&self, start: usize, values: &[T])
    where
        T: Copy,
    {
        let [a, b] = self.runs(start, values.len());
        let (va, vb) = values.split_at(a.len());
        // SAFETY: the slots are vacant and ours (the caller's contract).
        unsafe {
            copy_to_slots(va, a);
            copy_to_slots(vb, b);
        }
    }

    /// Copies the items `start .. start + out.len()` into `out`, leaving their slots vacant.
    ///
    /// # Safety
    ///
    /// The caller is the consumer and all those slots are occupied (see [`Ring::read`]).
    #[inline]
    pub(crate) unsafe fn read_slice(&self, start: usize, out: &mut [T])
    where
        T: Copy,
    {
        let [a, b] = self.runs(start, out.len());
        let (oa, ob) = out.split_at_mut(a.len());
        // SAFETY: the slots are occupied and ours to read (the caller's contract).
        unsafe {
            copy_from_slots(a, oa);
            copy_from_slots(b, ob);
        }
    }

    /// Borrows the value in slot `index`.
    ///
    /// # Safety
    ///
    /// As for [`Ring::read`], and the slot stays occupied while the borrow lives.
    #[inline]
    pub(crate) unsafe fn peek(&self, index: usize) -> &T {
        self.slot(index).with(|slot| {
            // SAFETY: the slot is occupied and initialized (the caller's contract) and is not
            // written while `&self` of the consumer, which the borrow extends, is held.
            unsafe { (*slot).assume_init_ref() }
        })
    }
}

/// `capacity` rounded up to a power of two (zero stays zero).
///
/// # Panics
///
/// If the rounded capacity overflows `usize`.
#[track_caller]
pub(crate) fn round_capacity(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        capacity
            .checked_next_power_of_two()
            .expect("spsc capacity overflows usize")
    }
}

/// Copies `src` into the vacant `slots` (same length).
///
/// # Safety
///
/// The slots are vacant and owned by the caller, and nobody else accesses them meanwhile.
#[inline]
unsafe fn copy_to_slots<T: Copy>(src: &[T], slots: &[UnsafeCell<MaybeUninit<T>>]) {
    debug_assert_eq!(src.len(), slots.len());
    #[cfg(not(loom))]
    {
        // `sync::UnsafeCell<MaybeUninit<T>>` is `repr(transparent)` over `MaybeUninit<T>`, which
        // has `T`'s layout, so the slots are a contiguous `[T]` of the same length.
        let dst = slots.as_ptr() as *mut T;
        // SAFETY: `dst` is valid for `src.len()` writes (the slots exist and are ours), `src`
        // for as many reads, and a caller's `&[T]` cannot overlap the ring's own slots.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
    }
    #[cfg(loom)]
    for (slot, &value) in slots.iter().zip(src) {
        // SAFETY: the slot is vacant and ours (the caller's contract); loom checks the access.
        slot.with_mut(|slot| unsafe { slot.write(MaybeUninit::new(value)) });
    }
}

/// Copies the occupied `slots` into `dst` (same length).
///
/// # Safety
///
/// The slots are occupied (initialized) and owned by the caller, and nobody writes them
/// meanwhile.
#[inline]
unsafe fn copy_from_slots<T: Copy>(slots: &[UnsafeCell<MaybeUninit<T>>], dst: &mut [T]) {
    debug_assert_eq!(slots.len(), dst.len());
    #[cfg(not(loom))]
    {
        // Layout as in `copy_to_slots`.
        let src = slots.as_ptr() as *const T;
        // SAFETY: `src` is valid for `dst.len()` reads of initialized `T`s (the caller's
        // contract), `dst` for as many writes, and `&mut [T]` cannot overlap the ring's slots.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
    }
    #[cfg(loom)]
    for (slot, out) in slots.iter().zip(dst) {
        // SAFETY: the slot is occupied and ours to read (the caller's contract).
        *out = slot.with(|slot| unsafe { (*slot).assume_init() });
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Relaxed: both handles are gone, and the `Arc` drop that got us here synchronized with
        // their last stores (each handle publishes its index before it lets go).
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut index = head;
        while index != tail {
            // SAFETY: `head..tail` are the occupied slots, and no handle is left to read them.
            drop(unsafe { self.read(index) });
            index = index.wrapping_add(1);
        }
    }
}
