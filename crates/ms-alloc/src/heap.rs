//! The thread-local heap: one [`ClassPool`] per size class, the allocation fast paths and
//! everything slow (growing, giving chunks back, statistics, thread exit).
//!
//! # State
//!
//! `HEAP` (a const-initialised thread-local `Cell<*mut Heap>`, so reading it is one
//! thread-pointer-relative load with no lazy-init check) holds:
//!
//! - null: this thread has not allocated yet; the slow path creates the heap and registers
//!   `GUARD`'s destructor.
//! - a pointer to this thread's boxed [`Heap`]: the pool is active.
//! - [`DESTROYED`] (address 1): `GUARD`'s destructor ran; allocations now each get an orphan
//!   chunk (see the crate docs, "Thread exit").
//!
//! A [`ClassPool`] has a *current* chunk (allocations pop from its free list; it is pinned, see
//! [`chunk`](crate::chunk)), a *partial* list of other chunks with both live and free blocks,
//! an *empty* list of chunks kept for reuse (at most `max_empty`, unless the pool holds
//! them), and a list of all its chunks. A full chunk is on no list until its first free
//! appends it to the partial list.
//!
//! The partial list is first-in first-out: when the current chunk runs out, the next one is the
//! chunk that became partial longest ago, which has had the most time to collect frees. (Last-in
//! first-out would pick a chunk with one free block under random frees, and the class would
//! switch chunks on almost every allocation.)
//!
//! # Safety
//!
//! - Everything here is per thread: the heap is reached only through this thread's `HEAP`, and
//!   chunks only through blocks of this thread (see [`chunk`](crate::chunk)).
//! - No function here calls user code or itself, and none keeps a reference to the heap across a
//!   call to another: they work through raw pointers, and the only calls out are to the system
//!   allocator and to thread-local registration. So there is no reentrancy, and no two live
//!   `&mut` to the same data. (A `#[global_allocator]` that itself allocates from ms-alloc would
//!   break this; the crate docs forbid it.)

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ptr::{self, NonNull};

use crate::chunk::{self, Chunk, NEVER};
use crate::class::{COUNT, GEOMETRY};
use crate::stats::{ClassStats, Stats};

/// The default for [`set_max_empty_chunks`](crate::set_max_empty_chunks).
pub const DEFAULT_MAX_EMPTY_CHUNKS: usize = 1;

/// `HEAP` after the thread's heap was torn down.
const DESTROYED: usize = 1;

thread_local! {
    /// This thread's heap; see the module docs for its three states.
    static HEAP: Cell<*mut Heap> = const { Cell::new(ptr::null_mut()) };
    /// Tears the heap down when the thread exits.
    static GUARD: Guard = const { Guard };
}

/// The pools of one size class.
pub(crate) struct ClassPool {
    /// The chunk allocations come from, pinned; the sentinel when there is none.
    current: *mut Chunk,
    /// Allocations served since the heap was created.
    allocations: u64,
    /// Chunks other than the current one with live and free blocks, oldest first.
    partial: List,
    /// Chunks with no live block, kept for reuse.
    empty: List,
    /// Every chunk of the class (current, partial, empty, full).
    all_head: *mut Chunk,
    /// Length of the `all` list.
    chunks: usize,
    /// Length of the `empty` list: at most `max_empty`, unless the heap holds empty chunks.
    empty_chunks: usize,
    /// The fewest empty chunks the class had since the last `release_idle_chunks`: that many
    /// were never needed in between.
    empty_low: usize,
    /// Empty chunks kept for reuse (besides the current one) before giving them back.
    max_empty: usize,
    /// Whether empty chunks past `max_empty` are held until `release_idle_chunks` (the same
    /// for every class of a heap).
    hold_empty: bool,
}

/// A thread's pools.
struct Heap {
    classes: [ClassPool; COUNT],
    max_empty: usize,
    large_live: usize,
    large_bytes: usize,
    large_allocations: u64,
}

/// Whether this thread's pool has been created, and whether it is still alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolState {
    /// This thread has not allocated from ms-alloc yet.
    Unused,
    /// The pool serves allocations from its chunks.
    Active,
    /// The thread is exiting and its pool was torn down: each allocation now gets a chunk of
    /// its own, given back when the allocation is freed (see the crate docs, "Thread exit").
    Destroyed,
}

/// This thread's pool state.
#[must_use]
pub fn pool_state() -> PoolState {
    match HEAP.get().addr() {
        0 => PoolState::Unused,
        DESTROYED => PoolState::Destroyed,
        _ => PoolState::Active,
    }
}

// ===== fast paths =====

/// Allocates one block of class `index` (a valid class index).
#[inline(always)]
pub(crate) fn alloc(index: usize) -> NonNull<u8> {
    debug_assert!(index < COUNT);
    let heap = HEAP.get();
    if heap.addr() > DESTROYED {
        // SAFETY: a non-null, non-DESTROYED `HEAP` is this thread's live heap (module Safety);
        // `current` is a live chunk of this thread or the read-only sentinel, which `pop` only
        // reads.
        unsafe {
            let class = &raw mut (*heap).classes[index];
            let block = chunk::pop((*class).current, index);
            if !block.is_null() {
                (*class).allocations += 1;
                return NonNull::new_unchecked(block.cast());
            }
        }
    }
    alloc_slow(index)
}

/// Frees `block`, of class `index`.
///
/// # Safety
///
/// `block` was returned by [`alloc`]`(index)` on this thread (that pointer, with its
/// provenance: the chunk header is reached through it) and is not used afterwards.
#[inline(always)]
pub(crate) unsafe fn dealloc(block: NonNull<u8>, index: usize) {
    // SAFETY: `block` is a live block of class `index` (caller), so its chunk is live.
    unsafe {
        let chunk = chunk::chunk_of(block, index);
        debug_assert_eq!((*chunk).index as usize, index, "freed with the wrong class");
        debug_assert!((*chunk).used > 0, "double free");
        chunk::push(chunk, block, index);
        let used = (*chunk).used - 1;
        (*chunk).used = used;
        if used == (*chunk).trigger {
            dealloc_slow(chunk);
        }
    }
}

// ===== slow paths =====

/// This thread's heap, created if needed; `None` once it was torn down (or cannot be, because
/// the thread is already running its thread-local destructors).
fn heap_or_init() -> Option<*mut Heap> {
    let heap = HEAP.get();
    match heap.addr() {
        DESTROYED => None,
        0 => {
            // Register the destructor first: if thread-locals are already being torn down, this
            // thread gets no heap.
            if GUARD.try_with(|_| ()).is_err() {
                HEAP.set(ptr::without_provenance_mut(DESTROYED));
                return None;
            }
            let heap = Box::into_raw(Box::new(Heap::new()));
            HEAP.set(heap);
            Some(heap)
        }
        _ => Some(heap),
    }
}

#[cold]
#[inline(never)]
fn alloc_slow(index: usize) -> NonNull<u8> {
    let Some(heap) = heap_or_init() else {
        return orphan_alloc(index);
    };
    // SAFETY: `heap` is this thread's live heap (module Safety); the chunks reached through it
    // are this thread's live chunks.
    unsafe {
        let class = &raw mut (*heap).classes[index];
        let current = (*class).current;
        if !chunk::is_sentinel(current) {
            // The fast path found it exhausted: retire it (unpin). It is full, so it goes on no
            // list, and its first free appends it to the partial list.
            debug_assert!((*current).free.is_null());
            (*current).used -= 1;
            debug_assert_eq!((*current).used as usize, GEOMETRY[index].blocks);
            (*current).trigger = (*current).used - 1;
            (*class).current = chunk::sentinel();
        }
        let mut next = list_pop_front(&raw mut (*class).partial);
        if next.is_null() {
            next = list_pop_front(&raw mut (*class).empty);
            if next.is_null() {
                next = new_chunk(class, index);
            } else {
                (*class).empty_chunks -= 1;
                (*class).empty_low = (*class).empty_low.min((*class).empty_chunks);
            }
        }
        (*next).used += 1; // the pin
        (*next).trigger = NEVER;
        (*class).current = next;
        let block = chunk::pop(next, index);
        debug_assert!(!block.is_null(), "a current chunk has a free block");
        (*class).allocations += 1;
        NonNull::new_unchecked(block.cast())
    }
}

/// A block from a chunk of its own, owned by no heap (used after the heap was torn down).
#[cold]
fn orphan_alloc(index: usize) -> NonNull<u8> {
    let chunk = chunk::create(index).as_ptr();
    // SAFETY: a fresh chunk with all blocks free; as an orphan (null class) its last free
    // releases it (trigger 0).
    unsafe {
        (*chunk).trigger = 0;
        let block = chunk::pop(chunk, index);
        debug_assert!(!block.is_null());
        NonNull::new_unchecked(block.cast())
    }
}

/// A free reached the chunk's `trigger`.
///
/// # Safety
///
/// `chunk` is a live chunk of this thread whose `used` just dropped to its `trigger`.
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(chunk: *mut Chunk) {
    // SAFETY: the caller guarantees a live chunk of this thread; a non-null `class` is in this
    // thread's live heap (teardown nulls it).
    unsafe {
        let class = (*chunk).class;
        if class.is_null() {
            // An orphan's last block: give it back.
            debug_assert_eq!((*chunk).used, 0);
            chunk::release(chunk);
        } else if (*chunk).used == 0 {
            // A chunk on the partial list became empty.
            debug_assert!((*chunk).listed);
            list_unlink(&raw mut (*class).partial, chunk);
            if (*class).empty_chunks < (*class).max_empty || (*class).hold_empty {
                (*class).empty_chunks += 1;
                (*chunk).trigger = NEVER;
                list_push_back(&raw mut (*class).empty, chunk);
            } else {
                all_unlink(class, chunk);
                chunk::release(chunk);
            }
        } else {
            // The first free of a full chunk: it has a free block again.
            debug_assert!(!(*chunk).listed);
            (*chunk).trigger = 0;
            list_push_back(&raw mut (*class).partial, chunk);
        }
    }
}

/// A fresh chunk of class `index`, on the `all` list of `class`.
///
/// # Safety
///
/// `class` is class `index` of this thread's live heap.
unsafe fn new_chunk(class: *mut ClassPool, index: usize) -> *mut Chunk {
    let chunk = chunk::create(index).as_ptr();
    // SAFETY: a fresh chunk, and a live class (caller).
    unsafe {
        (*chunk).class = class;
        (*chunk).all_next = (*class).all_head;
        if !(*class).all_head.is_null() {
            (*(*class).all_head).all_prev = chunk;
        }
        (*class).all_head = chunk;
        (*class).chunks += 1;
    }
    chunk
}

// ===== lists =====
// Safety for all of these: `list` is a list of a class of this thread's live heap and `chunk`
// one of that class's live chunks, in the list state each function names.

/// A doubly linked list of chunks through their `avail_prev`/`avail_next` links.
struct List {
    head: *mut Chunk,
    tail: *mut Chunk,
}

impl List {
    const fn new() -> List {
        List {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        }
    }
}

/// Appends `chunk`, which is on no list.
unsafe fn list_push_back(list: *mut List, chunk: *mut Chunk) {
    // SAFETY: see the banner above.
    unsafe {
        debug_assert!(!(*chunk).listed);
        (*chunk).listed = true;
        (*chunk).avail_next = ptr::null_mut();
        (*chunk).avail_prev = (*list).tail;
        if (*list).tail.is_null() {
            (*list).head = chunk;
        } else {
            (*(*list).tail).avail_next = chunk;
        }
        (*list).tail = chunk;
    }
}

/// Unlinks `chunk`, which is on `list`.
unsafe fn list_unlink(list: *mut List, chunk: *mut Chunk) {
    // SAFETY: see the banner above.
    unsafe {
        debug_assert!((*chunk).listed);
        let (prev, next) = ((*chunk).avail_prev, (*chunk).avail_next);
        if prev.is_null() {
            (*list).head = next;
        } else {
            (*prev).avail_next = next;
        }
        if next.is_null() {
            (*list).tail = prev;
        } else {
            (*next).avail_prev = prev;
        }
        (*chunk).avail_prev = ptr::null_mut();
        (*chunk).avail_next = ptr::null_mut();
        (*chunk).listed = false;
    }
}

/// Unlinks and returns the first chunk of `list`, or null.
unsafe fn list_pop_front(list: *mut List) -> *mut Chunk {
    // SAFETY: see the banner above.
    unsafe {
        let chunk = (*list).head;
        if !chunk.is_null() {
            list_unlink(list, chunk);
        }
        chunk
    }
}

/// Unlinks `chunk` from the `all` list of `class`.
unsafe fn all_unlink(class: *mut ClassPool, chunk: *mut Chunk) {
    // SAFETY: see the banner above.
    unsafe {
        let (prev, next) = ((*chunk).all_prev, (*chunk).all_next);
        if prev.is_null() {
            (*class).all_head = next;
        } else {
            (*prev).all_next = next;
        }
        if !next.is_null() {
            (*next).all_prev = prev;
        }
        (*chunk).all_prev = ptr::null_mut();
        (*chunk).all_next = ptr::null_mut();
        (*class).chunks -= 1;
    }
}

// ===== large allocations =====

/// Allocates `layout` (non-zero size) from the system allocator, counted in the statistics.
pub(crate) fn large_alloc(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0);
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc::alloc(layout) };
    let Some(ptr) = NonNull::new(ptr) else {
        alloc::handle_alloc_error(layout)
    };
    if let Some(heap) = heap_or_init() {
        // SAFETY: this thread's live heap (module Safety).
        unsafe {
            (*heap).large_live += 1;
            (*heap).large_bytes += layout.size();
            (*heap).large_allocations += 1;
        }
    }
    ptr
}

/// Frees what [`large_alloc`] returned.
///
/// # Safety
///
/// `ptr` came from `large_alloc(layout)` on this thread and is not used afterwards.
pub(crate) unsafe fn large_dealloc(ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: allocated by the system allocator with this layout (caller).
    unsafe { alloc::dealloc(ptr.as_ptr(), layout) };
    let heap = HEAP.get();
    if heap.addr() > DESTROYED {
        // SAFETY: this thread's live heap (module Safety). The heap existed when the block was
        // allocated (`large_alloc` creates it), so the block was counted.
        unsafe {
            debug_assert!((*heap).large_live > 0);
            (*heap).large_live -= 1;
            (*heap).large_bytes -= layout.size();
        }
    }
}

// ===== configuration, statistics, teardown =====

/// Sets how many empty chunks each class of this thread's pool keeps for reuse (besides the
/// chunk it allocates from); a chunk that becomes empty beyond that is given back to the system
/// allocator at once (unless the pool holds empty chunks: see [`set_hold_empty_chunks`]).
/// Lowering the limit gives back the surplus now, unless the pool holds them.
///
/// The default is [`DEFAULT_MAX_EMPTY_CHUNKS`]. Does nothing once the pool was torn down.
pub fn set_max_empty_chunks(max: usize) {
    let Some(heap) = heap_or_init() else { return };
    // SAFETY: this thread's live heap (module Safety).
    unsafe {
        (*heap).max_empty = max;
        for index in 0..COUNT {
            let class = &raw mut (*heap).classes[index];
            (*class).max_empty = max;
            if !(*class).hold_empty {
                release_surplus(class, (*class).empty_chunks, (*class).max_empty);
            }
        }
    }
}

/// How many empty chunks each class of this thread's pool keeps; see [`set_max_empty_chunks`].
#[must_use]
pub fn max_empty_chunks() -> usize {
    let heap = HEAP.get();
    if heap.addr() > DESTROYED {
        // SAFETY: this thread's live heap (module Safety).
        unsafe { (*heap).max_empty }
    } else {
        DEFAULT_MAX_EMPTY_CHUNKS
    }
}

/// Gives every chunk of this thread's pool that holds no live block back to the system
/// allocator now, ignoring [`max_empty_chunks`], and returns how many bytes that freed.
pub fn trim() -> usize {
    sum_over_classes(|class, chunk_size| {
        // SAFETY: a class of this thread's live heap, and its live chunks.
        unsafe {
            let mut freed = release_surplus(class, usize::MAX, 0) * chunk_size;
            let current = (*class).current;
            if !chunk::is_sentinel(current) && (*current).used == 1 {
                (*class).current = chunk::sentinel();
                (*current).used = 0;
                all_unlink(class, current);
                chunk::release(current);
                freed += chunk_size;
            }
            freed
        }
    })
}

/// Sums `f(class, chunk size)` over the classes of this thread's live heap; 0 without one.
fn sum_over_classes(mut f: impl FnMut(*mut ClassPool, usize) -> usize) -> usize {
    let heap = HEAP.get();
    if heap.addr() <= DESTROYED {
        return 0;
    }
    GEOMETRY
        .iter()
        .enumerate()
        // SAFETY: this thread's live heap (module Safety); taking a field's address only.
        .map(|(index, g)| f(unsafe { &raw mut (*heap).classes[index] }, g.chunk_size))
        .sum()
}

/// Sets whether empty chunks past [`max_empty_chunks`] are held for reuse until
/// [`release_idle_chunks`] gives back those that stayed unused (`true`), or given back as soon
/// as they become empty (`false`, the default). Turning it off gives back the surplus now.
///
/// Holding suits a thread that allocates in bursts and runs a loop that can call
/// [`release_idle_chunks`] now and then (ms-reactor's event loop does, once a second): a burst
/// then reuses the chunks of the last one instead of taking them from the system allocator
/// again, while memory no burst needed goes back within a period.
///
/// Does nothing once the pool was torn down.
///
/// # Examples
///
/// ```
/// ms_alloc::set_hold_empty_chunks(true);
/// let burst: Vec<_> = (0..100_000).map(ms_alloc::PoolBox::new).collect();
/// let held = ms_alloc::stats().chunks();
/// drop(burst);
/// assert_eq!(ms_alloc::stats().chunks(), held, "held for the next burst");
/// // Nothing allocated since the last call: none of them was needed.
/// ms_alloc::release_idle_chunks();
/// ms_alloc::release_idle_chunks();
/// assert!(ms_alloc::stats().chunks() < held);
/// ```
pub fn set_hold_empty_chunks(hold: bool) {
    let Some(heap) = heap_or_init() else { return };
    // SAFETY: this thread's live heap (module Safety).
    unsafe {
        for index in 0..COUNT {
            let class = &raw mut (*heap).classes[index];
            (*class).hold_empty = hold;
            (*class).empty_low = (*class).empty_chunks;
            if !hold {
                release_surplus(class, (*class).empty_chunks, (*class).max_empty);
            }
        }
    }
}

/// Gives back to the system allocator, in each class, the empty chunks past
/// [`max_empty_chunks`] that no allocation needed since the previous call (and since
/// [`set_hold_empty_chunks`] turned holding on), and returns how many bytes that freed. Only
/// useful while holding empty chunks.
pub fn release_idle_chunks() -> usize {
    sum_over_classes(|class, chunk_size| {
        // SAFETY: a class of this thread's live heap.
        unsafe {
            let freed = release_surplus(class, (*class).empty_low, (*class).max_empty);
            (*class).empty_low = (*class).empty_chunks;
            freed * chunk_size
        }
    })
}

/// How many empty chunks this thread's pool holds past [`max_empty_chunks`], across classes:
/// what [`release_idle_chunks`] may give back.
#[must_use]
pub fn held_empty_chunks() -> usize {
    sum_over_classes(|class, _| {
        // SAFETY: a class of this thread's live heap.
        unsafe { (*class).empty_chunks.saturating_sub((*class).max_empty) }
    })
}

/// Gives back up to `idle` empty chunks of `class`, keeping `keep`; returns how many.
///
/// # Safety
///
/// `class` is a class of this thread's live heap.
unsafe fn release_surplus(class: *mut ClassPool, idle: usize, keep: usize) -> usize {
    // SAFETY: a live class (caller).
    unsafe {
        let surplus = idle.min((*class).empty_chunks).saturating_sub(keep);
        for _ in 0..surplus {
            release_empty_tail(class);
        }
        surplus
    }
}

/// Releases one chunk of the empty list.
///
/// # Safety
///
/// `class` is a class of this thread's live heap with `empty_chunks > 0`.
unsafe fn release_empty_tail(class: *mut ClassPool) {
    // SAFETY: `empty_chunks` is the length of the empty list, whose chunks are live, empty
    // chunks of `class`.
    unsafe {
        let chunk = list_pop_front(&raw mut (*class).empty);
        debug_assert!(!chunk.is_null() && (*chunk).used == 0);
        all_unlink(class, chunk);
        (*class).empty_chunks -= 1;
        (*class).empty_low = (*class).empty_low.min((*class).empty_chunks);
        chunk::release(chunk);
    }
}

/// This thread's statistics for class `index`.
pub(crate) fn class_stats(index: usize) -> ClassStats {
    let heap = HEAP.get();
    let g = &GEOMETRY[index];
    let mut stats = ClassStats {
        block_size: g.block_size,
        ..ClassStats::default()
    };
    if heap.addr() <= DESTROYED {
        return stats;
    }
    // SAFETY: this thread's live heap and its live chunks (module Safety).
    unsafe {
        let class = &raw const (*heap).classes[index];
        let current = (*class).current;
        let mut chunk = (*class).all_head;
        while !chunk.is_null() {
            let live = (*chunk).used as usize - usize::from(ptr::eq(chunk, current));
            stats.live += live;
            stats.empty_chunks += usize::from(live == 0);
            chunk = (*chunk).all_next;
        }
        stats.chunks = (*class).chunks;
        stats.bytes_held = stats.chunks * g.chunk_size;
        stats.allocations = (*class).allocations;
    }
    stats
}

/// This thread's statistics.
pub(crate) fn stats() -> Stats {
    let mut stats = Stats {
        classes: std::array::from_fn(class_stats),
        ..Stats::default()
    };
    let heap = HEAP.get();
    if heap.addr() > DESTROYED {
        // SAFETY: this thread's live heap (module Safety).
        unsafe {
            stats.large_live = (*heap).large_live;
            stats.large_bytes = (*heap).large_bytes;
            stats.large_allocations = (*heap).large_allocations;
        }
    }
    stats
}

impl Heap {
    fn new() -> Heap {
        Heap {
            classes: std::array::from_fn(|_| ClassPool {
                current: chunk::sentinel(),
                allocations: 0,
                partial: List::new(),
                empty: List::new(),
                all_head: ptr::null_mut(),
                chunks: 0,
                empty_chunks: 0,
                empty_low: 0,
                max_empty: DEFAULT_MAX_EMPTY_CHUNKS,
                hold_empty: false,
            }),
            max_empty: DEFAULT_MAX_EMPTY_CHUNKS,
            large_live: 0,
            large_bytes: 0,
            large_allocations: 0,
        }
    }
}

/// Its destructor tears this thread's heap down.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let heap = HEAP.replace(ptr::without_provenance_mut(DESTROYED));
        if heap.addr() > DESTROYED {
            // SAFETY: the heap was live and `HEAP` no longer points to it, so nothing else will
            // reach it.
            unsafe { teardown(heap) };
        }
    }
}

/// Gives back every chunk with no live block, turns the others into orphans (released by their
/// last free) and frees the heap.
///
/// # Safety
///
/// `heap` is this thread's heap, unreachable through `HEAP`.
unsafe fn teardown(heap: *mut Heap) {
    // SAFETY: the heap and its chunks are live (caller); each chunk is either released or
    // detached from the heap before the heap is freed, so no chunk keeps a dangling `class`.
    unsafe {
        for index in 0..COUNT {
            let class = &raw mut (*heap).classes[index];
            let current = (*class).current;
            if !chunk::is_sentinel(current) {
                (*current).used -= 1; // unpin
            }
            let mut chunk = (*class).all_head;
            while !chunk.is_null() {
                let next = (*chunk).all_next;
                if (*chunk).used == 0 {
                    chunk::release(chunk);
                } else {
                    (*chunk).class = ptr::null_mut();
                    (*chunk).trigger = 0;
                    (*chunk).listed = false;
                    (*chunk).avail_prev = ptr::null_mut();
                    (*chunk).avail_next = ptr::null_mut();
                    (*chunk).all_prev = ptr::null_mut();
                    (*chunk).all_next = ptr::null_mut();
                }
                chunk = next;
            }
        }
        drop(Box::from_raw(heap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::index_for;

    /// Walks a class's lists and checks them against its counters.
    fn check_invariants(index: usize) {
        let heap = HEAP.get();
        assert!(heap.addr() > DESTROYED);
        // SAFETY: this thread's live heap.
        unsafe {
            let class = &raw const (*heap).classes[index];
            let current = (*class).current;
            let (mut n, mut empty_listed) = (0, 0);
            let mut chunk = (*class).all_head;
            while !chunk.is_null() {
                n += 1;
                let c = &*chunk;
                if ptr::eq(chunk, current) {
                    assert!(c.used >= 1 && c.trigger == NEVER && !c.listed);
                } else if c.listed {
                    assert!(!c.free.is_null());
                    if c.used == 0 {
                        empty_listed += 1;
                        assert_eq!(c.trigger, NEVER);
                    } else {
                        assert_eq!(c.trigger, 0);
                    }
                } else {
                    assert!(c.free.is_null());
                    assert_eq!(c.used as usize, GEOMETRY[index].blocks);
                    assert_eq!(c.trigger, c.used - 1);
                }
                chunk = c.all_next;
            }
            assert_eq!(n, (*class).chunks);
            assert_eq!(empty_listed, (*class).empty_chunks);
            assert!((*class).empty_chunks <= (*class).max_empty);
            // The lists hold what they should.
            let (mut partial, mut empty) = (0, 0);
            let mut chunk = (*class).partial.head;
            while !chunk.is_null() {
                assert!((*chunk).used > 0 && !(*chunk).free.is_null());
                partial += 1;
                chunk = (*chunk).avail_next;
            }
            let mut chunk = (*class).empty.head;
            while !chunk.is_null() {
                assert_eq!((*chunk).used, 0);
                empty += 1;
                chunk = (*chunk).avail_next;
            }
            assert_eq!(empty, (*class).empty_chunks);
            let current = usize::from(!chunk::is_sentinel((*class).current));
            assert!(partial + empty + current <= (*class).chunks);
        }
    }

    #[test]
    fn lists_stay_consistent_through_growth_and_shrink() {
        let index = index_for(256, 8).unwrap();
        let per_chunk = GEOMETRY[index].blocks;
        let mut blocks: Vec<NonNull<u8>> = (0..per_chunk * 5 + 3).map(|_| alloc(index)).collect();
        check_invariants(index);
        // Free every other block, then the rest, checking as we go.
        let mut odd = Vec::new();
        for (i, b) in blocks.drain(..).enumerate() {
            if i % 2 == 0 {
                // SAFETY: allocated above, freed once.
                unsafe { dealloc(b, index) };
            } else {
                odd.push(b);
            }
            if i % 97 == 0 {
                check_invariants(index);
            }
        }
        check_invariants(index);
        for b in odd {
            // SAFETY: allocated above, freed once.
            unsafe { dealloc(b, index) };
        }
        check_invariants(index);
        assert_eq!(class_stats(index).live, 0);
        assert!(class_stats(index).chunks <= 1 + max_empty_chunks());
    }
}
