//! [`LocalPtr<T>`]: a one-word, non-atomic, reference-counted pointer into the calling thread's
//! pool.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::{self, NonNull};

use ms_alloc::Pool;

use crate::RefCount;
use crate::rc_box::{self, CountedBox, ONE, PINNED, RcBox};
use crate::ref_counted::RefCounted;

/// A shared, reference-counted `T` owned by one thread: `Rc<T>` in one word, allocated from the
/// thread's `ms_alloc` pool.
///
/// - One machine word (`Option<LocalPtr<T>>` too); the count lives in the allocation, in front
///   of the value.
/// - Non-atomic: clone is an increment, drop a decrement. `LocalPtr` is neither `Send` nor
///   `Sync`, so the count never races.
/// - No weak pointers.
/// - A type that embeds a [`RefCount`](crate::RefCount) and implements
///   [`RefCounted`] can get its `LocalPtr` back from `&self` (see [`new_counted`] and
///   [`from_ref`]).
///
/// [`new_counted`]: LocalPtr::new_counted
/// [`from_ref`]: LocalPtr::from_ref
///
/// # Examples
///
/// ```
/// use ms_ptr::LocalPtr;
///
/// let a = LocalPtr::new(String::from("shared"));
/// let b = LocalPtr::clone(&a);
/// assert!(LocalPtr::ptr_eq(&a, &b));
/// assert_eq!(LocalPtr::strong_count(&a), 2);
/// drop(b);
/// let mut a = a;
/// LocalPtr::get_mut(&mut a).unwrap().push('!');
/// assert_eq!(LocalPtr::try_unwrap(a).unwrap(), "shared!");
/// ```
pub struct LocalPtr<T> {
    ptr: NonNull<RcBox<T>>,
    /// Owns an `RcBox<T>` (drop check, variance).
    _owns: PhantomData<RcBox<T>>,
    /// `!Send` and `!Sync`: the count is not atomic and the block belongs to this thread's pool.
    _not_send: PhantomData<*const ()>,
}

// ===== impl LocalPtr =====

impl<T> LocalPtr<T> {
    /// Allocates a box with `count` and `value` from this thread's pool.
    #[inline(always)]
    fn allocate(count: usize, value: T) -> NonNull<RcBox<T>> {
        let ptr = Pool::<RcBox<T>>::alloc();
        // SAFETY: a fresh slot, valid and aligned for an `RcBox<T>`.
        unsafe {
            ptr.write(RcBox {
                count: std::cell::Cell::new(count),
                value,
            });
        }
        ptr
    }

    /// # Safety
    ///
    /// `ptr` is a live box that this new `LocalPtr` owns one count of.
    #[inline(always)]
    unsafe fn from_box(ptr: NonNull<RcBox<T>>) -> LocalPtr<T> {
        LocalPtr {
            ptr,
            _owns: PhantomData,
            _not_send: PhantomData,
        }
    }

    #[inline(always)]
    fn inner(&self) -> &RcBox<T> {
        // SAFETY: a `LocalPtr` keeps its box alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Moves `value` into the calling thread's pool with a count of one.
    #[inline]
    #[must_use]
    pub fn new(value: T) -> LocalPtr<T> {
        // SAFETY: a fresh box with a count of one, which we own.
        unsafe { LocalPtr::from_box(LocalPtr::allocate(ONE, value)) }
    }

    /// Moves `value` into the pool and pins it: it will not move again until it is dropped.
    #[inline]
    #[must_use]
    pub fn pin(value: T) -> Pin<LocalPtr<T>> {
        // SAFETY: the value lives in a block that does not move with the pointer, and a pinned
        // `LocalPtr` gives out only `&T` (moving out needs `T: Unpin` through `Pin`'s own API),
        // as for `Rc::pin`.
        unsafe { Pin::new_unchecked(LocalPtr::new(value)) }
    }

    /// Whether `a` and `b` point to the same allocation.
    #[inline]
    #[must_use]
    pub fn ptr_eq(a: &LocalPtr<T>, b: &LocalPtr<T>) -> bool {
        a.ptr == b.ptr
    }

    /// The address of the value.
    #[inline]
    #[must_use]
    pub fn as_ptr(this: &LocalPtr<T>) -> *const T {
        // SAFETY: the box is live; this takes the field's address without reading it.
        unsafe { &raw const (*this.ptr.as_ptr()).value }
    }

    /// How many `LocalPtr`s point to this value.
    #[inline]
    #[must_use]
    pub fn strong_count(this: &LocalPtr<T>) -> usize {
        this.inner().strong()
    }

    /// A mutable reference to the value if this is its only `LocalPtr` (and it was not made by
    /// [`new_counted`](Self::new_counted), whose values never move), `None` otherwise.
    #[inline]
    #[must_use]
    pub fn get_mut(this: &mut LocalPtr<T>) -> Option<&mut T> {
        if this.inner().is_unique_unpinned() {
            // SAFETY: no other `LocalPtr` exists and none can be made while `this` is mutably
            // borrowed (`from_ref` needs an armed `RefCount`, which only pinned boxes have);
            // the value may move, as the box is not pinned.
            Some(unsafe { &mut (*this.ptr.as_ptr()).value })
        } else {
            None
        }
    }

    /// The value if this is its only `LocalPtr` (and it was not made by
    /// [`new_counted`](Self::new_counted)); the pointer back otherwise.
    #[inline]
    pub fn try_unwrap(this: LocalPtr<T>) -> Result<T, LocalPtr<T>> {
        if !this.inner().is_unique_unpinned() {
            return Err(this);
        }
        let this = ManuallyDrop::new(this);
        // SAFETY: the only `LocalPtr`: we read the value out once and free the block (on the
        // allocating thread: `LocalPtr` is `!Send`); `ManuallyDrop` prevents a second drop.
        unsafe {
            let value = ptr::read(&raw const (*this.ptr.as_ptr()).value);
            Pool::<RcBox<T>>::dealloc(this.ptr);
            Ok(value)
        }
    }

    /// A mutable reference to the value, cloning it into a new allocation first unless this is
    /// its only `LocalPtr` (clone-on-write, as `Rc::make_mut`).
    #[inline]
    pub fn make_mut(this: &mut LocalPtr<T>) -> &mut T
    where
        T: Clone,
    {
        if !this.inner().is_unique_unpinned() {
            *this = LocalPtr::new((**this).clone());
        }
        // SAFETY: now the only `LocalPtr` to an unpinned box (as in `get_mut`).
        unsafe { &mut (*this.ptr.as_ptr()).value }
    }

    /// Gives up this `LocalPtr` without decrementing the count and returns the value's address;
    /// [`from_raw`](Self::from_raw) takes it back. For type-erased handles (wakers, callbacks).
    ///
    /// The pointer is for reading (as `Rc::into_raw`'s `*const T`): writing through it, or
    /// making a `&mut T` from it, is undefined behaviour while the value is shared (other
    /// `LocalPtr`s, or `&T`s, may read it) and always for a value made by
    /// [`new_counted`](Self::new_counted), which must never move or be written through a
    /// `&mut T`.
    #[inline]
    #[must_use = "losing the pointer leaks the value"]
    pub fn into_raw(this: LocalPtr<T>) -> NonNull<T> {
        let this = ManuallyDrop::new(this);
        // SAFETY: the box is live; `value`'s address keeps the box's provenance.
        unsafe { NonNull::new_unchecked(&raw mut (*this.ptr.as_ptr()).value) }
    }

    /// Takes back a pointer from [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    ///
    /// `ptr` came from `LocalPtr::<T>::into_raw` on this same thread, and each `into_raw` is
    /// matched by at most one `from_raw`.
    #[inline]
    #[must_use]
    pub unsafe fn from_raw(ptr: NonNull<T>) -> LocalPtr<T> {
        // SAFETY: `ptr` points at the `value` field of a live box (caller), so stepping back
        // by its offset reaches the box, within the same allocation.
        unsafe { LocalPtr::from_box(ptr.byte_sub(RcBox::<T>::VALUE_OFFSET).cast()) }
    }

    /// Drops the value and frees the block; the count just fell below [`ONE`].
    #[inline(never)]
    fn drop_slow(&mut self) {
        /// Frees the block even if `T::drop` panics.
        struct Free<T> {
            ptr: NonNull<RcBox<T>>,
            pinned: bool,
        }
        impl<T> Drop for Free<T> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: the box came from this thread's pool, `Pool::<CountedBox<T>>` when
                // pinned (`ptr` is then its `inner` field, with the whole block's provenance)
                // and `Pool::<RcBox<T>>` otherwise; its value was just dropped and no
                // `LocalPtr` to it is left. `ptr` is the allocation's own pointer (never one
                // rebuilt from a reference), so its provenance covers the block.
                unsafe {
                    if self.pinned {
                        Pool::<CountedBox<T>>::dealloc(CountedBox::from_inner(self.ptr));
                    } else {
                        Pool::<RcBox<T>>::dealloc(self.ptr);
                    }
                }
            }
        }
        let pinned = self.inner().count.get() & PINNED != 0;
        let free = Free {
            ptr: self.ptr,
            pinned,
        };
        if pinned {
            // SAFETY: a pinned box is the `inner` field of a live `CountedBox` (module
            // `rc_box`), and its value is not dropped yet. Disarming before `T::drop` gets
            // `&mut T` means a value moved out of the box carries an unarmed count.
            unsafe { CountedBox::disarm(self.ptr) };
        }
        // SAFETY: the last `LocalPtr` is going; the value is dropped once, in place (it never
        // moved if pinned). `from_ref` refuses: the count is disarmed and below `ONE`.
        unsafe { ptr::drop_in_place(&raw mut (*self.ptr.as_ptr()).value) };
        drop(free);
    }
}

impl<T: RefCounted> LocalPtr<T> {
    /// Moves `value` into the pool, pins it there, and arms its [`RefCount`](crate::RefCount):
    /// from now on [`from_ref`](Self::from_ref) can turn any `&T` to it back into a `LocalPtr`.
    ///
    /// The value never moves again: [`get_mut`](Self::get_mut),
    /// [`try_unwrap`](Self::try_unwrap) never succeed on it, and [`make_mut`](Self::make_mut)
    /// clones it.
    ///
    /// # Panics
    ///
    /// If `T::ref_count` returns a `RefCount` outside the value (a broken `RefCounted` impl),
    /// or one that is already armed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_ptr::{LocalPtr, RefCount, RefCounted};
    ///
    /// struct Conn {
    ///     rc: RefCount,
    ///     id: u32,
    /// }
    /// ms_ptr::ref_counted!(Conn => rc);
    ///
    /// impl Conn {
    ///     /// Hands a new owner to a callback, from `&self` alone.
    ///     fn handle(&self) -> LocalPtr<Conn> {
    ///         self.local_ptr()
    ///     }
    /// }
    ///
    /// let conn = LocalPtr::new_counted(Conn { rc: RefCount::new(), id: 7 });
    /// let again = conn.handle();
    /// assert!(LocalPtr::ptr_eq(&conn, &again));
    /// assert_eq!(LocalPtr::strong_count(&conn), 2);
    /// assert_eq!(again.id, 7);
    /// ```
    #[inline]
    #[must_use]
    pub fn new_counted(value: T) -> LocalPtr<T> {
        // Where the count lies inside a `T`: the same in every `T`, as `ref_count` returns the
        // same field, stored inline (the `RefCounted` contract). Checked on the argument, so
        // a broken impl panics before anything is allocated.
        let count_offset = {
            let start = ptr::from_ref(&value).addr();
            let count = value.ref_count();
            let at = ptr::from_ref(count).addr();
            assert!(
                start <= at && at + size_of::<RefCount>() <= start + size_of::<T>(),
                "RefCounted::ref_count must return a field of the value"
            );
            assert!(!count.is_armed(), "RefCount armed twice");
            at - start
        };
        let block = Pool::<CountedBox<T>>::alloc();
        // SAFETY: a fresh slot, valid and aligned for a `CountedBox<T>`.
        unsafe {
            block.write(CountedBox {
                count_offset,
                inner: RcBox {
                    count: std::cell::Cell::new(ONE | PINNED),
                    value,
                },
            });
        }
        // `from_ref` rebuilds the box pointer from the value's address with this provenance,
        // which covers the whole block.
        let _ = block.as_ptr().expose_provenance();
        // SAFETY: a raw projection to a field of the live block: in bounds, never null, and it
        // keeps the block's provenance (which `drop_slow` needs to step back to the block).
        let ptr = unsafe { NonNull::new_unchecked(&raw mut (*block.as_ptr()).inner) };
        // SAFETY: `count_offset` was checked above to hold a `RefCount` inside a `T`, and the
        // value was moved, unchanged, into the block; the count is a `Cell`, so `&RefCount`
        // may set it. It is the count `drop_slow` will disarm, through the same header word.
        let count = unsafe {
            &*(&raw const (*ptr.as_ptr()).value)
                .byte_add(count_offset)
                .cast::<RefCount>()
        };
        count.arm();
        // SAFETY: a fresh, pinned box with a count of one, which we own; its header word is
        // written and its `RefCount` armed.
        unsafe { LocalPtr::from_box(ptr) }
    }

    /// A new `LocalPtr` to the value behind `value`, if it lives in a `LocalPtr` made by
    /// [`new_counted`](Self::new_counted) (so its `RefCount` is armed) that is not being dropped;
    /// `None` otherwise (for example for a value on the stack, in a `Box`, or in a `LocalPtr`
    /// made by [`new`](Self::new)).
    ///
    /// A value moved out of a `new_counted` allocation by its own `Drop` impl (which gets
    /// `&mut T`) is refused too: the last `LocalPtr` disarms the count before dropping the
    /// value.
    ///
    /// # Panics
    ///
    /// If the armed count is not in a pinned allocation, which only a `RefCounted` impl that
    /// breaks the trait's contract can cause.
    #[inline]
    #[must_use]
    pub fn try_from_ref(value: &T) -> Option<LocalPtr<T>> {
        if !value.ref_count().is_armed() {
            return None;
        }
        // Container-of: the box starts `VALUE_OFFSET` bytes before its value. The provenance
        // is the block's, exposed by `new_counted`; the pointer stays raw, so the `LocalPtr`
        // built from it can free the block (a pointer made from `&RcBox<T>` could not).
        let addr = ptr::from_ref(value).addr() - RcBox::<T>::VALUE_OFFSET;
        let raw: *mut RcBox<T> = ptr::with_exposed_provenance_mut(addr);
        // SAFETY: an armed `RefCount` is a field of a value in a live, pinned box (the
        // `RefCounted` contract and `new_counted`; armed counts never move, the last drop
        // disarms before anything can move them, and clones are unarmed), and `value` borrows
        // that value, so the box is live. Its count word is a `Cell`, borrowed alone through a
        // raw place (not the whole box), so this is fine next to `&T`.
        let count = unsafe { &(*raw).count };
        assert!(
            count.get() & PINNED == PINNED,
            "an armed RefCount outside a pinned LocalPtr (a broken RefCounted impl)"
        );
        if count.get() < ONE {
            // The last `LocalPtr` is dropping the value: it cannot be revived. (Unreachable
            // while the drop disarms first; kept as a second line.)
            return None;
        }
        rc_box::inc(count);
        // SAFETY: the box is live, `raw` is non-null (it is `value`'s address minus an offset
        // inside the same block), and we just took one count for the new `LocalPtr`.
        Some(unsafe { LocalPtr::from_box(NonNull::new_unchecked(raw)) })
    }

    /// A new `LocalPtr` to the value behind `value`: C++'s `shared_from_this`. See
    /// [`try_from_ref`](Self::try_from_ref).
    ///
    /// # Panics
    ///
    /// If `value` does not live in a `LocalPtr` made by [`new_counted`](Self::new_counted), or
    /// is being dropped.
    #[inline]
    #[must_use]
    #[track_caller]
    pub fn from_ref(value: &T) -> LocalPtr<T> {
        match LocalPtr::try_from_ref(value) {
            Some(this) => this,
            None => {
                panic!("LocalPtr::from_ref: the value is not owned by a live LocalPtr::new_counted")
            }
        }
    }
}

impl<T> Clone for LocalPtr<T> {
    #[inline(always)]
    fn clone(&self) -> LocalPtr<T> {
        self.inner().inc();
        // SAFETY: the box is live and we just took one count for the new `LocalPtr`.
        unsafe { LocalPtr::from_box(self.ptr) }
    }
}

impl<T> Drop for LocalPtr<T> {
    #[inline(always)]
    fn drop(&mut self) {
        let count = &self.inner().count;
        debug_assert!(count.get() >= ONE);
        let left = count.get() - ONE;
        count.set(left);
        if left < ONE {
            self.drop_slow();
        }
    }
}

impl<T> Deref for LocalPtr<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

// The pointer, not the value, is what moves: like `Rc`, a `LocalPtr` is always `Unpin`.
impl<T> Unpin for LocalPtr<T> {}

impl<T> From<T> for LocalPtr<T> {
    fn from(value: T) -> LocalPtr<T> {
        LocalPtr::new(value)
    }
}

impl<T: Default> Default for LocalPtr<T> {
    fn default() -> LocalPtr<T> {
        LocalPtr::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for LocalPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for LocalPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T> fmt::Pointer for LocalPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&LocalPtr::as_ptr(self), f)
    }
}

impl<T: PartialEq> PartialEq for LocalPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for LocalPtr<T> {}

impl<T: PartialOrd> PartialOrd for LocalPtr<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord> Ord for LocalPtr<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Hash> Hash for LocalPtr<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T> AsRef<T> for LocalPtr<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> Borrow<T> for LocalPtr<T> {
    fn borrow(&self) -> &T {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_word_encodes_pinning_and_strong_count() {
        let a = LocalPtr::new(5u8);
        assert_eq!(a.inner().count.get(), ONE);
        let b = a.clone();
        assert_eq!(a.inner().count.get(), 2 * ONE);
        drop(b);
        assert_eq!(RcBox::<u8>::VALUE_OFFSET, size_of::<usize>());
        assert_eq!(RcBox::<[u64; 8]>::VALUE_OFFSET, size_of::<usize>());
        #[repr(align(64))]
        struct Wide(#[allow(dead_code)] u8);
        assert_eq!(RcBox::<Wide>::VALUE_OFFSET, 64);
    }

    #[test]
    fn raw_round_trip_keeps_the_count() {
        let a = LocalPtr::new(String::from("x"));
        let b = a.clone();
        let raw = LocalPtr::into_raw(b);
        assert_eq!(LocalPtr::strong_count(&a), 2);
        // SAFETY: from `into_raw` above, taken back once.
        let b = unsafe { LocalPtr::from_raw(raw) };
        assert!(LocalPtr::ptr_eq(&a, &b));
        drop(b);
        assert_eq!(LocalPtr::strong_count(&a), 1);
    }
}
