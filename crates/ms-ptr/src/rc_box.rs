//! The allocation behind a [`LocalPtr`](crate::LocalPtr): a count word, then the value; for a
//! [`LocalPtr::new_counted`](crate::LocalPtr::new_counted) value, also a header word in front
//! saying where its [`RefCount`] is.
//!
//! ```text
//! LocalPtr::new: pool block (ms-alloc, class of RcBox<T>)
//!                          | count: Cell<usize> | (padding to align_of::<T>) | value: T |
//!                          ^ LocalPtr points here                             ^ &T
//!
//! LocalPtr::new_counted: pool block (class of CountedBox<T>)
//! | count_offset | (pad) | count: Cell<usize> | (padding to align_of::<T>) | value: T |
//!                        ^ LocalPtr points here                             ^ &T, from_ref's
//! ```
//!
//! Both kinds of `LocalPtr` point at an [`RcBox<T>`], so `Deref`, `clone` and `from_raw` see one
//! layout; only the last drop looks at [`PINNED`] to find the whole block.
//!
//! # The count word
//!
//! - bit 0, [`PINNED`]: the allocation was made by
//!   [`LocalPtr::new_counted`](crate::LocalPtr::new_counted): the `RcBox` is the `inner` field
//!   of a [`CountedBox`], its value is never moved out (`get_mut`, `try_unwrap` and `make_mut`
//!   see a count that is never [`ONE`]) and its [`RefCount`] is *armed* until the last
//!   `LocalPtr` starts dropping the value, so `&T` can be turned back into a `LocalPtr`.
//! - bits 1.., in steps of [`ONE`]: the number of `LocalPtr`s to the allocation.
//!
//! Who touches it: every `LocalPtr` to the allocation (clone adds [`ONE`], drop subtracts it),
//! and `LocalPtr::try_from_ref` (adds [`ONE`]). All of them are on the allocating thread:
//! `LocalPtr` is `!Send`/`!Sync`, and a type with a `RefCount` is `!Sync` (so `&T` stays on the
//! thread too). A plain `Cell` is enough.
//!
//! # The header word
//!
//! [`CountedBox::count_offset`] is the byte offset of the armed `RefCount` inside the value,
//! written once by `new_counted` before the `LocalPtr` exists and only read afterwards, by the
//! last drop, which *disarms* that count before `T::drop` runs. `T::drop` gets `&mut T` and may
//! move the value out (`mem::replace` is safe); once disarmed, the moved count is an ordinary,
//! unarmed one, so `from_ref` refuses it.
//!
//! # Safety
//!
//! - The block is allocated by `ms_alloc::Pool::<RcBox<T>>` (not pinned) or
//!   `ms_alloc::Pool::<CountedBox<T>>` (pinned) and freed by the drop that takes the count below
//!   [`ONE`], after dropping the value in place, on the same thread, through a pointer that
//!   keeps the provenance of the whole block (ms-alloc masks it to find the chunk header).
//! - While the count is below [`ONE`] (only during that drop), the count is disarmed and
//!   `try_from_ref` refuses, so no new `LocalPtr` can be made from a value that is being
//!   dropped, nor from a value moved out of it.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::RefCount;

/// One `LocalPtr` in the count word.
pub(crate) const ONE: usize = 2;

/// The count-word bit of a pinned, armed allocation (see the module docs).
pub(crate) const PINNED: usize = 1;

/// The allocation of a `LocalPtr<T>`.
#[repr(C)]
pub(crate) struct RcBox<T> {
    /// See the module docs.
    pub(crate) count: Cell<usize>,
    pub(crate) value: T,
}

impl<T> RcBox<T> {
    /// Offset of `value` from the start of the box.
    pub(crate) const VALUE_OFFSET: usize = memoffset::offset_of!(RcBox<T>, value);

    /// Adds one `LocalPtr` to the count, aborting the process on overflow.
    #[inline(always)]
    pub(crate) fn inc(&self) {
        inc(&self.count);
    }

    /// The number of `LocalPtr`s.
    #[inline]
    pub(crate) fn strong(&self) -> usize {
        self.count.get() / ONE
    }

    /// Whether the calling `LocalPtr` is the only one and the value may move (not pinned).
    #[inline]
    pub(crate) fn is_unique_unpinned(&self) -> bool {
        self.count.get() == ONE
    }
}

/// Adds one `LocalPtr` to a count word, aborting the process on overflow.
#[inline(always)]
pub(crate) fn inc(count: &Cell<usize>) {
    let word = count.get();
    debug_assert!(word >= ONE, "a counted box with no LocalPtr");
    let (next, overflow) = word.overflowing_add(ONE);
    if overflow {
        abort();
    }
    count.set(next);
}

/// The allocation of a pinned `LocalPtr<T>` (made by `new_counted`): the `RcBox` the
/// `LocalPtr` points at, after a header word.
#[repr(C)]
pub(crate) struct CountedBox<T> {
    /// Byte offset of the armed `RefCount` from the start of `inner.value` (see the module
    /// docs).
    pub(crate) count_offset: usize,
    pub(crate) inner: RcBox<T>,
}

impl<T> CountedBox<T> {
    /// Offset of `inner` from the start of the block.
    pub(crate) const INNER_OFFSET: usize = memoffset::offset_of!(CountedBox<T>, inner);

    /// The block holding the `RcBox` at `inner`.
    ///
    /// # Safety
    ///
    /// `inner` points at the `inner` field of a live `CountedBox<T>` (its count word has
    /// [`PINNED`]), with the provenance of the whole block.
    #[inline(always)]
    pub(crate) unsafe fn from_inner(inner: NonNull<RcBox<T>>) -> NonNull<CountedBox<T>> {
        // SAFETY: `inner` is `INNER_OFFSET` bytes into the block (caller), so stepping back
        // stays inside the same allocation.
        unsafe { inner.byte_sub(Self::INNER_OFFSET).cast() }
    }

    /// Disarms the value's `RefCount`, before the last `LocalPtr` drops the value.
    ///
    /// # Safety
    ///
    /// As for [`from_inner`](Self::from_inner), and the value is still initialised.
    #[inline(always)]
    pub(crate) unsafe fn disarm(inner: NonNull<RcBox<T>>) {
        // SAFETY: a live `CountedBox` (caller); `count_offset` was written by `new_counted`
        // before the first `LocalPtr` existed and names a `RefCount` stored inline in the
        // value, which is still initialised (caller). Raw place projections keep the block's
        // provenance; the `RefCount` is a `Cell`, so a shared reference may write it.
        unsafe {
            let block = Self::from_inner(inner).as_ptr();
            let offset = (*block).count_offset;
            let count = (&raw const (*block).inner.value)
                .byte_add(offset)
                .cast::<RefCount>();
            (*count).disarm();
        }
    }
}

/// Aborts the process: a count overflowed, which takes `usize::MAX / 2` leaked `LocalPtr`s.
#[cold]
#[inline(never)]
pub(crate) fn abort() -> ! {
    std::process::abort()
}
