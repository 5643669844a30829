//! The raw block API: untyped memory for byte buffers (ms-packet) and other layouts chosen at
//! run time.
//!
//! A request of at most [`MAX_POOLED_SIZE`](crate::MAX_POOLED_SIZE) bytes, aligned to at most
//! [`MAX_POOLED_ALIGN`](crate::MAX_POOLED_ALIGN), is served from the calling thread's pool and
//! may be given more bytes than asked (the whole block of its size class). Anything larger goes
//! to the system allocator, transparently. The rules mirror `std::alloc::Allocator`: free with
//! the same alignment and any size between the one asked and the one given.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::class::index_for;
use crate::heap;

/// Allocates a block for `layout` and returns it with its real length (at least
/// `layout.size()`; all of it may be used).
///
/// Zero-sized layouts get a dangling, well-aligned pointer and length 0, and cost nothing.
///
/// The block must be freed with [`deallocate`] on this same thread (or leaked).
///
/// Aborts through [`std::alloc::handle_alloc_error`] if the system is out of memory.
///
/// # Examples
///
/// ```
/// use std::alloc::Layout;
///
/// let layout = Layout::from_size_align(1000, 8).unwrap();
/// let block = ms_alloc::allocate(layout);
/// assert_eq!(block.len(), 1024); // the 1 KiB size class
/// // SAFETY: `block` came from `allocate(layout)` on this thread and is freed once.
/// unsafe { ms_alloc::deallocate(block.cast(), layout) };
/// ```
#[inline]
#[must_use]
pub fn allocate(layout: Layout) -> NonNull<[u8]> {
    if layout.size() == 0 {
        return NonNull::slice_from_raw_parts(dangling(layout.align()), 0);
    }
    match index_for(layout.size(), layout.align()) {
        Some(index) => NonNull::slice_from_raw_parts(
            heap::alloc(index),
            crate::class::GEOMETRY[index].block_size,
        ),
        None => NonNull::slice_from_raw_parts(heap::large_alloc(layout), layout.size()),
    }
}

/// A dangling pointer aligned to `align`, for zero-sized blocks.
#[inline]
pub(crate) fn dangling(align: usize) -> NonNull<u8> {
    debug_assert!(align.is_power_of_two());
    // SAFETY: an alignment is a power of two, so never zero.
    unsafe { NonNull::new_unchecked(std::ptr::without_provenance_mut(align)) }
}

/// Frees a block returned by [`allocate`].
///
/// For a safe alternative see [`PoolBox`](crate::PoolBox).
///
/// # Safety
///
/// - `ptr` was returned by [`allocate`] on this same thread and was not freed since. It must be
///   that pointer, with its provenance (or one derived from it by raw pointer arithmetic or
///   casts), not one rebuilt from a reference to part of the block: the block's chunk header
///   is found by masking the pointer's address and is read and written through it, so the
///   pointer must be allowed to access the whole chunk.
/// - `layout` has the alignment the block was allocated with, and a size between the one it was
///   allocated with and the length [`allocate`] returned (inclusive).
/// - Nothing uses the block afterwards.
#[inline]
pub unsafe fn deallocate(ptr: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    match index_for(layout.size(), layout.align()) {
        // SAFETY: any size between the asked and the given one maps to the class that served
        // the block (classes are monotonic in size, and the given size is the class's own), so
        // `ptr` is a live block of class `index` of this thread (caller).
        Some(index) => unsafe { heap::dealloc(ptr, index) },
        // SAFETY: a size above the pooled maximum was served by `large_alloc` with exactly this
        // size (a large block's length is the asked size) and alignment (caller).
        None => unsafe { heap::large_dealloc(ptr, layout) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_size_between_asked_and_given_frees() {
        for size in [1, 17, 25, 100, 1000, 40_000, 65_536] {
            let layout = Layout::from_size_align(size, 1).unwrap();
            let block = allocate(layout);
            assert!(block.len() >= size);
            let given = Layout::from_size_align(block.len(), 1).unwrap();
            // SAFETY: allocated above; `given` has a size in the allowed range.
            unsafe { deallocate(block.cast(), given) };
        }
    }
}
