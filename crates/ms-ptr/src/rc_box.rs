//! The allocation behind a [`LocalPtr`](crate::LocalPtr): a count word, then the value.
//!
//! ```text
//! pool block (ms-alloc, class of RcBox<T>)
//! | count: Cell<usize> | (padding to align_of::<T>) | value: T |
//! ^ LocalPtr points here                             ^ &T, from_ref's argument
//! ```
//!
//! # The count word
//!
//! - bit 0, [`PINNED`]: the allocation was made by
//!   [`LocalPtr::new_counted`](crate::LocalPtr::new_counted): its value is never moved out
//!   (`get_mut`, `try_unwrap` and `make_mut` see a count that is never [`ONE`]) and its
//!   [`RefCount`](crate::RefCount) is *armed*, so `&T` can be turned back into a `LocalPtr`.
//! - bits 1.., in steps of [`ONE`]: the number of `LocalPtr`s to the allocation.
//!
//! Who touches it: every `LocalPtr` to the allocation (clone adds [`ONE`], drop subtracts it),
//! and `LocalPtr::try_from_ref` (adds [`ONE`]). All of them are on the allocating thread:
//! `LocalPtr` is `!Send`/`!Sync`, and a type with a `RefCount` is `!Sync` (so `&T` stays on the
//! thread too). A plain `Cell` is enough.
//!
//! # Safety
//!
//! - The block is allocated by `ms_alloc::Pool::<RcBox<T>>` and freed by the drop that takes the
//!   count below [`ONE`], after dropping the value in place, on the same thread.
//! - While the count is below [`ONE`] (only during that drop), `try_from_ref` refuses, so no
//!   new `LocalPtr` can be made from a value that is being dropped.

use std::cell::Cell;

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
        let count = self.count.get();
        debug_assert!(count >= ONE, "a counted box with no LocalPtr");
        let (next, overflow) = count.overflowing_add(ONE);
        if overflow {
            abort();
        }
        self.count.set(next);
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

/// Aborts the process: a count overflowed, which takes `usize::MAX / 2` leaked `LocalPtr`s.
#[cold]
#[inline(never)]
pub(crate) fn abort() -> ! {
    std::process::abort()
}
