//! The intrusive side: [`RefCount`], the field a type embeds, and [`RefCounted`], the trait that
//! finds it, so that `&self` can be turned back into a [`LocalPtr`] (C++'s
//! `shared_from_this`).
//!
//! # Why this is sound
//!
//! [`LocalPtr::from_ref`] steps back from `&T` to the allocation in front of it
//! (container-of). That is only valid if the `T` really lives in a `LocalPtr` allocation, so
//! the `RefCount` carries one bit, *armed*, with this invariant:
//!
//! > An armed `RefCount` is a field, stored inline, of a value inside a live, pinned `LocalPtr`
//! > allocation.
//!
//! It holds because:
//!
//! 1. `RefCount::new`, `Default` and `Clone` make unarmed counts, and `RefCount` is not `Copy`
//!    (so neither is a type embedding it); only [`LocalPtr::new_counted`] arms one, after
//!    moving the value into its allocation, and checks that the count lies inside the value.
//! 2. The `RefCounted` contract (which [`ref_counted!`](crate::ref_counted) checks at compile
//!    time) says `ref_count` returns a field declared directly in `Self`, stored inline, not
//!    behind a pointer, a reference or a cell, so the count moves only when the value moves.
//! 3. A value allocated by `new_counted` never moves while it is alive: its count word has the
//!    `PINNED` bit, so `get_mut`, `try_unwrap` and `make_mut` never hand out `&mut T` or move it
//!    out, and `LocalPtr` has no `DerefMut`. It is dropped in place.
//! 4. The one `&mut T` ever made to it is the one `drop_in_place` gives `T::drop`, which may
//!    move the value out (`mem::replace(self, ..)` is safe code). So the last `LocalPtr`
//!    *disarms* the count first: `new_counted` recorded where it is, in a header word in front
//!    of the allocation (not its address: a moved value could later land at the same address),
//!    and the drop clears the bit through it before `T::drop` runs.
//! 5. `RefCount` is `!Sync`, so a `T` that embeds one is `!Sync` and `&T` cannot reach another
//!    thread, where it would race on the non-atomic count.
//!
//! While the last `LocalPtr` drops the value, the count is disarmed (and the count word below
//! one), so `from_ref` refuses: a destructor can neither resurrect its own value nor turn a
//! value it moved out into a `LocalPtr`.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::LocalPtr;

/// The field a [`RefCounted`] type embeds: it marks values that live in a
/// [`LocalPtr::new_counted`] allocation, so that [`LocalPtr::from_ref`] can find that allocation
/// from `&T`.
///
/// Create it with [`RefCount::new`] (or `Default`); cloning, comparing or hashing a value that
/// embeds it ignores it (clones get a fresh, unarmed count). It is `!Sync`.
pub struct RefCount {
    /// Set by `LocalPtr::new_counted` once the value is in its pinned allocation.
    armed: Cell<bool>,
}

impl RefCount {
    /// An unarmed count, for a value that is not yet in a `LocalPtr`.
    #[inline]
    #[must_use]
    pub const fn new() -> RefCount {
        RefCount {
            armed: Cell::new(false),
        }
    }

    /// Whether the value embedding this count lives in a [`LocalPtr::new_counted`] allocation.
    #[inline]
    #[must_use]
    pub fn is_armed(&self) -> bool {
        self.armed.get()
    }

    /// Marks the count as living in a pinned allocation (only `LocalPtr::new_counted` calls it).
    #[inline]
    pub(crate) fn arm(&self) {
        assert!(!self.is_armed(), "RefCount armed twice");
        self.armed.set(true);
    }

    /// Marks the count as no longer in a live allocation (only the last `LocalPtr` calls it,
    /// before dropping the value).
    #[inline]
    pub(crate) fn disarm(&self) {
        self.armed.set(false);
    }
}

impl Default for RefCount {
    fn default() -> RefCount {
        RefCount::new()
    }
}

impl Clone for RefCount {
    /// A fresh, unarmed count: the clone is a new value, not in any `LocalPtr` yet.
    fn clone(&self) -> RefCount {
        RefCount::new()
    }
}

impl fmt::Debug for RefCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefCount")
            .field("armed", &self.is_armed())
            .finish()
    }
}

/// Counts never make two values differ.
impl PartialEq for RefCount {
    fn eq(&self, _: &RefCount) -> bool {
        true
    }
}

impl Eq for RefCount {}

impl PartialOrd for RefCount {
    fn partial_cmp(&self, other: &RefCount) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RefCount {
    fn cmp(&self, _: &RefCount) -> Ordering {
        Ordering::Equal
    }
}

impl Hash for RefCount {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// A type that embeds a [`RefCount`], so `&self` can become a [`LocalPtr<Self>`] again (when the
/// value was made by [`LocalPtr::new_counted`]).
///
/// Implement it with [`ref_counted!`](crate::ref_counted), which checks the contract at compile
/// time.
///
/// # Safety
///
/// `ref_count` must always return the same field of `self`, of type `RefCount`, declared
/// directly in `Self`, which must be a struct:
///
/// - stored inline (not behind a pointer, a reference, a `Box`, an `Rc` or any cell), so that
///   the count moves if and only if the value moves;
/// - not a field of a field: for `struct B(A)` where `A: RefCounted`, returning
///   `&self.0.rc` (`A`'s count) is unsound, because `LocalPtr::new_counted::<B>` would arm a
///   count that `LocalPtr::from_ref::<A>(&b.0)` then takes for the count of an `RcBox<A>`,
///   while it lives in an `RcBox<B>`.
///
/// `Self` must also stay `!Sync` (an embedded `RefCount` makes it so): an `unsafe impl Sync`
/// on a `RefCounted` type is unsound, as `&Self` on another thread could call `from_ref` and
/// race on the non-atomic count.
///
/// See the module docs of this trait for why `from_ref` relies on these.
pub unsafe trait RefCounted: Sized {
    /// The embedded count.
    fn ref_count(&self) -> &RefCount;

    /// A new `LocalPtr` to `self`: C++'s `shared_from_this`. See [`LocalPtr::from_ref`].
    ///
    /// # Panics
    ///
    /// If `self` does not live in a [`LocalPtr::new_counted`] allocation.
    #[inline]
    #[track_caller]
    fn local_ptr(&self) -> LocalPtr<Self> {
        LocalPtr::from_ref(self)
    }

    /// A new `LocalPtr` to `self`, or `None` if it does not live in a
    /// [`LocalPtr::new_counted`] allocation. See [`LocalPtr::try_from_ref`].
    #[inline]
    fn try_local_ptr(&self) -> Option<LocalPtr<Self>> {
        LocalPtr::try_from_ref(self)
    }
}

/// Implements [`RefCounted`] for a struct through its `RefCount` field, checking at compile time
/// that the field is a direct field of the struct and of type `RefCount` exactly (not a
/// reference, `Box` or `Rc` to one).
///
/// ```
/// use ms_ptr::{LocalPtr, RefCount, RefCounted};
///
/// struct Session {
///     name: String,
///     count: RefCount,
/// }
/// ms_ptr::ref_counted!(Session => count);
///
/// // Generic types list their generics in brackets; tuple structs name the field by index.
/// struct Node<T>(RefCount, T);
/// ms_ptr::ref_counted!([T] Node<T> => 0);
///
/// let s = LocalPtr::new_counted(Session { name: "a".into(), count: RefCount::new() });
/// assert_eq!(s.local_ptr().name, "a");
/// let n = LocalPtr::new_counted(Node(RefCount::new(), 3u8));
/// assert_eq!(n.local_ptr().1, 3);
/// ```
///
/// A field that only dereferences to a `RefCount` is rejected:
///
/// ```compile_fail
/// use ms_ptr::RefCount;
/// struct Shared {
///     count: std::rc::Rc<RefCount>,
/// }
/// ms_ptr::ref_counted!(Shared => count);
/// ```
///
/// ```compile_fail
/// use ms_ptr::RefCount;
/// struct Borrowed {
///     count: &'static RefCount,
/// }
/// ms_ptr::ref_counted!(Borrowed => count);
/// ```
#[macro_export]
macro_rules! ref_counted {
    ([$($generics:tt)*] $ty:ty => $field:tt) => {
        // SAFETY: the pattern proves `$field` is a direct field of the struct (patterns do not
        // auto-deref), and `exact_ref_count` accepts only `&RefCount` with no coercion (its
        // type parameter is inferred from the field's type), so the count is stored inline.
        unsafe impl<$($generics)*> $crate::RefCounted for $ty {
            #[inline]
            fn ref_count(&self) -> &$crate::RefCount {
                let Self { $field: field, .. } = self;
                $crate::__private::exact_ref_count(field)
            }
        }
    };
    ($ty:ty => $field:tt) => {
        $crate::ref_counted!([] $ty => $field);
    };
}

/// Support for [`ref_counted!`]; not public API.
#[doc(hidden)]
pub mod __private {
    use super::RefCount;

    mod sealed {
        pub trait Sealed {}
        impl Sealed for super::RefCount {}
    }

    /// Implemented by `RefCount` alone (sealed: no other crate can implement it).
    pub trait IsRefCount: sealed::Sealed {
        fn as_ref_count(&self) -> &RefCount;
    }

    impl IsRefCount for RefCount {
        #[inline(always)]
        fn as_ref_count(&self) -> &RefCount {
            self
        }
    }

    /// Accepts `&RefCount` and nothing that merely coerces to it.
    #[inline(always)]
    pub fn exact_ref_count<C: IsRefCount>(count: &C) -> &RefCount {
        count.as_ref_count()
    }
}
