//! [`BrokenPromise`]: what a future resolves to when its promise is dropped unfulfilled.

use std::fmt;

/// The error a [`Future`](crate::Future) resolves to when its [`Promise`](crate::Promise) was
/// dropped without a value: the producer went away, so the value will never come.
///
/// # Examples
///
/// ```
/// use ms_future::{BrokenPromise, promise};
///
/// let (promise, mut future) = promise::<u32>();
/// drop(promise);
/// assert_eq!(future.try_take(), Some(Err(BrokenPromise)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BrokenPromise;

impl fmt::Display for BrokenPromise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("broken promise: dropped without a value")
    }
}

impl std::error::Error for BrokenPromise {}
