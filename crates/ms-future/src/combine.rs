//! Combinators over several futures: [`when_all`] and [`when_any`].

use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{BrokenPromise, Future, ready};

/// Collections of futures that [`when_all`] can wait for: `Vec<Future<T>>` and tuples of up to
/// six futures.
pub trait WhenAll {
    /// What the combined future resolves with: a `Vec` or a tuple of the values.
    type Output;

    /// Combines the futures; see [`when_all`].
    fn when_all(self) -> Future<Self::Output>;
}

/// Waits for every future and resolves with all their values, in order. If one of them is
/// broken, it resolves with [`BrokenPromise`] once the futures before that one have resolved
/// (they are awaited in order, so it is not fail-fast). If all are resolved already, it is
/// resolved at once, without allocating.
///
/// # Examples
///
/// ```
/// use ms_future::{promise, ready, when_all};
///
/// let mut both = when_all((ready(1), ready("one")));
/// assert_eq!(both.try_take(), Some(Ok((1, "one"))));
///
/// let (p, f) = promise();
/// let mut all = when_all(vec![ready(1), f, ready(3)]);
/// assert_eq!(all.try_take(), None);
/// p.set_value(2);
/// assert_eq!(all.try_take(), Some(Ok(vec![1, 2, 3])));
/// ```
pub fn when_all<W: WhenAll>(futures: W) -> Future<W::Output> {
    futures.when_all()
}

impl<T: 'static> WhenAll for Vec<Future<T>> {
    type Output = Vec<T>;

    fn when_all(mut self) -> Future<Vec<T>> {
        if self.iter().all(Future::is_ready) {
            let mut values = Vec::with_capacity(self.len());
            for future in &mut self {
                match future.try_take() {
                    Some(Ok(value)) => values.push(value),
                    _ => return Future::broken(),
                }
            }
            return ready(values);
        }
        Future::from_async(async move {
            let mut values = Vec::with_capacity(self.len());
            for future in self {
                values.push(future.await?);
            }
            Ok(values)
        })
    }
}

macro_rules! when_all_tuple {
    ($($name:ident: $ty:ident),+) => {
        impl<$($ty: 'static),+> WhenAll for ($(Future<$ty>,)+) {
            type Output = ($($ty,)+);

            fn when_all(self) -> Future<Self::Output> {
                let ($(mut $name,)+) = self;
                if $($name.is_ready())&&+ {
                    return match ($($name.try_take(),)+) {
                        ($(Some(Ok($name)),)+) => ready(($($name,)+)),
                        _ => Future::broken(),
                    };
                }
                Future::from_async(async move { Ok(($($name.await?,)+)) })
            }
        }
    };
}

when_all_tuple!(a: A);
when_all_tuple!(a: A, b: B);
when_all_tuple!(a: A, b: B, c: C);
when_all_tuple!(a: A, b: B, c: C, d: D);
when_all_tuple!(a: A, b: B, c: C, d: D, e: E);
when_all_tuple!(a: A, b: B, c: C, d: D, e: E, f: F);

/// Resolves with the index and value of the first of `futures` to resolve (the lowest index
/// among those already resolved), dropping the others; with [`BrokenPromise`] if that first
/// one is broken, or if `futures` is empty.
///
/// # Examples
///
/// ```
/// use ms_future::{promise, when_any};
///
/// let (slow, slow_future) = promise::<&str>();
/// let (fast, fast_future) = promise::<&str>();
/// let mut first = when_any(vec![slow_future, fast_future]);
/// assert_eq!(first.try_take(), None);
/// fast.set_value("fast");
/// assert_eq!(first.try_take(), Some(Ok((1, "fast"))));
/// assert!(slow.is_canceled());
/// ```
pub fn when_any<T: 'static>(mut futures: Vec<Future<T>>) -> Future<(usize, T)> {
    if futures.is_empty() {
        return Future::broken();
    }
    if let Some(index) = futures.iter().position(Future::is_ready) {
        let output = futures[index].try_take().expect("is_ready said so");
        return Future::from_output(output.map(|value| (index, value)));
    }
    Future::from_async(WhenAny { futures })
}

/// Polls every future until one resolves.
struct WhenAny<T> {
    futures: Vec<Future<T>>,
}

impl<T> std::future::Future for WhenAny<T> {
    type Output = Result<(usize, T), BrokenPromise>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        for (index, future) in self.futures.iter_mut().enumerate() {
            if let Poll::Ready(output) = Pin::new(future).poll(cx) {
                self.futures.clear();
                return Poll::Ready(output.map(|value| (index, value)));
            }
        }
        Poll::Pending
    }
}
