//! [`Buffer`]: a pooled byte block with a non-atomic reference count in its header.
//!
//! # Layout
//!
//! One ms-alloc block: a 16-byte [`Header`] (`refs`, `capacity`), then `capacity` data bytes.
//! The capacity is the whole size class the block came from, so a buffer asked for 1000 bytes
//! may hold 1008.
//!
//! A *foreign* buffer ([`Buffer::holding`]) keeps a [`Bytes`] in its data bytes instead, so
//! that fragments over a `Bytes` share its storage with the same one-word, non-atomic owner as
//! pooled ones; the `Bytes` is dropped with the last handle. The top bit of `capacity` marks
//! it.
//!
//! # Who may touch what
//!
//! - `refs` counts the `Buffer` handles; the last one to drop frees the block, on the thread
//!   that allocated it (`Buffer` is `!Send`).
//! - Data bytes are written only through [`Buffer::spare_mut`] by the one writer that owns the
//!   region past every fragment made from the buffer, and read only through fragments over
//!   bytes written before the fragment was made. A written byte is never written again, so
//!   shared readers never see a change.

use std::alloc::Layout;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use bytes::Bytes;

/// The header at the start of every buffer block.
#[repr(C)]
struct Header {
    /// Live `Buffer` handles; in `1..=usize::MAX`.
    refs: Cell<usize>,
    /// Data bytes after the header, or `FOREIGN | size_of::<Bytes>()` for a foreign buffer.
    capacity: usize,
}

const HEADER: usize = size_of::<Header>();
/// The `capacity` bit that marks a buffer holding a `Bytes`.
const FOREIGN: usize = 1 << (usize::BITS - 1);
const ALIGN: usize = 16;
const _: () = assert!(HEADER % ALIGN == 0 && align_of::<Header>() <= ALIGN);

/// A handle to a refcounted pooled buffer.
pub(crate) struct Buffer {
    header: NonNull<Header>,
    _not_send: PhantomData<*const ()>,
}

impl Buffer {
    /// A buffer of at least `min_capacity` bytes (its whole size class).
    ///
    /// # Panics
    ///
    /// If the size overflows `isize`.
    pub(crate) fn with_capacity(min_capacity: usize) -> Self {
        let size = HEADER
            .checked_add(min_capacity)
            .expect("packet buffer size overflows");
        let layout = Layout::from_size_align(size, ALIGN).expect("packet buffer size overflows");
        let block = ms_alloc::allocate(layout);
        let header = block.cast::<Header>();
        let capacity = block.len() - HEADER;
        // SAFETY: the block is fresh, at least `HEADER` bytes long and `ALIGN`-aligned, so a
        // `Header` fits at its start.
        unsafe {
            header.write(Header {
                refs: Cell::new(1),
                capacity,
            })
        };
        Self {
            header,
            _not_send: PhantomData,
        }
    }

    /// A foreign buffer that keeps `bytes` alive; the bytes stay where they are.
    pub(crate) fn holding(bytes: Bytes) -> Self {
        let size = HEADER + size_of::<Bytes>();
        // SAFETY: `ALIGN` is a power of two and the size is small.
        let layout = unsafe { Layout::from_size_align_unchecked(size, ALIGN) };
        let block = ms_alloc::allocate(layout);
        let header = block.cast::<Header>();
        // SAFETY: the block is fresh, `ALIGN`-aligned and at least `HEADER + size_of::<Bytes>()`
        // long; `Bytes` needs 8-byte alignment, which `HEADER` (16) keeps.
        unsafe {
            header.write(Header {
                refs: Cell::new(1),
                capacity: FOREIGN | size_of::<Bytes>(),
            });
            header.cast::<u8>().add(HEADER).cast::<Bytes>().write(bytes);
        }
        Self {
            header,
            _not_send: PhantomData,
        }
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the header was written at allocation and the block lives while any handle does.
        unsafe { self.header.as_ref() }
    }

    /// Data bytes in the buffer (for a foreign one: the size of the `Bytes` it holds).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.header().capacity & !FOREIGN
    }

    /// The `Bytes` a foreign buffer holds.
    pub(crate) fn held_bytes(&self) -> Option<&Bytes> {
        if self.header().capacity & FOREIGN == 0 {
            return None;
        }
        // SAFETY: a foreign buffer's data bytes hold a live `Bytes` until the last handle goes.
        Some(unsafe { self.data(0).cast::<Bytes>().as_ref() })
    }

    /// Whether `other` is a handle to the same block.
    #[inline]
    pub(crate) fn same_block(&self, other: &Buffer) -> bool {
        self.header == other.header
    }

    /// Pointer to data byte `offset`.
    #[inline]
    pub(crate) fn data(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset <= self.capacity());
        // SAFETY: `offset <= capacity`, so the result is inside the block or one past its end.
        unsafe { self.header.cast::<u8>().add(HEADER + offset) }
    }

    /// The not-yet-written bytes `offset..capacity`, to write into.
    ///
    /// # Safety
    ///
    /// No fragment covers any byte at or past `offset` (the caller is the buffer's one writer,
    /// and `offset` is past everything it has handed out).
    pub(crate) unsafe fn spare_mut(&mut self, offset: usize) -> &mut [std::mem::MaybeUninit<u8>] {
        let len = self.capacity() - offset;
        // SAFETY: the bytes are inside the block, and no reader can see them (the contract).
        unsafe { std::slice::from_raw_parts_mut(self.data(offset).as_ptr().cast(), len) }
    }
}

impl Clone for Buffer {
    #[inline]
    fn clone(&self) -> Self {
        let refs = &self.header().refs;
        let next = refs.get().wrapping_add(1);
        refs.set(next);
        if next == 0 {
            // Wrapped: abort before anything sees the count (as `Rc` does; one `inc` and a
            // branch on its result).
            abort();
        }
        Self {
            header: self.header,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Buffer {
    #[inline]
    fn drop(&mut self) {
        let refs = &self.header().refs;
        let left = refs.get() - 1;
        refs.set(left);
        if left == 0 {
            self.free();
        }
    }
}

impl Buffer {
    /// Frees the block (and drops the `Bytes` a foreign buffer holds): the last handle is going.
    #[cold]
    fn free(&mut self) {
        if self.header().capacity & FOREIGN != 0 {
            // SAFETY: a foreign buffer's data bytes hold the `Bytes` written by `holding`, read
            // out exactly once, here, as the last handle goes.
            drop(unsafe { self.data(0).cast::<Bytes>().read() });
        }
        let size = HEADER + self.capacity();
        // SAFETY: `ALIGN` is a power of two and `size` was a valid layout's size or block length.
        let layout = unsafe { Layout::from_size_align_unchecked(size, ALIGN) };
        // SAFETY: we are the last handle; the block came from `ms_alloc::allocate` on this
        // thread (handles are `!Send`) with this alignment, and `size` lies between the size
        // asked for and the length it returned.
        unsafe { ms_alloc::deallocate(self.header.cast(), layout) };
    }
}

/// The count overflowed: more handles than bytes of memory can exist only through leaks.
#[cold]
#[inline(never)]
fn abort() -> ! {
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_the_whole_size_class() {
        let b = Buffer::with_capacity(1000);
        assert!(b.capacity() >= 1000);
        assert_eq!(b.data(0).as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn a_foreign_buffer_drops_its_bytes_with_the_last_handle() {
        let bytes = Bytes::from(vec![5u8; 10]);
        let a = Buffer::holding(bytes.clone());
        let b = a.clone();
        assert!(!bytes.is_unique());
        drop(a);
        assert!(!bytes.is_unique(), "one handle still holds it");
        drop(b);
        assert!(bytes.is_unique(), "the last handle dropped the held Bytes");
    }

    #[test]
    fn clones_share_and_the_last_frees() {
        let a = Buffer::with_capacity(64);
        let b = a.clone();
        assert_eq!(a.header().refs.get(), 2);
        assert_eq!(a.data(0), b.data(0));
        drop(a);
        assert_eq!(b.header().refs.get(), 1);
    }
}
