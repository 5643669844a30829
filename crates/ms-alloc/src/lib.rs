//! Thread-local slab pools: per-core memory that never touches the global allocator on the hot
//! path.
//!
//! Every thread has its own pool, made of one sub-pool per [`SizeClass`] (two classes per power
//! of two, from 16 bytes to 64 KiB). A class takes *chunks* of at least 64 KiB from the system
//! allocator when it runs out and carves them into equal blocks; allocating is popping a block
//! off an intrusive free list threaded through the free blocks, freeing is pushing it back.
//! Both are O(1), touch one thread-local and one chunk header, and take no lock and no atomic.
//!
//! # Examples
//!
//! ```
//! use ms_alloc::{PoolBox, SizeClass};
//!
//! #[derive(Debug, PartialEq)]
//! struct Request {
//!     id: u64,
//!     path: [u8; 56],
//! }
//!
//! let class = SizeClass::for_layout(std::alloc::Layout::new::<Request>()).unwrap();
//! let before = ms_alloc::class_stats(class);
//!
//! let req = PoolBox::new(Request { id: 7, path: [b'/'; 56] });
//! assert_eq!(req.id, 7);
//! assert_eq!(ms_alloc::class_stats(class).live, before.live + 1);
//!
//! drop(req); // back on this thread's free list
//! let after = ms_alloc::class_stats(class);
//! assert_eq!(after.live, before.live);
//! assert_eq!(after.allocations, before.allocations + 1);
//! ```
//!
//! # Contents
//!
//! - [`PoolBox<T>`]: an owned `T` in pool memory (`Box` without the global allocator), with
//!   [`PoolBox::pin`] for futures; `!Send` and `!Sync`.
//! - [`Pool<T>`]: the typed, uninitialised slots behind it, for types that manage their own
//!   memory (ms-ptr's `LocalPtr`).
//! - [`allocate`] and [`deallocate`]: raw blocks for a [`Layout`](std::alloc::Layout) chosen at
//!   run time (byte buffers); beyond [`MAX_POOLED_SIZE`] they fall back to the system allocator.
//! - [`SizeClass`]: the classes and their geometry.
//! - [`stats`], [`class_stats`] ([`Stats`], [`ClassStats`]): live blocks, chunks, bytes held and
//!   allocations served, per class.
//! - [`set_max_empty_chunks`], [`set_hold_empty_chunks`], [`release_idle_chunks`], [`trim`]:
//!   how much free memory a pool keeps;
//!   [`pool_state`] ([`PoolState`]): whether this thread's pool is alive.
//! - [`running_on_valgrind`]: whether the program runs under valgrind (tests shrink themselves).
//!
//! # Chunks and their return
//!
//! Each chunk keeps its own free list and a count of its live blocks, and its header is found
//! from a block by masking the block's address (chunks are aligned to their size). A class
//! allocates from one *current* chunk; when that is exhausted it moves to another chunk with
//! free blocks, or takes a new one from the system. A chunk whose last live block is freed is
//! kept for reuse if its class holds fewer than [`max_empty_chunks`] empty chunks (default
//! [`DEFAULT_MAX_EMPTY_CHUNKS`]), and given back to the system allocator at once otherwise; the
//! current chunk is never given back while it is current. A thread that allocates in bursts
//! can instead hold its empty chunks ([`set_hold_empty_chunks`]) and give back, now and then,
//! those no allocation needed since the last time ([`release_idle_chunks`]): ms-reactor's event
//! loop does, once a second. [`trim`] gives back every empty chunk now.
//!
//! # Thread exit
//!
//! The rule: **a thread's pool is torn down when the thread exits; chunks that still hold live
//! blocks then become *orphans*, and an orphan is given back to the system allocator when its
//! last block is freed. Nothing is ever freed while in use, and nothing crashes.**
//!
//! In detail:
//!
//! - The pool is torn down by a thread-local destructor. Chunks with no live block are given
//!   back at once; the others are detached from the pool and kept.
//! - Blocks can only be freed on their own thread ([`PoolBox`] is `!Send`; the raw API requires
//!   it), so a block that outlives the pool is freed later in the same thread's teardown, by the
//!   destructor of another thread-local that owned it. That free goes to the orphan chunk, and
//!   the last one gives the chunk back.
//! - An allocation made after the teardown (by yet another thread-local destructor) gets a chunk
//!   of its own, an orphan from the start, given back when that block is freed. It is slow and
//!   wastes the rest of the chunk, but it is correct; [`pool_state`] tells when it happens.
//! - A block that is never freed (leaked with [`std::mem::forget`] or [`PoolBox::leak`]) keeps
//!   its chunk allocated until the process exits: a leak, never undefined behaviour.
//!
//! # Valgrind
//!
//! With the `valgrind` feature (which `cargo xtask valgrind` turns on), the pool tells memcheck
//! about its blocks through client requests: a chunk's blocks are unaddressable until handed
//! out, a block handed out is addressable with undefined contents, and a freed block is
//! unaddressable again. So memcheck reports a read or write of a freed pool block ("Invalid
//! read") and a decision on a fresh block's contents ("uninitialised value"), as it does for
//! the system allocator. The free-list link inside a free block is marked defined just before
//! the allocator reads it. Without the feature the requests are not compiled in; natively they
//! are no-ops either way.
//!
//! # Rules
//!
//! - Free a block on the thread that allocated it. The safe types enforce this (`!Send`); the
//!   `unsafe` raw API states it.
//! - Do not call ms-alloc from a `#[global_allocator]`: the pool takes its chunks from the
//!   global allocator and is not reentrant.
//!
//! # Performance
//!
//! The allocation fast path is one thread-local load, one class record (a constant offset for
//! [`PoolBox`] and [`Pool`], whose class is chosen at compile time) and a pop off the current
//! chunk's free list; the free fast path is a mask, a push and a decrement compared with the
//! chunk's `trigger` (the count at which something must happen: the chunk became empty, or was
//! full). No `RefCell` flag, no atomic, no branch on the thread-local's state beyond one
//! compare.

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod block;
mod chunk;
mod class;
mod heap;
mod pool;
mod pool_box;
mod stats;
mod valgrind;

pub use block::{allocate, deallocate};
pub use class::{MAX_POOLED_ALIGN, MAX_POOLED_SIZE, SizeClass};
pub use heap::{
    DEFAULT_MAX_EMPTY_CHUNKS, PoolState, held_empty_chunks, max_empty_chunks, pool_state,
    release_idle_chunks, set_hold_empty_chunks, set_max_empty_chunks, trim,
};
pub use pool::Pool;
pub use pool_box::PoolBox;
pub use stats::{ClassStats, Stats, class_stats, stats};
pub use valgrind::running_on_valgrind;

#[cfg(test)]
mod tests {
    use super::*;
    use static_assertions::{assert_eq_size, assert_impl_all, assert_not_impl_any};
    use std::rc::Rc;

    assert_not_impl_any!(PoolBox<u8>: Send, Sync);
    assert_not_impl_any!(PoolBox<Rc<u8>>: Send, Sync);
    assert_not_impl_any!(Pool<u8>: Send, Sync);
    assert_impl_all!(PoolBox<std::marker::PhantomPinned>: Unpin);
    assert_eq_size!(PoolBox<u64>, usize);
    assert_eq_size!(Option<PoolBox<u64>>, usize);

    #[test]
    fn pool_box_uses_the_compile_time_class() {
        assert_eq!(Pool::<[u8; 200]>::CLASS.unwrap().block_size(), 256);
        assert_eq!(Pool::<[u8; 200]>::slot_size(), 256);
        assert_eq!(Pool::<()>::CLASS, None);
        assert_eq!(Pool::<[u8; 100_000]>::CLASS, None);
        assert_eq!(Pool::<[u8; 100_000]>::slot_size(), 100_000);
    }
}
