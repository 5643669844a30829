//! A bounded, lock-free, single-producer single-consumer queue: the only road between
//! Mini-SeaStar cores.
//!
//! [`channel`] makes a ring of a power-of-two number of slots and returns its two halves. The
//! [`Producer`] moves to the core that sends and the [`Consumer`] to the core that receives;
//! neither can be shared or cloned, so each index has exactly one writer and the hot path is a
//! plain load, a slot copy and one Release store. Each side keeps a cached copy of the other
//! side's index and reloads the shared one only when its cache says full or empty, so in steady
//! state the two cores touch each other's cache line once per lap, not once per item.
//!
//! # Examples
//!
//! ```
//! use std::thread;
//!
//! let (mut tx, mut rx) = ms_spsc::channel::<u64>(1024);
//! let sender = thread::spawn(move || {
//!     for i in 0..10_000 {
//!         let mut item = i;
//!         while let Err(full) = tx.try_push(item) {
//!             item = full.into_inner();
//!             std::hint::spin_loop();
//!         }
//!     }
//! });
//! let mut sum = 0;
//! let mut received = 0;
//! while received < 10_000 {
//!     for item in rx.drain() {
//!         sum += item;
//!         received += 1;
//!     }
//! }
//! sender.join().unwrap();
//! assert_eq!(sum, (0..10_000).sum::<u64>());
//! ```
//!
//! # Types
//!
//! - [`channel`]: makes a queue and returns its [`Producer`] and [`Consumer`].
//! - [`Producer`]: [`try_push`](Producer::try_push), [`push_iter`](Producer::push_iter),
//!   [`push_slice`](Producer::push_slice).
//! - [`Consumer`]: [`try_pop`](Consumer::try_pop), [`peek`](Consumer::peek),
//!   [`pop_slice`](Consumer::pop_slice), [`drain`](Consumer::drain) (a [`Drain`]).
//! - [`PushError`], [`PopError`]: what a full or empty queue answers; no value is ever lost.
//! - [`CachePadded`]: keeps a value alone on its cache line.
//! - [`stamped`]: a queue whose slots carry their own readiness, for line-sized messages sent
//!   one at a time: one cache line crosses per item instead of two, and an item sent into an
//!   empty queue goes to a mailbox, the same line every time.
//!
//! # Capacity
//!
//! The capacity is rounded up to the next power of two. A capacity of zero is allowed and makes
//! a queue that is always full: every push hands its value back and every pop finds it empty.
//!
//! # Dropping
//!
//! When either half is dropped, the other sees [`is_abandoned`](Consumer::is_abandoned). Items
//! still queued when the second half goes are dropped then, exactly once.

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod cache_padded;
mod consumer;
mod error;
mod producer;
mod ring;
pub mod stamped;
mod sync;

pub use cache_padded::CachePadded;
pub use consumer::{Consumer, Drain};
pub use error::{PopError, PushError};
pub use producer::Producer;

use sync::Arc;

/// Makes a queue of at least `capacity` slots (the next power of two; zero makes a queue that
/// is always full) and returns its two halves.
///
/// # Panics
///
/// If the rounded capacity overflows `usize`, or the slots cannot be allocated.
///
/// # Examples
///
/// ```
/// let (tx, rx) = ms_spsc::channel::<u8>(100);
/// assert_eq!(tx.capacity(), 128);
/// assert_eq!(rx.capacity(), 128);
/// ```
#[must_use]
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let ring = Arc::new(ring::Ring::new(capacity));
    (Producer::new(Arc::clone(&ring)), Consumer::new(ring))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use static_assertions::{assert_impl_all, assert_not_impl_any};
    use std::rc::Rc;

    assert_impl_all!(Producer<u8>: Send);
    assert_impl_all!(Consumer<u8>: Send);
    assert_not_impl_any!(Producer<u8>: Sync, Clone);
    assert_not_impl_any!(Consumer<u8>: Sync, Clone);
    assert_not_impl_any!(Producer<Rc<u8>>: Send);
    assert_not_impl_any!(Consumer<Rc<u8>>: Send);

    #[test]
    fn indices_sit_on_separate_cache_lines() {
        let ring = ring::Ring::<u8>::new(4);
        let head = &*ring.head as *const _ as usize;
        let tail = &*ring.tail as *const _ as usize;
        assert!(head.abs_diff(tail) >= std::mem::align_of::<CachePadded<u8>>());
        assert!(std::mem::align_of::<CachePadded<u8>>() >= 64);
    }

    #[test]
    fn cached_head_is_reloaded_only_when_full() {
        let (mut tx, mut rx) = channel::<u32>(2);
        tx.try_push(1).unwrap();
        tx.try_push(2).unwrap();
        // The consumer frees a slot, but the producer's cache still says full until it reloads.
        assert_eq!(rx.try_pop(), Ok(1));
        assert_eq!(tx.cached_head_for_test(), 0);
        tx.try_push(3).unwrap();
        assert_eq!(tx.cached_head_for_test(), 1);
    }

    #[test]
    fn indices_wrap_around_usize() {
        let (mut tx, mut rx) = channel::<u32>(4);
        let start = usize::MAX - 5;
        tx.set_indices_for_test(start);
        rx.set_indices_for_test(start);
        for i in 0..100 {
            tx.try_push(i).unwrap();
            tx.try_push(i + 1000).unwrap();
            assert_eq!(rx.len(), 2);
            assert_eq!(rx.try_pop(), Ok(i));
            assert_eq!(rx.try_pop(), Ok(i + 1000));
        }
        assert!(rx.is_empty());
    }
}
