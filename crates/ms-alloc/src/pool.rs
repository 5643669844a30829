//! [`Pool<T>`]: typed, uninitialised slots of the calling thread's pool, for types that manage
//! their own memory (ms-ptr's `LocalPtr`, ms-future's shared state).

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::block::dangling;
use crate::class::{GEOMETRY, SizeClass, index_for};
use crate::heap;
use crate::stats::ClassStats;

/// The calling thread's pool for values of type `T`: the size class that fits `T`, chosen at
/// compile time, or the system allocator when `T` is larger than
/// [`MAX_POOLED_SIZE`](crate::MAX_POOLED_SIZE) or aligned to more than
/// [`MAX_POOLED_ALIGN`](crate::MAX_POOLED_ALIGN). Zero-sized types cost nothing.
///
/// `Pool` is only a namespace: its functions are associated functions, and every `T` of the
/// same size class shares the same free lists.
///
/// For a safe, owning alternative see [`PoolBox`](crate::PoolBox).
///
/// # Examples
///
/// ```
/// use ms_alloc::Pool;
///
/// let slot = Pool::<u64>::alloc();
/// // SAFETY: `slot` is a fresh, aligned slot for a `u64`; it is written before it is read and
/// // freed once, on this thread.
/// unsafe {
///     slot.write(7);
///     assert_eq!(slot.read(), 7);
///     Pool::<u64>::dealloc(slot);
/// }
/// ```
pub struct Pool<T> {
    _type: PhantomData<fn() -> T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Pool<T> {
    /// The layout of `T`.
    pub const LAYOUT: Layout = Layout::new::<T>();

    /// The size class serving `T`, or `None` for zero-sized types and for types served by the
    /// system allocator.
    pub const CLASS: Option<SizeClass> = SizeClass::for_layout(Self::LAYOUT);

    /// `Some(class index)`, or `None` for the system allocator; only for non-zero sizes.
    const INDEX: Option<usize> = if Self::LAYOUT.size() == 0 {
        None
    } else {
        index_for(Self::LAYOUT.size(), Self::LAYOUT.align())
    };

    /// Allocates an uninitialised slot for one `T`, aligned for `T`.
    ///
    /// Free it with [`dealloc`](Self::dealloc) on this same thread (or leak it).
    ///
    /// Aborts through [`std::alloc::handle_alloc_error`] if the system is out of memory.
    #[inline(always)]
    #[must_use]
    pub fn alloc() -> NonNull<T> {
        if Self::LAYOUT.size() == 0 {
            return dangling(Self::LAYOUT.align()).cast();
        }
        match Self::INDEX {
            Some(index) => heap::alloc(index).cast(),
            None => heap::large_alloc(Self::LAYOUT).cast(),
        }
    }

    /// Frees a slot from [`alloc`](Self::alloc), without dropping what it holds.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by `Pool::<T>::alloc` (or by the `alloc` of a pool of a type with the
    /// same layout) on this same thread, was not freed since, and is not used afterwards.
    ///
    /// It must be that pointer, with its provenance (or one derived from it by raw pointer
    /// arithmetic or casts, such as [`NonNull::cast`] or a `&raw mut` field projection), not
    /// one rebuilt from a `&T` or `&mut T`: the slot's chunk header is found by masking the
    /// pointer's address and is read and written through it, which a reference's narrower
    /// permission does not allow.
    #[inline(always)]
    pub unsafe fn dealloc(ptr: NonNull<T>) {
        if Self::LAYOUT.size() == 0 {
            return;
        }
        match Self::INDEX {
            // SAFETY: a live block of this class from this thread (caller).
            Some(index) => unsafe { heap::dealloc(ptr.cast(), index) },
            // SAFETY: allocated by `large_alloc` with this layout on this thread (caller).
            None => unsafe { heap::large_dealloc(ptr.cast(), Self::LAYOUT) },
        }
    }

    /// Bytes each slot really occupies: the block size of [`CLASS`](Self::CLASS), or the size of
    /// `T` for the system allocator.
    #[must_use]
    pub const fn slot_size() -> usize {
        match Self::INDEX {
            Some(index) => GEOMETRY[index].block_size,
            None => Self::LAYOUT.size(),
        }
    }

    /// The calling thread's statistics for `T`'s size class (`None` when there is none).
    #[must_use]
    pub fn stats() -> Option<ClassStats> {
        Self::CLASS.map(crate::class_stats)
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("type", &std::any::type_name::<T>())
            .field("class", &Self::CLASS)
            .finish()
    }
}
