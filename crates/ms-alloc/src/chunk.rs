//! A chunk: one region taken from the system allocator, carved into equal blocks of one class.
//!
//! # Layout
//!
//! ```text
//! chunk start (aligned to chunk_size)
//! | Chunk header (64 B) | pad to class align | block 0 | block 1 | ... | block n-1 | tail |
//! ```
//!
//! The header is found from any block by masking the block's address with
//! `!(chunk_size - 1)`, so freeing needs neither a lookup nor a per-block header.
//!
//! # Fields
//!
//! - `free`: singly linked list of this chunk's free blocks, threaded through their first word
//!   (a [`FreeBlock`]). Every free block of the chunk is on it; it is null when all are in use.
//! - `used`: blocks handed out and not yet freed, plus one while the chunk is its class's
//!   *current* chunk (the *pin*), so the current chunk never looks empty.
//! - `trigger`: the value of `used` (after a decrement) at which a free takes the slow path:
//!   [`NEVER`] for the current chunk and for empty chunks, `0` for a chunk on the partial list
//!   (it became empty), `blocks - 1` for a full chunk on no list (its first free must put it on
//!   the partial list), `0` for an orphan (its last free releases it).
//! - `class`: the owning class of the thread's heap, or null for an *orphan* (its heap is gone;
//!   see the crate docs, "Thread exit").
//! - `avail_prev`/`avail_next`/`listed`: links of the class's partial or empty list (chunks
//!   other than the current one with at least one free block).
//! - `all_prev`/`all_next`: links of the class's list of every chunk it holds (statistics,
//!   teardown).
//!
//! # Valgrind
//!
//! With the `valgrind` feature, memcheck sees everything past the header as unaddressable
//! except the blocks in use: [`create`] closes it all, [`pop`] opens a free block's link word
//! for the one read of it and then the whole block (undefined), [`push`] writes the link and
//! closes the block, and [`release`] reopens the memory (undefined) for the system allocator.
//!
//! # Safety
//!
//! Only the thread that owns a chunk touches it: blocks are handed out by the thread-local heap
//! and may be freed only on the same thread (`PoolBox` is `!Send`, and the raw API requires it).
//! Chunks are never moved; a header stays valid until [`release`] gives the memory back, which
//! happens only once no block of the chunk is live.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use crate::class::{GEOMETRY, Geometry};
use crate::heap::ClassPool;
use crate::valgrind;

/// Bytes reserved for the header at the start of every chunk.
pub(crate) const HEADER_SIZE: usize = 64;

/// `trigger` value that no decrement reaches.
pub(crate) const NEVER: u32 = u32::MAX;

/// The first word of a free block.
#[repr(C)]
pub(crate) struct FreeBlock {
    pub(crate) next: *mut FreeBlock,
}

/// The header at the start of every chunk.
#[repr(C, align(64))]
pub(crate) struct Chunk {
    pub(crate) free: *mut FreeBlock,
    pub(crate) used: u32,
    pub(crate) trigger: u32,
    pub(crate) class: *mut ClassPool,
    pub(crate) avail_prev: *mut Chunk,
    pub(crate) avail_next: *mut Chunk,
    pub(crate) all_prev: *mut Chunk,
    pub(crate) all_next: *mut Chunk,
    /// Size class index.
    pub(crate) index: u8,
    /// On its class's available list.
    pub(crate) listed: bool,
}

const _: () = assert!(size_of::<Chunk>() == HEADER_SIZE);
const _: () = assert!(align_of::<Chunk>() <= HEADER_SIZE);
const _: () = assert!(size_of::<FreeBlock>() <= 8);

/// A chunk header that is never written: every class's `current` starts here, so the
/// allocation fast path needs no null check (its `free` is null, which sends it to the slow
/// path).
struct Sentinel(Chunk);

// SAFETY: the sentinel is never written (every writer first checks `is_sentinel`), so sharing
// it between threads shares only immutable data; its raw pointers are all null.
unsafe impl Sync for Sentinel {}

static SENTINEL: Sentinel = Sentinel(Chunk::unlisted(ptr::null_mut(), 0));

impl Chunk {
    /// A header with free list `free`, no live block, in no list, for class `index`.
    const fn unlisted(free: *mut FreeBlock, index: u8) -> Self {
        Chunk {
            free,
            used: 0,
            trigger: NEVER,
            class: ptr::null_mut(),
            avail_prev: ptr::null_mut(),
            avail_next: ptr::null_mut(),
            all_prev: ptr::null_mut(),
            all_next: ptr::null_mut(),
            index,
            listed: false,
        }
    }
}

/// The shared read-only chunk with no free block.
#[inline]
pub(crate) fn sentinel() -> *mut Chunk {
    (&raw const SENTINEL.0).cast_mut()
}

/// Whether `chunk` is the read-only sentinel.
#[inline]
pub(crate) fn is_sentinel(chunk: *mut Chunk) -> bool {
    ptr::eq(chunk, sentinel())
}

/// The layout of a chunk of class `index`.
#[inline]
fn layout(g: &Geometry) -> Layout {
    // The geometry table guarantees a power-of-two size that fits `isize`.
    match Layout::from_size_align(g.chunk_size, g.chunk_size) {
        Ok(layout) => layout,
        Err(_) => unreachable!("chunk geometry is checked at compile time"),
    }
}

/// The chunk holding `block`, a block of class `index`.
///
/// # Safety
///
/// `block` must point into a live chunk of class `index`.
#[inline(always)]
pub(crate) unsafe fn chunk_of(block: NonNull<u8>, index: usize) -> *mut Chunk {
    debug_assert!(index < GEOMETRY.len());
    let mask = GEOMETRY[index].chunk_size - 1;
    // Masking keeps the block's provenance, which covers the whole chunk allocation (blocks are
    // derived from the chunk pointer).
    block.as_ptr().map_addr(|addr| addr & !mask).cast()
}

/// Takes a chunk of class `index` from the system allocator and threads all its blocks on its
/// free list. The header's `used` is 0, `trigger` is `NEVER`, `class` is null and it is on no
/// list.
///
/// Aborts through [`alloc::handle_alloc_error`] if the system is out of memory.
pub(crate) fn create(index: usize) -> NonNull<Chunk> {
    debug_assert!(index < GEOMETRY.len());
    let g = &GEOMETRY[index];
    let layout = layout(g);
    // SAFETY: the layout has a non-zero size (at least 64 KiB).
    let base = unsafe { alloc::alloc(layout) };
    let Some(base) = NonNull::new(base) else {
        alloc::handle_alloc_error(layout)
    };
    let chunk = base.cast::<Chunk>();
    // Thread the blocks in address order, so the first allocations are adjacent.
    let mut next: *mut FreeBlock = ptr::null_mut();
    for i in (0..g.blocks).rev() {
        let offset = g.first_block + i * g.block_size;
        debug_assert!(offset + g.block_size <= g.chunk_size);
        // SAFETY: `offset` is inside the chunk allocation (checked by the geometry table).
        let block = unsafe { base.as_ptr().add(offset) }.cast::<FreeBlock>();
        // SAFETY: `block` is in bounds, aligned (to the class align, at least 8) and unused.
        unsafe { block.write(FreeBlock { next }) };
        next = block;
    }
    // SAFETY: the header fits at the start of the allocation, which is aligned to at least 64 KiB.
    unsafe { chunk.as_ptr().write(Chunk::unlisted(next, index as u8)) };
    // Everything past the header is free blocks, padding and tail: nothing the program may
    // touch until a block is handed out (`pop` opens the link it reads).
    // SAFETY: `HEADER_SIZE` < `chunk_size`, the allocation's size.
    let blocks = unsafe { base.as_ptr().add(HEADER_SIZE) };
    valgrind::make_mem_noaccess(blocks, g.chunk_size - HEADER_SIZE);
    chunk
}

/// Gives a chunk's memory back to the system allocator.
///
/// # Safety
///
/// `chunk` came from [`create`], is not the sentinel, has no live block and is on no list;
/// nothing touches it afterwards.
pub(crate) unsafe fn release(chunk: *mut Chunk) {
    debug_assert!(!is_sentinel(chunk));
    // SAFETY: the caller guarantees a live chunk header.
    let index = unsafe { (*chunk).index } as usize;
    debug_assert!(index < GEOMETRY.len());
    let g = &GEOMETRY[index];
    // The memory is the system allocator's again, which may write its own records into it.
    // SAFETY: `HEADER_SIZE` < `chunk_size`, the allocation's size.
    let blocks = unsafe { chunk.cast::<u8>().add(HEADER_SIZE) };
    valgrind::make_mem_undefined(blocks, g.chunk_size - HEADER_SIZE);
    // SAFETY: the chunk was allocated by `create` with this very layout.
    unsafe { alloc::dealloc(chunk.cast(), layout(g)) };
}

/// Pops a block off `chunk`'s free list and counts it as used, or returns null if the list is
/// empty. For valgrind, the block's link is made readable just before it is read, and the
/// block handed out is addressable with undefined contents.
///
/// # Safety
///
/// `chunk` is a live chunk of class `index` (or the sentinel) of the calling thread.
#[inline(always)]
pub(crate) unsafe fn pop(chunk: *mut Chunk, index: usize) -> *mut FreeBlock {
    debug_assert!(index < GEOMETRY.len());
    // SAFETY: the caller guarantees a live header; the sentinel is only read here (its list is
    // empty, so we return before writing). A non-null `free` is a free block of the chunk,
    // whose first word holds its link.
    unsafe {
        let block = (*chunk).free;
        if !block.is_null() {
            debug_assert_eq!((*chunk).index as usize, index);
            valgrind::make_mem_defined(block.cast(), size_of::<FreeBlock>());
            (*chunk).free = (*block).next;
            (*chunk).used += 1;
            valgrind::make_mem_undefined(block.cast(), GEOMETRY[index].block_size);
        }
        block
    }
}

/// Pushes `block`, a block of `chunk` handed out by [`pop`], back on the chunk's free list
/// (without counting it: the caller updates `used`), and marks it unaddressable for valgrind.
///
/// # Safety
///
/// `chunk` is a live chunk of class `index` of the calling thread, and `block` one of its
/// blocks in use, with the provenance of the chunk; nothing uses it afterwards.
#[inline(always)]
pub(crate) unsafe fn push(chunk: *mut Chunk, block: NonNull<u8>, index: usize) {
    debug_assert!(index < GEOMETRY.len());
    let free = block.as_ptr().cast::<FreeBlock>();
    // SAFETY: `block` is a block in use of `chunk` (caller): writable for at least a word and
    // aligned for one (blocks are aligned to at least 8), and no longer used by its owner.
    unsafe {
        free.write(FreeBlock {
            next: (*chunk).free,
        });
        (*chunk).free = free;
    }
    valgrind::make_mem_noaccess(block.as_ptr(), GEOMETRY[index].block_size);
}
