//! [`Promise`]: the producing half, and [`promise`], which makes a pair.

use std::fmt;
use std::marker::PhantomData;

use crate::BrokenPromise;
use crate::future::Future;
use crate::shared::{Link, Shared};

/// The producing half of a one-shot value: [`set_value`](Promise::set_value) resolves the
/// paired [`Future`].
///
/// Dropping a promise without a value resolves the future with [`BrokenPromise`], so a waiting
/// task never hangs. If the future was dropped first, setting the value is a harmless no-op
/// (the value is dropped); [`is_canceled`](Promise::is_canceled) tells beforehand.
///
/// A promise belongs to the thread that made it (it is `!Send`): resolving a future on another
/// core goes through the engine's cross-core queues.
///
/// # Examples
///
/// ```
/// let (promise, mut future) = ms_future::promise::<&str>();
/// assert!(!future.is_ready());
/// promise.set_value("done");
/// assert_eq!(future.try_take(), Some(Ok("done")));
/// ```
#[must_use = "dropping a promise breaks it: its future resolves with BrokenPromise"]
pub struct Promise<T> {
    /// `None` once resolved.
    link: Option<Link<T>>,
    _not_send: PhantomData<*const ()>,
}

/// Makes a connected [`Promise`] and [`Future`], sharing one pooled state.
///
/// # Examples
///
/// ```
/// let (promise, future) = ms_future::promise::<u32>();
/// let doubled = future.map(|v| v * 2);
/// promise.set_value(21);
/// let mut doubled = doubled;
/// assert_eq!(doubled.try_take(), Some(Ok(42)));
/// ```
#[must_use = "the future resolves only through its promise: keep both"]
#[inline]
pub fn promise<T>() -> (Promise<T>, Future<T>) {
    let link = Link::new(Shared::new());
    let future = Future::waiting(Link::clone(&link));
    (
        Promise {
            link: Some(link),
            _not_send: PhantomData,
        },
        future,
    )
}

impl<T> Promise<T> {
    /// Resolves the future with `value` and wakes the task waiting on it, if any.
    ///
    /// If the future has been dropped, `value` is dropped here instead.
    #[inline]
    pub fn set_value(self, value: T) {
        // Resolved here, so the drop (which would break the promise) must not run.
        let mut this = std::mem::ManuallyDrop::new(self);
        if let Some(link) = this.link.take() {
            if Link::strong_count(&link) > 1 {
                link.resolve(Ok(value));
            }
        }
    }

    /// Whether the future has been dropped, so nobody will see a value.
    #[inline]
    pub fn is_canceled(&self) -> bool {
        self.link
            .as_ref()
            .is_none_or(|link| Link::strong_count(link) == 1)
    }
}

impl<T> Drop for Promise<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(link) = self.link.take() {
            if Link::strong_count(&link) > 1 {
                link.resolve(Err(BrokenPromise));
            }
        }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}
