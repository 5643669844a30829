//! Single-thread promises and futures whose ready path is free.
//!
//! A [`Promise`] and its [`Future`] share one pooled state with a non-atomic count: a core's
//! own one-shot values never pay for atomics or the global allocator. A [`Future`] is an
//! ordinary [`std::future::Future`] (so `async`/`.await` work with any executor) with
//! Seastar-style continuations on top: [`then`](Future::then), [`map`](Future::map),
//! [`and_then`](Future::and_then), [`when_all`] and [`when_any`]. On a resolved future they run
//! at once, inline, without allocating or scheduling anything; [`ready`] makes a resolved
//! future without allocating.
//!
//! # Examples
//!
//! ```
//! use ms_future::{BrokenPromise, promise, ready};
//!
//! let (promise, future) = promise::<u32>();
//! let mut answer = future.then(|v| ready(v + 1)).map(|v| v * 2);
//! assert_eq!(answer.try_take(), None, "nothing yet");
//! promise.set_value(20);
//! assert_eq!(answer.try_take(), Some(Ok(42)));
//!
//! // A promise dropped without a value never leaves its future hanging.
//! let (promise, mut orphan) = ms_future::promise::<u32>();
//! drop(promise);
//! assert_eq!(orphan.try_take(), Some(Err(BrokenPromise)));
//! ```
//!
//! # Types
//!
//! - [`promise`]: makes a connected [`Promise`] and [`Future`].
//! - [`Promise`]: [`set_value`](Promise::set_value); dropping it unfulfilled breaks it.
//! - [`Future`]: awaitable; [`then`](Future::then), [`map`](Future::map),
//!   [`and_then`](Future::and_then), [`try_take`](Future::try_take).
//! - [`ready`]: a resolved future, free. [`when_all`] (a `Vec` or a tuple, see [`WhenAll`])
//!   and [`when_any`].
//! - [`BrokenPromise`]: the error of a future whose promise was dropped.
//!
//! # Rules
//!
//! - Dropping an unfulfilled [`Promise`] resolves its future with [`BrokenPromise`] and wakes
//!   it: never a hang.
//! - Dropping the [`Future`] first makes [`set_value`](Promise::set_value) a no-op that drops
//!   the value; [`Promise::is_canceled`] tells beforehand.
//! - Fulfilment wakes the waker of the last poll, under any executor.
//! - Both halves are `!Send`: they belong to the core that made them.

#![forbid(unsafe_code)]
#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod combine;
mod error;
mod future;
mod promise;
mod shared;

pub use combine::{WhenAll, when_all, when_any};
pub use error::BrokenPromise;
pub use future::{Future, INLINE_DEPTH_BUDGET, ready};
pub use promise::{Promise, promise};

#[cfg(test)]
mod tests {
    use super::*;
    use static_assertions::assert_not_impl_any;

    assert_not_impl_any!(Promise<u8>: Send, Sync, Clone);
    assert_not_impl_any!(Future<u8>: Send, Sync, Clone);
}
