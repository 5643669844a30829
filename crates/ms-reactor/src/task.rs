//! [`RawTask`]: a spawned future, type-erased, in a pool block of its reactor's thread.
//!
//! # Representation
//!
//! A task is the future `F` itself, moved into an ms-alloc block by `PoolBox` (so spawning
//! does not call the global allocator once the pool is warm), plus a pointer to a static
//! vtable of two functions instantiated for `F`: `poll` and `drop`. The block never moves, so
//! the future is pinned for its whole life.
//!
//! # Safety
//!
//! - `ptr` is the `PoolBox<F>::into_raw` of a live `F` for the `vtable` made for that same `F`.
//! - The task is `!Send` (it holds a raw pointer): it is polled and dropped only on the thread
//!   whose pool the block came from.
//! - It is polled only through `&mut self`, so never re-entrantly; dropping it frees the block.

use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use ms_alloc::PoolBox;

/// The functions a task needs, made for one future type.
struct Vtable {
    poll: unsafe fn(NonNull<()>, &mut Context<'_>) -> Poll<()>,
    drop: unsafe fn(NonNull<()>),
}

/// A spawned future; see the module docs.
pub(crate) struct RawTask {
    ptr: NonNull<()>,
    vtable: &'static Vtable,
}

impl RawTask {
    /// Moves `future` into this thread's pool.
    pub(crate) fn new<F: Future<Output = ()> + 'static>(future: F) -> Self {
        let ptr = PoolBox::into_raw(PoolBox::new(future)).cast::<()>();
        Self {
            ptr,
            vtable: &Vtable {
                poll: poll_raw::<F>,
                drop: drop_raw::<F>,
            },
        }
    }

    /// Polls the future once.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `ptr` and `vtable` were made together for the same `F` (module invariant),
        // and `&mut self` rules out re-entrant polls.
        unsafe { (self.vtable.poll)(self.ptr, cx) }
    }
}

impl Drop for RawTask {
    fn drop(&mut self) {
        // SAFETY: as in `poll`; the task is dropped once, here, and never used again.
        unsafe { (self.vtable.drop)(self.ptr) }
    }
}

/// # Safety
///
/// `ptr` is a live `PoolBox<F>::into_raw` block of this thread, not being polled or dropped.
unsafe fn poll_raw<F: Future<Output = ()>>(ptr: NonNull<()>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: the block holds a live `F` (the caller's contract) that never moves until it is
    // dropped in place by `drop_raw::<F>`, so pinning it is sound.
    let future = unsafe { Pin::new_unchecked(ptr.cast::<F>().as_mut()) };
    future.poll(cx)
}

/// # Safety
///
/// As for [`poll_raw`], and the task is never used again.
unsafe fn drop_raw<F>(ptr: NonNull<()>) {
    // SAFETY: the block came from `PoolBox::<F>::into_raw` on this thread (the caller's
    // contract), and this is its one release.
    drop(unsafe { PoolBox::from_raw(ptr.cast::<F>()) });
}
