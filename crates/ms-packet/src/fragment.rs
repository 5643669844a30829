//! [`Fragment`]: a view of contiguous bytes and what keeps them alive.

use std::ptr::NonNull;

use bytes::Bytes;

use crate::buffer::Buffer;

/// `len` bytes at `ptr`, kept alive by `owner`: a pooled buffer of ours, a foreign buffer
/// holding the `Bytes` they belong to, or nothing for `'static` data.
///
/// Invariant: `ptr .. ptr + len` are initialized bytes that nobody writes and nobody frees
/// while the fragment lives (see the buffer module's rules), and `len > 0` — except for
/// [`Fragment::EMPTY`] (dangling `ptr`, `len == 0`, no owner), which only ever stands for the
/// first fragment of an empty packet.
#[derive(Clone)]
pub(crate) struct Fragment {
    ptr: NonNull<u8>,
    len: usize,
    owner: Option<Buffer>,
}

impl Fragment {
    /// No bytes: the placeholder first fragment of an empty packet.
    pub(crate) const EMPTY: Fragment = Fragment {
        ptr: NonNull::dangling(),
        len: 0,
        owner: None,
    };

    /// The bytes `offset .. offset + len` of `buffer`.
    ///
    /// # Safety
    ///
    /// Those bytes are written, and the buffer's writer never writes them again.
    pub(crate) unsafe fn pooled(buffer: Buffer, offset: usize, len: usize) -> Self {
        debug_assert!(len > 0 && offset + len <= buffer.capacity());
        Self {
            ptr: buffer.data(offset),
            len,
            owner: Some(buffer),
        }
    }

    /// All of `bytes`, which must not be empty. Its data stays where it is (a `Bytes` never
    /// moves or changes its data while it lives); a foreign buffer keeps it alive.
    pub(crate) fn bytes(bytes: Bytes) -> Self {
        debug_assert!(!bytes.is_empty());
        Self {
            ptr: NonNull::from(bytes.as_ref()).cast(),
            len: bytes.len(),
            owner: Some(Buffer::holding(bytes)),
        }
    }

    /// All of `data`, which must not be empty.
    pub(crate) fn from_static(data: &'static [u8]) -> Self {
        debug_assert!(!data.is_empty());
        Self {
            ptr: NonNull::from(data).cast(),
            len: data.len(),
            owner: None,
        }
    }

    /// The bytes.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the type's invariant: initialized, alive while `owner` is, and unchanging.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether this is [`Fragment::EMPTY`].
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `Bytes` these bytes belong to, if they came from one.
    pub(crate) fn foreign_bytes(&self) -> Option<&Bytes> {
        self.owner.as_ref().and_then(Buffer::held_bytes)
    }

    /// Drops the first `n` bytes from the view (`0 < n < len`).
    #[inline]
    pub(crate) fn trim_front(&mut self, n: usize) {
        assert!(n < self.len, "fragment trim past its end");
        // SAFETY: `n < len`, so the new start is still inside the same owned bytes.
        self.ptr = unsafe { self.ptr.add(n) };
        self.len -= n;
    }

    /// Keeps only the first `n` bytes of the view (`0 < n <= len`).
    #[inline]
    pub(crate) fn truncate(&mut self, n: usize) {
        assert!(
            n > 0 && n <= self.len,
            "fragment truncated to nothing or beyond"
        );
        self.len = n;
    }

    /// A view of the bytes `start .. start + len` of this one (non-empty, inside it), sharing
    /// the owner.
    #[inline]
    pub(crate) fn subrange(&self, start: usize, len: usize) -> Self {
        assert!(
            len > 0 && start <= self.len && len <= self.len - start,
            "fragment subrange out of bounds"
        );
        Self {
            // SAFETY: `start + len <= self.len` (asserted), so the new start and the `len`
            // bytes after it are inside the same owned bytes (the type's invariant).
            ptr: unsafe { self.ptr.add(start) },
            len,
            owner: self.owner.clone(),
        }
    }

    /// Whether `next` continues this fragment in the same pooled buffer, so the two can be
    /// one view.
    pub(crate) fn continues_into(&self, next: &Fragment) -> bool {
        match (&self.owner, &next.owner) {
            (Some(a), Some(b)) => {
                a.same_block(b)
                    // SAFETY: `len` bytes past `ptr` are inside the same owned bytes (the
                    // invariant), so one past the end is a valid pointer to compare.
                    && unsafe { self.ptr.add(self.len) } == next.ptr
            }
            _ => false,
        }
    }

    /// Extends this view over `next`, which [`continues_into`](Self::continues_into) it.
    pub(crate) fn absorb(&mut self, next: Fragment) {
        debug_assert!(self.continues_into(&next));
        self.len += next.len;
    }
}
