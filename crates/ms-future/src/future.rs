//! [`Future`]: the consuming half of a one-shot value, and its continuations.
//!
//! # Representation
//!
//! | repr          | made by                                   | allocates               |
//! |---------------|-------------------------------------------|-------------------------|
//! | `Ready(r)`    | [`ready`], a resolved `then`/`map` chain  | nothing                 |
//! | `Waiting(l)`  | [`promise`](crate::promise)               | the pooled shared state |
//! | `Deferred(f)` | a ready `then` past the depth budget      | the boxed continuation  |
//! | `Chained(s)`  | `then`/`map` on a future not yet resolved | the boxed step          |
//! | `Done`        | the output was returned                   | -                       |
//!
//! A chained step is a future that resolves to the *next* `Future<T>` (the continuation's
//! result), which then replaces the chained one in `poll`: a loop written as a continuation
//! that returns the next iteration (`fn serve() -> Future<()> { read().then(|_| serve()) }`)
//! runs in constant stack and memory, however many rounds it makes. Each `then` called on a
//! future that is *not yet resolved* wraps it one level deeper, so build long chains that way
//! (recursively), not with a million `.then`s on one pending future.
//!
//! A `then` on a resolved future runs its continuation inline, on the caller's stack. To keep a
//! recursive chain (a continuation that itself calls `then` on a ready future) from
//! overflowing the stack, a thread-local depth counter stops inlining past
//! [`INLINE_DEPTH_BUDGET`] nested continuations; the rest is deferred to the next poll, which
//! runs deferred continuations in a loop (a trampoline) rather than by recursion.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::BrokenPromise;
use crate::shared::Link;

/// How many `then` continuations may run nested inside each other, inline, before the next
/// one is deferred to the next poll.
pub const INLINE_DEPTH_BUDGET: u32 = 256;

thread_local! {
    /// Continuations running inline on this thread right now, nested.
    static INLINE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

type Output<T> = Result<T, BrokenPromise>;

/// A one-shot value that may not be there yet.
///
/// It implements [`std::future::Future`] with output `Result<T, BrokenPromise>`, so `.await`
/// works with any executor; and it offers Seastar-style continuations:
/// [`then`](Future::then) (the continuation returns a future), [`map`](Future::map) (it
/// returns a value) and [`and_then`](Future::and_then) (for results). On a future that is
/// already resolved they run at once, inline, without allocating.
///
/// A future belongs to the thread that made it (it is `!Send`).
///
/// # Examples
///
/// ```
/// use ms_future::{promise, ready};
///
/// // Ready values cost nothing: the chain runs inline.
/// let mut sum = ready(1).map(|v| v + 1).then(|v| ready(v * 10));
/// assert_eq!(sum.try_take(), Some(Ok(20)));
///
/// // A pending chain runs when the value arrives.
/// let (promise, future) = promise::<u32>();
/// let mut chained = future.map(|v| v + 1);
/// assert_eq!(chained.try_take(), None);
/// promise.set_value(41);
/// assert_eq!(chained.try_take(), Some(Ok(42)));
/// ```
#[must_use = "futures do nothing unless awaited, polled or taken"]
pub struct Future<T> {
    /// Never dropped by the field's own glue: [`Drop`] for `Future` takes it out first, so a
    /// future in a local has no drop glue that takes its address.
    repr: ManuallyDrop<Repr<T>>,
    _not_send: PhantomData<*const ()>,
}

enum Repr<T> {
    Ready(Output<T>),
    Waiting(Link<T>),
    Deferred(Box<dyn FnOnce() -> Future<T>>),
    Chained(Pin<Box<dyn std::future::Future<Output = Future<T>>>>),
    Done,
}

/// A future that is already resolved with `value`. It allocates nothing.
///
/// # Examples
///
/// ```
/// let mut f = ms_future::ready("now");
/// assert!(f.is_ready());
/// assert_eq!(f.try_take(), Some(Ok("now")));
/// ```
#[inline]
pub fn ready<T>(value: T) -> Future<T> {
    Future::from_output(Ok(value))
}

// A `Future<T>` never pins its `T`: it only moves values in and out.
impl<T> Unpin for Future<T> {}

impl<T> Future<T> {
    #[inline]
    fn from_repr(repr: Repr<T>) -> Self {
        Self {
            repr: ManuallyDrop::new(repr),
            _not_send: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn waiting(link: Link<T>) -> Self {
        Self::from_repr(Repr::Waiting(link))
    }

    /// A future already resolved with `output` (a value or [`BrokenPromise`]).
    #[inline]
    pub fn from_output(output: Result<T, BrokenPromise>) -> Self {
        Self::from_repr(Repr::Ready(output))
    }

    /// Wraps any single-thread `std` future whose output is a `Result<T, BrokenPromise>` (it
    /// is boxed: this is the slow path that pending chains take).
    #[allow(clippy::async_yields_async)] // a chained step yields the next future: see `chained`
    pub fn from_async(
        future: impl std::future::Future<Output = Result<T, BrokenPromise>> + 'static,
    ) -> Self
    where
        T: 'static,
    {
        Self::chained(async move { Future::from_output(future.await) })
    }

    /// A chained step: `step` resolves to the future that replaces this one.
    fn chained(step: impl std::future::Future<Output = Future<T>> + 'static) -> Self {
        Self::from_repr(Repr::Chained(Box::pin(step)))
    }

    /// A future already resolved with [`BrokenPromise`].
    pub fn broken() -> Self {
        Self::from_output(Err(BrokenPromise))
    }

    /// Whether the output is there to take now, without running anything.
    pub fn is_ready(&self) -> bool {
        match &*self.repr {
            Repr::Ready(_) => true,
            Repr::Waiting(link) => link.is_resolved(),
            Repr::Deferred(_) | Repr::Chained(_) | Repr::Done => false,
        }
    }

    /// Takes the output if it can be had now, running deferred continuations and polling a
    /// pending chain once (with a no-op waker, which never replaces the waker of a task that
    /// awaits this future); `None` if it is not there yet.
    ///
    /// # Panics
    ///
    /// If the output was already taken.
    pub fn try_take(&mut self) -> Option<Result<T, BrokenPromise>> {
        match std::future::Future::poll(Pin::new(self), &mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    /// The output of a `Ready` future, leaving it `Done`; `None` for any other future.
    #[inline(always)]
    fn take_ready(&mut self) -> Option<Output<T>> {
        if !matches!(*self.repr, Repr::Ready(_)) {
            return None;
        }
        match std::mem::replace(&mut *self.repr, Repr::Done) {
            Repr::Ready(output) => Some(output),
            repr => {
                *self.repr = repr;
                None
            }
        }
    }

    /// The output if it is there for the taking with no cell round trip and no continuation
    /// run, leaving this future `Done`: the fast path of `poll` and `then`. That is a `Ready`
    /// future, or a `Waiting` one whose promise is gone (so it resolved it): the shared state
    /// is then ours alone, and is unwrapped and freed here.
    #[inline(always)]
    fn take_now(&mut self) -> Option<Output<T>> {
        match &*self.repr {
            Repr::Ready(_) => {}
            Repr::Waiting(link) if Link::strong_count(link) == 1 => {}
            _ => return None,
        }
        match std::mem::replace(&mut *self.repr, Repr::Done) {
            Repr::Ready(output) => Some(output),
            Repr::Waiting(link) => match Link::try_unwrap(link) {
                Ok(shared) => Some(shared.into_output()),
                Err(link) => {
                    *self.repr = Repr::Waiting(link);
                    None
                }
            },
            repr => {
                *self.repr = repr;
                None
            }
        }
    }

    /// The output if it is there without running any continuation.
    fn take_resolved(&mut self) -> Option<Output<T>> {
        if let Some(output) = self.take_now() {
            return Some(output);
        }
        match &*self.repr {
            Repr::Waiting(link) => link.try_take(),
            _ => None,
        }
    }

    /// Chains `f`, which returns another future, after this one: the result resolves with
    /// `f`'s future's output. If this future resolves with [`BrokenPromise`], `f` is not called
    /// and the result is broken too.
    ///
    /// If this future is resolved, `f` runs now, inline, with no allocation (up to
    /// [`INLINE_DEPTH_BUDGET`] nested continuations; past it, `f` runs at the next poll).
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_future::{Future, ready};
    ///
    /// fn countdown(n: u64) -> Future<u64> {
    ///     ready(n).then(|n| if n == 0 { ready(0) } else { countdown(n - 1) })
    /// }
    /// // A million nested ready continuations, without overflowing the stack.
    /// assert_eq!(countdown(1_000_000).try_take(), Some(Ok(0)));
    /// ```
    #[inline]
    pub fn then<U, F>(self, f: F) -> Future<U>
    where
        F: FnOnce(T) -> Future<U> + 'static,
        T: 'static,
        U: 'static,
    {
        // The ready path, kept small so that it inlines. Once the output is taken this future
        // is `Done`, which owns nothing: no need to run its drop.
        let mut this = ManuallyDrop::new(self);
        match this.take_ready() {
            Some(Ok(value)) => run_inline(f, value),
            Some(Err(broken)) => Future::from_output(Err(broken)),
            None => ManuallyDrop::into_inner(this).then_slow(f),
        }
    }

    /// [`then`](Future::then) on a future that is not `Ready`.
    #[inline(never)]
    fn then_slow<U, F>(mut self, f: F) -> Future<U>
    where
        F: FnOnce(T) -> Future<U> + 'static,
        T: 'static,
        U: 'static,
    {
        match self.take_resolved() {
            Some(Ok(value)) => run_inline(f, value),
            Some(Err(broken)) => Future::from_output(Err(broken)),
            None => match std::mem::replace(&mut *self.repr, Repr::Done) {
                Repr::Deferred(first) => {
                    Future::from_repr(Repr::Deferred(Box::new(move || first().then(f))))
                }
                repr => {
                    let this = Future::from_repr(repr);
                    // The step returns the continuation's future unawaited on purpose: `poll`
                    // puts it in this one's place (a tail call), so loops do not nest.
                    #[allow(clippy::async_yields_async)]
                    Future::chained(async move {
                        match this.await {
                            Ok(value) => f(value),
                            Err(broken) => Future::from_output(Err(broken)),
                        }
                    })
                }
            },
        }
    }

    /// Maps the value with `f` when it arrives; see [`then`](Future::then) for when `f` runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut len = ms_future::ready("four").map(str::len);
    /// assert_eq!(len.try_take(), Some(Ok(4)));
    /// ```
    #[inline]
    pub fn map<U, F>(self, f: F) -> Future<U>
    where
        F: FnOnce(T) -> U + 'static,
        T: 'static,
        U: 'static,
    {
        self.then(move |value| ready(f(value)))
    }
}

impl<A: 'static, E: 'static> Future<Result<A, E>> {
    /// For a future of a `Result`: chains `f` after an `Ok`, and passes an `Err` through without
    /// calling it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_future::ready;
    ///
    /// let parse = |s: &'static str| ready(s.parse::<u32>());
    /// let mut ok = ready(Ok::<_, std::num::ParseIntError>("7")).and_then(parse);
    /// assert_eq!(ok.try_take().unwrap().unwrap(), Ok(7));
    /// let mut err = ready("x".parse::<u32>()).and_then(|v| ready(Ok(v + 1)));
    /// assert!(err.try_take().unwrap().unwrap().is_err());
    /// ```
    #[inline]
    pub fn and_then<B, F>(self, f: F) -> Future<Result<B, E>>
    where
        F: FnOnce(A) -> Future<Result<B, E>> + 'static,
        B: 'static,
    {
        self.then(move |result| match result {
            Ok(value) => f(value),
            Err(error) => ready(Err(error)),
        })
    }
}

/// Runs `f(value)` on this stack if the inline depth budget allows, else defers it.
///
/// On the ready path this is one thread-local load and compare: the depth is raised around `f`
/// and put back after it, and when `f` is inlined and touches no thread-local, both stores
/// fold away.
#[inline(always)]
fn run_inline<T, U, F>(f: F, value: T) -> Future<U>
where
    F: FnOnce(T) -> Future<U> + 'static,
    T: 'static,
    U: 'static,
{
    let depth = INLINE_DEPTH.with(Cell::get);
    if depth >= INLINE_DEPTH_BUDGET {
        return defer(f, value);
    }
    /// Restores the depth even if `f` panics.
    struct Nested(u32);
    impl Drop for Nested {
        #[inline(always)]
        fn drop(&mut self) {
            INLINE_DEPTH.with(|d| d.set(self.0));
        }
    }
    let _nested = Nested(depth);
    INLINE_DEPTH.with(|d| d.set(depth + 1));
    f(value)
}

/// Defers `f(value)` to the next poll: the inline depth budget is spent.
#[cold]
#[inline(never)]
fn defer<T, U, F>(f: F, value: T) -> Future<U>
where
    F: FnOnce(T) -> Future<U> + 'static,
    T: 'static,
    U: 'static,
{
    Future::from_repr(Repr::Deferred(Box::new(move || f(value))))
}

impl<T> std::future::Future for Future<T> {
    type Output = Result<T, BrokenPromise>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The ready path, kept small so that it inlines.
        match this.take_ready() {
            Some(output) => Poll::Ready(output),
            None => this.poll_not_ready(cx),
        }
    }
}

impl<T> Future<T> {
    /// `poll` on a future that is not `Ready`.
    #[inline]
    fn poll_not_ready(&mut self, cx: &mut Context<'_>) -> Poll<Output<T>> {
        // A fulfilled promise that is gone (as after `set_value`): no cell round trips.
        if let Some(output) = self.take_now() {
            return Poll::Ready(output);
        }
        // The slow path works on a moved-out copy, put back when it returns (or unwinds), so
        // that the address of `self` never reaches code that is not inlined: a future in a
        // local may stay in registers.
        let mut moved = Future::from_repr(std::mem::replace(&mut *self.repr, Repr::Done));
        let put_back = PutBack {
            slot: &mut self.repr,
            from: &mut moved,
        };
        put_back.from.poll_slow(cx)
    }
}

/// Puts a future's state back where `poll` took it from, when `poll_slow` returns or unwinds.
struct PutBack<'a, T> {
    slot: &'a mut ManuallyDrop<Repr<T>>,
    from: &'a mut Future<T>,
}

impl<T> Drop for PutBack<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        std::mem::swap(self.slot, &mut self.from.repr);
    }
}

impl<T> Future<T> {
    /// `poll` past its fast paths: waits, runs chained steps and deferred continuations.
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Output<T>> {
        loop {
            match &mut *self.repr {
                Repr::Ready(_) => match std::mem::replace(&mut *self.repr, Repr::Done) {
                    Repr::Ready(output) => return Poll::Ready(output),
                    _ => unreachable!(),
                },
                Repr::Waiting(link) => {
                    let poll = link.poll(cx);
                    if poll.is_ready() {
                        // Drop the known variant: no drop glue for the whole enum.
                        if let Repr::Waiting(link) = std::mem::replace(&mut *self.repr, Repr::Done)
                        {
                            drop(link);
                        }
                    }
                    return poll;
                }
                Repr::Chained(step) => match step.as_mut().poll(cx) {
                    // A tail call: the continuation's future takes this one's place.
                    Poll::Ready(next) => {
                        *self = next;
                        continue;
                    }
                    Poll::Pending => return Poll::Pending,
                },
                Repr::Deferred(_) => {
                    // The trampoline: run the continuation here, at the poller's shallow stack,
                    // and loop on what it returns instead of recursing into it.
                    let Repr::Deferred(continuation) =
                        std::mem::replace(&mut *self.repr, Repr::Done)
                    else {
                        unreachable!()
                    };
                    *self = continuation();
                    continue;
                }
                Repr::Done => panic!("ms_future::Future polled after it returned its output"),
            }
        }
    }
}

impl<T> Drop for Future<T> {
    #[inline]
    fn drop(&mut self) {
        match &*self.repr {
            Repr::Done => {}
            Repr::Ready(_) if !std::mem::needs_drop::<T>() => {}
            _ => {
                // Dropped through a moved-out copy, so that the address of `self` never reaches
                // code that is not inlined: a future in a local may stay in registers.
                let mut repr = ManuallyDrop::new(std::mem::replace(&mut *self.repr, Repr::Done));
                drop_repr(&mut repr);
            }
        }
    }
}

/// Drops the state of a future that owns something, leaving `Done`.
#[inline(never)]
fn drop_repr<T>(slot: &mut Repr<T>) {
    // Owned here, so that it is dropped even if dropping the waker panics.
    let repr = std::mem::replace(slot, Repr::Done);
    // A future dropped while waiting lets go of its task's waker at once: the promise may live
    // much longer (or be owned by that very task).
    if let Repr::Waiting(link) = &repr {
        link.forget_waker();
    }
}

impl<T> From<Result<T, BrokenPromise>> for Future<T> {
    fn from(output: Result<T, BrokenPromise>) -> Self {
        Self::from_output(output)
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.repr {
            Repr::Ready(Ok(_)) => "ready",
            Repr::Ready(Err(_)) => "broken",
            Repr::Waiting(link) if link.is_resolved() => "resolved",
            Repr::Waiting(_) => "waiting",
            Repr::Deferred(_) => "deferred",
            Repr::Chained(_) => "chained",
            Repr::Done => "done",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}
