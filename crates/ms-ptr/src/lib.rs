//! `LocalPtr<T>`: a one-word, non-atomic, reference-counted pointer allocated from the calling
//! thread's `ms_alloc` pool. Seastar's `lw_shared_ptr`, for objects that live and die on one
//! core.
//!
//! `Rc<T>` pays for a weak count and for the global allocator; `Arc<T>` also for atomics. A
//! per-core object needs neither: a [`LocalPtr`] is one word pointing at a pool block that holds
//! a count and the value, clone is a plain increment, and the last drop returns the block to
//! the thread's free list.
//!
//! # Examples
//!
//! ```
//! use ms_ptr::{LocalPtr, RefCount, RefCounted};
//!
//! // Plain sharing, like `Rc`.
//! let config = LocalPtr::new(vec![1, 2, 3]);
//! let for_worker = config.clone();
//! assert_eq!(LocalPtr::strong_count(&config), 2);
//! assert_eq!(for_worker.len(), 3);
//!
//! // Intrusive: a connection that can hand out owners of itself from `&self`.
//! struct Connection {
//!     rc: RefCount,
//!     peer: &'static str,
//! }
//! ms_ptr::ref_counted!(Connection => rc);
//!
//! impl Connection {
//!     fn on_readable(&self) -> LocalPtr<Connection> {
//!         // Keep ourselves alive for a continuation.
//!         self.local_ptr()
//!     }
//! }
//!
//! let conn = LocalPtr::new_counted(Connection { rc: RefCount::new(), peer: "10.0.0.1" });
//! let keep_alive = conn.on_readable();
//! drop(conn);
//! assert_eq!(keep_alive.peer, "10.0.0.1");
//! assert_eq!(LocalPtr::strong_count(&keep_alive), 1);
//! ```
//!
//! # Contents
//!
//! - [`LocalPtr<T>`]: `new`, `Clone`, `Drop`, `Deref`, [`ptr_eq`](LocalPtr::ptr_eq),
//!   [`strong_count`](LocalPtr::strong_count), [`get_mut`](LocalPtr::get_mut),
//!   [`try_unwrap`](LocalPtr::try_unwrap), [`make_mut`](LocalPtr::make_mut),
//!   [`pin`](LocalPtr::pin), [`into_raw`](LocalPtr::into_raw)/[`from_raw`](LocalPtr::from_raw).
//! - [`RefCount`] and [`RefCounted`]: the embedded field and the trait that finds it, so a
//!   value made by [`LocalPtr::new_counted`] can get its `LocalPtr` back from `&self`
//!   ([`LocalPtr::from_ref`], [`RefCounted::local_ptr`]).
//! - [`ref_counted!`]: implements `RefCounted` safely, checking the field at compile time.
//!
//! # Guarantees
//!
//! - `size_of::<LocalPtr<T>>() == size_of::<Option<LocalPtr<T>>>() == size_of::<usize>()`.
//! - `LocalPtr` is `!Send` and `!Sync`; a type embedding a `RefCount` is `!Sync`.
//! - A count overflow (only possible by leaking `usize::MAX / 2` pointers) aborts the process.
//! - Memory comes from `ms_alloc::Pool`, so the thread-exit rule of `ms_alloc` applies: a value
//!   still shared when its thread's pool is torn down is freed, on that thread, by its last
//!   drop.
//!
//! # The intrusive advantage, soundly
//!
//! C++'s `shared_from_this` turns `this` back into an owner. Here [`LocalPtr::from_ref`] steps
//! back from `&T` to the count in front of it (container-of, with `memoffset::offset_of!`).
//! That is only sound for values that really live in a `LocalPtr`, so such values are made by
//! [`LocalPtr::new_counted`], which *pins* them (they never move again: `get_mut` and
//! `try_unwrap` refuse) and *arms* their `RefCount`; `from_ref` on any other value (on the
//! stack, in a `Box`, a clone) finds an unarmed count and refuses. The last `LocalPtr` disarms
//! the count before the value's destructor runs, so a value that `Drop::drop` moves out of its
//! allocation is refused too. (This costs `new_counted` allocations one header word, saying
//! where the count is.) The full argument is in the docs of [`RefCounted`]'s module source and
//! of `LocalPtr::try_from_ref`.

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod local_ptr;
mod rc_box;
mod ref_counted;

pub use local_ptr::LocalPtr;
pub use ref_counted::{RefCount, RefCounted};

#[doc(hidden)]
pub use ref_counted::__private;

use static_assertions::{assert_eq_size, assert_not_impl_any};

assert_eq_size!(LocalPtr<u64>, usize);
assert_eq_size!(Option<LocalPtr<u64>>, usize);
assert_eq_size!(Option<LocalPtr<[u8; 4096]>>, usize);
assert_not_impl_any!(LocalPtr<u8>: Send, Sync);
assert_not_impl_any!(LocalPtr<std::sync::Mutex<u8>>: Send, Sync);
assert_not_impl_any!(RefCount: Sync);
