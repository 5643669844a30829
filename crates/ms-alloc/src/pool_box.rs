//! [`PoolBox<T>`]: a `Box` whose memory comes from the calling thread's pool.

use std::borrow::{Borrow, BorrowMut};
use std::cmp::Ordering;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::pool::Pool;

/// An owned `T` in memory from the calling thread's pool: `Box<T>` without the global allocator.
///
/// Allocation and free are a pop and a push on a thread-local free list (see the crate docs).
/// Zero-sized types allocate nothing; types larger than
/// [`MAX_POOLED_SIZE`](crate::MAX_POOLED_SIZE) or aligned to more than
/// [`MAX_POOLED_ALIGN`](crate::MAX_POOLED_ALIGN) go to the system allocator.
///
/// A `PoolBox` is neither `Send` nor `Sync`: its memory must return to the pool it came from,
/// which is the calling thread's.
///
/// # Examples
///
/// ```
/// use ms_alloc::PoolBox;
///
/// let mut b = PoolBox::new(vec![1, 2, 3]);
/// b.push(4);
/// assert_eq!(*b, [1, 2, 3, 4]);
/// let v: Vec<i32> = PoolBox::into_inner(b);
/// assert_eq!(v.len(), 4);
/// ```
///
/// Pinned, for a future that must not move:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
///
/// let mut fut: Pin<ms_alloc::PoolBox<_>> = ms_alloc::PoolBox::pin(async { 40 + 2 });
/// let mut cx = Context::from_waker(Waker::noop());
/// assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(42));
/// ```
pub struct PoolBox<T> {
    ptr: NonNull<T>,
    /// Owns a `T` (for the drop checker and variance).
    _owns: PhantomData<T>,
    /// `!Send` and `!Sync`: the block belongs to this thread's pool.
    _not_send: PhantomData<*const ()>,
}

// ===== impl PoolBox =====

impl<T> PoolBox<T> {
    /// Moves `value` into a block of the calling thread's pool.
    #[inline(always)]
    #[must_use]
    pub fn new(value: T) -> PoolBox<T> {
        let ptr = Pool::<T>::alloc();
        // SAFETY: a fresh slot, valid and aligned for a `T` (dangling but aligned for a ZST).
        unsafe { ptr.write(value) };
        // SAFETY: `ptr` is a pool block of this thread holding the `T` just written.
        unsafe { PoolBox::from_raw(ptr) }
    }

    /// Moves `value` into the pool and pins it there: it will not move again until dropped.
    #[inline]
    #[must_use]
    pub fn pin(value: T) -> Pin<PoolBox<T>> {
        PoolBox::into_pin(PoolBox::new(value))
    }

    /// Pins a box. Like `Box::into_pin`: the value never moves again, because a pinned
    /// `PoolBox` gives out only `Pin<&mut T>` (or `&mut T` when `T: Unpin`).
    #[inline]
    #[must_use]
    pub fn into_pin(boxed: PoolBox<T>) -> Pin<PoolBox<T>> {
        // SAFETY: the value lives in a pool block that does not move when the `PoolBox` does,
        // and is not moved out before it is dropped: `Pin` hides `into_inner` unless `T: Unpin`.
        unsafe { Pin::new_unchecked(boxed) }
    }

    /// Moves the value out and gives the block back to the pool.
    #[inline]
    #[must_use]
    pub fn into_inner(boxed: PoolBox<T>) -> T {
        let boxed = ManuallyDrop::new(boxed);
        // SAFETY: `ptr` holds an initialised `T` that we own; the `ManuallyDrop` keeps it from
        // being dropped or freed twice. The block is freed after the value was read out.
        unsafe {
            let value = boxed.ptr.read();
            Pool::<T>::dealloc(boxed.ptr);
            value
        }
    }

    /// Gives up ownership and returns the pointer. Rebuild the box with
    /// [`from_raw`](Self::from_raw) (on this thread) to drop and free it.
    #[inline]
    #[must_use = "losing the pointer leaks the value"]
    pub fn into_raw(boxed: PoolBox<T>) -> NonNull<T> {
        ManuallyDrop::new(boxed).ptr
    }

    /// Rebuilds a box from [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    ///
    /// `ptr` came from `PoolBox::<T>::into_raw` on this same thread, and no other box was
    /// rebuilt from it.
    #[inline]
    #[must_use]
    pub unsafe fn from_raw(ptr: NonNull<T>) -> PoolBox<T> {
        PoolBox {
            ptr,
            _owns: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// Leaks the box: the value is never dropped and its block never returns to the pool (its
    /// chunk stays allocated for the life of the process).
    #[inline]
    #[must_use]
    pub fn leak<'a>(boxed: PoolBox<T>) -> &'a mut T {
        // SAFETY: the block is never freed, so the value lives for any lifetime; we own it.
        unsafe { PoolBox::into_raw(boxed).as_mut() }
    }

    /// The pointer to the value, without giving up ownership.
    #[inline]
    #[must_use]
    pub fn as_ptr(boxed: &PoolBox<T>) -> *const T {
        boxed.ptr.as_ptr()
    }
}

impl<T> Drop for PoolBox<T> {
    #[inline]
    fn drop(&mut self) {
        /// Frees the block even if `T::drop` panics (as `Box` does).
        struct Free<T>(NonNull<T>);
        impl<T> Drop for Free<T> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: the block came from `Pool::<T>::alloc` on this thread (`PoolBox` is
                // `!Send`) and its value was dropped just before.
                unsafe { Pool::<T>::dealloc(self.0) }
            }
        }
        let free = Free(self.ptr);
        if mem::needs_drop::<T>() {
            // SAFETY: the box owns an initialised `T`, dropped exactly once, here.
            unsafe { ptr::drop_in_place(self.ptr.as_ptr()) };
        }
        drop(free);
    }
}

impl<T> Deref for PoolBox<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the box owns an initialised `T`; the borrow of `self` bounds the reference.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns an initialised `T`, and `&mut self` makes this access unique.
        unsafe { self.ptr.as_mut() }
    }
}

// The pointer, not the value, is what moves: like `Box`, a `PoolBox` is always `Unpin`.
impl<T> Unpin for PoolBox<T> {}

impl<F: Future + Unpin> Future for PoolBox<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut **self).poll(cx)
    }
}

impl<T> From<T> for PoolBox<T> {
    fn from(value: T) -> PoolBox<T> {
        PoolBox::new(value)
    }
}

impl<T: Default> Default for PoolBox<T> {
    fn default() -> PoolBox<T> {
        PoolBox::new(T::default())
    }
}

impl<T: Clone> Clone for PoolBox<T> {
    fn clone(&self) -> PoolBox<T> {
        PoolBox::new((**self).clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for PoolBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T> fmt::Pointer for PoolBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&self.ptr, f)
    }
}

impl<T: PartialEq> PartialEq for PoolBox<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for PoolBox<T> {}

impl<T: PartialOrd> PartialOrd for PoolBox<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord> Ord for PoolBox<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Hash> Hash for PoolBox<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T> AsRef<T> for PoolBox<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> AsMut<T> for PoolBox<T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}

impl<T> Borrow<T> for PoolBox<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T> BorrowMut<T> for PoolBox<T> {
    fn borrow_mut(&mut self) -> &mut T {
        self
    }
}
