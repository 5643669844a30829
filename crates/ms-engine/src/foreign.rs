//! [`Foreign<T>`]: a shard's value that may travel to other shards and come home to be
//! dropped (Seastar's `foreign_ptr`).
//!
//! # Safety
//!
//! `Foreign<T>` is `Send` for every `T`, including `!Send` ones such as `Rc`. That is sound
//! because the `T` is only ever *used* on its home thread, the shard thread that made it:
//!
//! - [`get`](Foreign::get), [`get_mut`](Foreign::get_mut), [`into_inner`](Foreign::into_inner)
//!   and `Deref` check that the calling thread is home before they hand out the `T`
//!   (returning `None`, an `Err`, or panicking otherwise). A borrow of the `T` borrows the
//!   `Foreign`, so the wrapper cannot move to another thread while the borrow lives.
//! - `Drop` drops the `T` only on its home thread. Elsewhere it moves the `T` (a plain
//!   memory copy that runs none of its code) into a job sent home over the mesh, where it is
//!   dropped; and if home cannot be reached (this thread is not another shard of the same
//!   engine, or the home shard's mesh is gone), it leaks the `T` rather than drop it on the
//!   wrong thread.
//!
//! Moving a value's bytes between threads without running any of its code is what `Send`
//! guards only indirectly: a `!Send` type is one whose *use* (clone, drop, deref) on two
//! threads could race. This is the argument of the `send_wrapper` crate, and of
//! `foreign_ptr` in Seastar.
//!
//! Home is a [`Home`](crate::engine::Home): an engine run number (never reused) and a shard.
//! Each run starts fresh threads, so a `Home` names exactly one thread, ever.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use crate::engine::{Home, current_home};

/// A value of one shard that may be sent to others, and comes home to be dropped.
///
/// Make it on the value's home shard with [`Foreign::new`]; send it anywhere (it is `Send`
/// even if `T` is not). Only on the home shard can the value be reached ([`get`](Self::get),
/// `*foreign`, [`into_inner`](Self::into_inner)). Dropped on another shard of the same
/// engine, it is sent home over the mesh and dropped there. Dropped where home cannot be
/// reached (after the engine has stopped, on a thread outside it, or once the home shard has
/// ended), the value is leaked, never dropped on the wrong thread. The module docs argue why
/// this is sound.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ms_engine::Foreign;
///
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let shared = Foreign::new(Rc::new(String::from("mine")));
///         assert_eq!(shared.get().map(|s| s.as_str()), Some("mine"));
///         // Shard 1 may hold it, but not look inside; dropping it there sends it home.
///         let seen = ms_engine::submit_to(1, move || async move {
///             let visible = shared.get().is_some();
///             drop(shared);
///             visible
///         });
///         assert_eq!(seen.await, Ok(false));
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub struct Foreign<T: 'static> {
    /// Taken exactly once: by `into_inner` (which then skips `Drop`) or by `Drop`. Not an
    /// `Option`: a `Foreign` of a one-word value then fits a reply in a lane slot.
    value: ManuallyDrop<T>,
    home: Home,
}

// SAFETY: the `T` is only used (borrowed, taken or dropped) on its home thread: every accessor
// checks the thread first and `Drop` ships the value home or leaks it (see the module docs).
// Sending the wrapper only moves the `T`'s bytes, which runs none of its code.
unsafe impl<T: 'static> Send for Foreign<T> {}

impl<T: 'static> Foreign<T> {
    /// Wraps `value`, whose home is the shard running on this thread.
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    #[track_caller]
    pub fn new(value: T) -> Self {
        let home = current_home().expect("Foreign::new called outside an engine shard");
        Self {
            value: ManuallyDrop::new(value),
            home,
        }
    }

    /// The shard the value belongs to.
    pub fn home(&self) -> usize {
        self.home.shard
    }

    /// Whether this thread is the value's home shard.
    pub fn is_home(&self) -> bool {
        current_home() == Some(self.home)
    }

    /// The value, on its home shard; `None` on any other thread.
    pub fn get(&self) -> Option<&T> {
        if self.is_home() {
            Some(&self.value)
        } else {
            None
        }
    }

    /// The value, mutably, on its home shard; `None` on any other thread.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.is_home() {
            Some(&mut self.value)
        } else {
            None
        }
    }

    /// Unwraps the value on its home shard; elsewhere gives the `Foreign` back.
    ///
    /// # Errors
    ///
    /// `Err(self)` when called away from the value's home shard.
    pub fn into_inner(self) -> Result<T, Self> {
        if !self.is_home() {
            return Err(self);
        }
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the value is taken here once and only here.
        Ok(unsafe { ManuallyDrop::take(&mut this.value) })
    }

    #[track_caller]
    fn expect_home(&self) {
        if !self.is_home() {
            let here = crate::try_shard_id().map_or_else(
                || "a thread outside the engine".to_owned(),
                |s| format!("shard {s}"),
            );
            panic!(
                "Foreign value of shard {} used on {here}; use `get` to check first",
                self.home.shard
            );
        }
    }
}

/// Dereferences to the value on its home shard.
///
/// # Panics
///
/// Away from the value's home shard (see [`Foreign::get`] for a checked access).
impl<T: 'static> Deref for Foreign<T> {
    type Target = T;

    #[track_caller]
    fn deref(&self) -> &T {
        self.expect_home();
        &self.value
    }
}

/// Dereferences to the value mutably on its home shard.
///
/// # Panics
///
/// Away from the value's home shard (see [`Foreign::get_mut`] for a checked access).
impl<T: 'static> DerefMut for Foreign<T> {
    #[track_caller]
    fn deref_mut(&mut self) -> &mut T {
        self.expect_home();
        &mut self.value
    }
}

impl<T: 'static> Drop for Foreign<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `into_inner` (the only other taker) skips it.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        if self.is_home() {
            drop(value);
            return;
        }
        let traveller = Foreign {
            value: ManuallyDrop::new(value),
            home: self.home,
        };
        // On the home shard, the job drops the traveller, which is home there. It travels as a
        // request: work for the home shard, which may await no reply.
        let (engine, shard) = (self.home.engine, self.home.shard);
        if let Err(job) =
            crate::mesh::try_send(engine, shard, crate::mesh::Class::Request, move || {
                drop(traveller)
            })
        {
            // Home is out of reach: leak the value rather than drop it on this thread.
            std::mem::forget(job);
        }
    }
}

impl<T: 'static> fmt::Debug for Foreign<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Foreign")
            .field("home", &self.home.shard)
            .finish_non_exhaustive()
    }
}
