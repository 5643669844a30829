//! The state that one [`Promise`](crate::Promise) and one [`Future`](crate::Future) share.
//!
//! # Protocol
//!
//! The state lives in one pooled, non-atomically counted allocation ([`Link`]) owned by both
//! halves; whichever is dropped last frees it. Two [`Cell`]s hold it, changed only by moving a
//! whole value out and a new one in, so no borrow is ever held across user code (a waker's
//! `clone`, `wake` or `drop`, or a value's `drop`, may re-enter).
//!
//! `outcome`:
//!
//! | state     | meaning                             | next               |
//! |-----------|-------------------------------------|--------------------|
//! | `Empty`   | no value yet                        | `Value`, `Broken`  |
//! | `Value(v)`| fulfilled, not yet taken            | `Taken`            |
//! | `Broken`  | the promise was dropped unfulfilled | `Taken`            |
//! | `Taken`   | the future returned its output      | (final)            |
//!
//! `waker`: the waker of the future's last poll while the outcome is `Empty`, else `None`.
//!
//! Only the promise moves `Empty` to `Value`/`Broken` (once: it is consumed or dropped), then
//! takes and wakes the waker. Only the future moves to `Taken`, stores wakers, and clears the
//! waker when it is dropped. Every user callback runs while both cells hold a consistent
//! state: a new waker is stored before the old one is dropped.

use std::cell::Cell;
use std::task::{Context, Poll, Waker};

use crate::BrokenPromise;

/// A pointer to the shared state: pooled, one word, non-atomic count.
pub(crate) type Link<T> = ms_ptr::LocalPtr<Shared<T>>;

/// See the module docs.
enum Outcome<T> {
    Empty,
    Value(T),
    Broken,
    Taken,
}

/// The cells both halves point to.
pub(crate) struct Shared<T> {
    outcome: Cell<Outcome<T>>,
    waker: Cell<Option<Waker>>,
}

impl<T> Shared<T> {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            outcome: Cell::new(Outcome::Empty),
            waker: Cell::new(None),
        }
    }

    /// The promise's side: resolves with `outcome` and wakes the waiting task, if any.
    #[inline]
    pub(crate) fn resolve(&self, outcome: Result<T, BrokenPromise>) {
        let next = match outcome {
            Ok(value) => Outcome::Value(value),
            Err(BrokenPromise) => Outcome::Broken,
        };
        match self.outcome.replace(next) {
            Outcome::Empty => {}
            // The promise resolves once: `set_value` consumes it and its drop sees it was used.
            Outcome::Value(_) | Outcome::Broken | Outcome::Taken => {
                unreachable!("a promise resolved twice")
            }
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The future's side: the output if resolved, otherwise registers `cx`'s waker.
    ///
    /// A no-op waker (as [`Future::try_take`](crate::Future::try_take) polls with) never
    /// replaces a registered one, so a look from the side cannot lose a task's wake-up.
    ///
    /// # Panics
    ///
    /// If the output was already taken.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T, BrokenPromise>> {
        if let Some(output) = self.try_take() {
            return Poll::Ready(output);
        }
        let offered = cx.waker();
        let old = self.waker.take();
        match old {
            Some(old) if old.will_wake(offered) || offered.will_wake(Waker::noop()) => {
                self.waker.set(Some(old));
            }
            None if offered.will_wake(Waker::noop()) => {}
            old => {
                self.waker.set(Some(offered.clone()));
                drop(old);
            }
        }
        Poll::Pending
    }

    /// The output if it is there now, without registering anything.
    ///
    /// # Panics
    ///
    /// If the output was already taken.
    #[inline]
    pub(crate) fn try_take(&self) -> Option<Result<T, BrokenPromise>> {
        match self.outcome.replace(Outcome::Taken) {
            Outcome::Value(value) => Some(Ok(value)),
            Outcome::Broken => Some(Err(BrokenPromise)),
            Outcome::Empty => {
                self.outcome.set(Outcome::Empty);
                None
            }
            Outcome::Taken => panic!("ms_future::Future polled after it returned its output"),
        }
    }

    /// The output, from the state's last owner (the promise is gone, so it resolved it).
    ///
    /// # Panics
    ///
    /// If the output was already taken.
    #[inline(always)]
    pub(crate) fn into_output(self) -> Result<T, BrokenPromise> {
        let Self { outcome, waker } = self;
        // `None` in practice: the promise took it when it resolved.
        drop(waker);
        match outcome.into_inner() {
            Outcome::Value(value) => Ok(value),
            Outcome::Broken => Err(BrokenPromise),
            Outcome::Empty => unreachable!("a promise dropped without resolving its future"),
            Outcome::Taken => panic!("ms_future::Future polled after it returned its output"),
        }
    }

    /// Whether the output is there to take.
    #[inline]
    pub(crate) fn is_resolved(&self) -> bool {
        let outcome = self.outcome.replace(Outcome::Empty);
        let resolved = matches!(outcome, Outcome::Value(_) | Outcome::Broken);
        self.outcome.set(outcome);
        resolved
    }

    /// The future's side, when it is dropped: nobody waits any more.
    #[inline]
    pub(crate) fn forget_waker(&self) {
        drop(self.waker.take());
    }
}
