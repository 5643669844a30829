//! Work on other shards: [`submit_to`] (with a reply), [`send_to`] (fire and forget),
//! [`invoke_on_all`] and [`map_reduce`] (every shard).
//!
//! # Replies
//!
//! [`submit_to`] sends the target a job that runs the work, carrying the reply's promise as a
//! [`Foreign`]; when the work ends, the target sends back a job that fulfils the promise on
//! the caller's shard. A panic in the work is caught there and comes back as
//! [`JoinError::Panicked`]; a request or reply dropped on the way (its shard ended) takes
//! the promise home, which resolves the reply with [`JoinError::Cancelled`]. Work for a shard
//! that has ended (its future panicked, say) is refused when sent, or taken back from its
//! lane when the shard goes, and dropped on the caller's shard: cancelled at once, never a
//! hang. Only if home cannot be reached any more (the engine is tearing down) is the promise
//! leaked instead (see [`Foreign`]), and the reply never resolves.

use std::future::Future;
use std::ops::DerefMut;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ms_reactor::{JoinError, panic_message};

use ms_future::Promise;

use std::time::Instant;

use crate::Foreign;
use crate::mesh;
use crate::mesh::cancel::{Mark, Ticket};

/// Runs `make()` and the future it returns, catching a panic in either (or in the future's
/// drop).
async fn caught<F, Fut>(make: F) -> Result<Fut::Output, JoinError>
where
    F: FnOnce() -> Fut,
    Fut: Future + 'static,
{
    let future = std::panic::catch_unwind(AssertUnwindSafe(make)).map_err(panicked)?;
    poll_caught(ms_alloc::PoolBox::pin(future)).await
}

/// Polls `future` to its end and drops it, catching a panic in any poll or in the drop: a
/// future whose destructor panics after it produced its output is a panic too (the output is
/// dropped), whether it was ready at its first poll or later.
async fn poll_caught<Fut: Future>(
    future: Pin<impl DerefMut<Target = Fut>>,
) -> Result<Fut::Output, JoinError> {
    let mut future = Some(future);
    std::future::poll_fn(move |cx| {
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let pinned = future.as_mut().expect("polled after it ended");
            let output = pinned.as_mut().poll(cx);
            if output.is_ready() {
                future = None; // dropped inside the catch
            }
            output
        }));
        match polled {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                // What is left of the future (if the poll panicked) is dropped inside a
                // catch too: its panic is the same failure, already reported.
                let rest = future.take();
                if let Err(again) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(rest))) {
                    ms_reactor::drop_payload(again);
                }
                Poll::Ready(Err(panicked(payload)))
            }
        }
    })
    .await
}

/// The error of a caught panic (whose payload is then dropped safely).
fn panicked(payload: Box<dyn std::any::Any + Send>) -> JoinError {
    let message = panic_message(&*payload);
    ms_reactor::drop_payload(payload);
    JoinError::Panicked(message)
}

/// Runs `make()` and the future it returns on this shard, then `reply` with its output (a
/// panic in either, or in the future's drop, comes back as [`JoinError::Panicked`]).
///
/// The future is polled once at once, and if it is ready then (as it usually is), that is
/// all: no task is spawned. Otherwise it is spawned and polled again with its own waker. The
/// first poll uses a no-op waker, which is sound for any future that follows the `Future`
/// contract (only the waker of the latest poll need be woken): the spawned task polls it
/// again before anything could be missed, and it registers its own waker then.
fn run_here<F, Fut, R>(make: F, reply: R)
where
    F: FnOnce() -> Fut,
    Fut: Future + 'static,
    R: FnOnce(Result<Fut::Output, JoinError>) + 'static,
{
    let first = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut future = ms_alloc::PoolBox::pin(make());
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => Ok(output),
            Poll::Pending => Err(future),
        }
    }));
    match first {
        Ok(Ok(output)) => reply(Ok(output)),
        Ok(Err(pending)) => drop(ms_reactor::spawn(async move {
            reply(poll_caught(pending).await);
        })),
        Err(payload) => reply(Err(panicked(payload))),
    }
}

/// The promise of a reply, as it travels with the request and back, with what the caller
/// keeps until the reply is home (`E`: a service group's unit, or nothing).
type ReplyTo<T, E = ()> = Foreign<(Promise<Result<T, JoinError>>, mesh::ReplyDue, E)>;

// A reply of a word-sized value travels inline in its lane slot (no allocation).
const _: () = assert!(
    size_of::<ReplyTo<u64>>() + size_of::<Result<u64, JoinError>>() <= crate::job::INLINE_BYTES
);

/// On the shard that made `promise`: resolves it with `result`.
fn fulfil<T, E>(promise: ReplyTo<T, E>, result: Result<T, JoinError>) {
    // The reply runs on the promise's home shard, so `into_inner` succeeds; were it to fail,
    // dropping the `Foreign` would take the promise home, and the reply would be cancelled.
    if let Ok((promise, _due, _kept)) = promise.into_inner() {
        promise.set_value(result);
    }
}

/// Why a request was dropped on its target without running.
pub(crate) enum Unrun {
    /// Its caller had dropped the future.
    Cancelled,
    /// Its deadline had passed.
    Expired,
}

/// What a request checks on its target before it starts.
pub(crate) trait Admission: Send + 'static {
    /// Whether the work may still start.
    fn admit(&self) -> Result<(), Unrun>;
}

impl Admission for Mark {
    fn admit(&self) -> Result<(), Unrun> {
        if self.is_cancelled() {
            Err(Unrun::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A request's mark and its deadline.
pub(crate) struct Timed {
    pub(crate) mark: Mark,
    pub(crate) deadline: Option<Instant>,
}

impl Admission for Timed {
    fn admit(&self) -> Result<(), Unrun> {
        self.mark.admit()?;
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(Unrun::Expired),
            _ => Ok(()),
        }
    }
}

/// Sends `make` to shard `shard` as a request that answers `promise` (keeping `kept` on
/// this shard until the reply is home). On the target, `admission` decides first whether the
/// work may start; a request dropped there is counted and answered with `Cancelled` or
/// `TimedOut`.
pub(crate) fn send_request<F, Fut, T, A, E>(
    shard: usize,
    make: F,
    promise: Promise<Result<T, JoinError>>,
    admission: A,
    kept: E,
) where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
    A: Admission,
    E: 'static,
{
    // The promise travels with the request and comes back with the reply; if either is
    // dropped on the way, `Foreign` takes the promise home to be dropped there, which
    // resolves the reply as cancelled.
    let promise = Foreign::new((promise, mesh::ReplyDue::new(), kept));
    mesh::send(
        shard,
        mesh::Class::Request,
        mesh::Job::new(move || {
            let reply = move |result| {
                let home = promise.home();
                let reply = mesh::Job::new(move || fulfil(promise, result));
                mesh::send(home, mesh::Class::Reply, reply);
            };
            match admission.admit() {
                Ok(()) => run_here(make, reply),
                Err(Unrun::Cancelled) => {
                    mesh::count_unrun(false);
                    reply(Err(JoinError::Cancelled));
                }
                Err(Unrun::Expired) => {
                    mesh::count_unrun(true);
                    reply(Err(JoinError::TimedOut));
                }
            }
        }),
    );
}

/// On this shard: spawns `make()`, unless the caller has dropped its future (or the
/// `deadline` has passed) by the time the task starts.
pub(crate) fn spawn_here<F, Fut, T>(
    make: F,
    promise: Promise<Result<T, JoinError>>,
    deadline: Option<Instant>,
) where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
    T: 'static,
{
    drop(ms_reactor::spawn(async move {
        if promise.is_canceled() {
            return mesh::count_unrun(false);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            mesh::count_unrun(true);
            return promise.set_value(Err(JoinError::TimedOut));
        }
        promise.set_value(caught(make).await);
    }));
}

/// Awaits the reply of a request, then gives its ticket back (a ticket dropped before the
/// reply came, with this future, cancels the request).
pub(crate) async fn await_reply<T>(
    reply: ms_future::Future<Result<T, JoinError>>,
    ticket: Option<Ticket>,
) -> Result<T, JoinError> {
    let result = match reply.await {
        Ok(result) => result,
        Err(ms_future::BrokenPromise) => Err(JoinError::Cancelled),
    };
    if let Some(ticket) = ticket {
        ticket.done();
    }
    result
}

/// Asserts that `shard` is a shard of this engine (`what` names the caller).
pub(crate) fn check_shard(what: &str, shard: usize) {
    assert!(
        shard < crate::shard_count(),
        "{what} shard {shard} of {}",
        crate::shard_count()
    );
}

/// Runs `make()` on shard `shard` and resolves with its output here. On the calling shard
/// itself, it is simply spawned. The future's output is the task's, or a [`JoinError`]:
/// [`Panicked`](JoinError::Panicked) if `make`, a poll of its future or the future's drop
/// panicked (the output, if there was one, is dropped), on any shard; and
/// [`Cancelled`](JoinError::Cancelled) if the work never ended: the target shard ended
/// first (its future panicked, say), or the engine tore down.
///
/// Dropping the returned future before the work has started cancels the work: the target
/// drops it unrun ([`MeshStats::cancelled`](crate::MeshStats::cancelled) counts it). Work
/// already running runs on; its result is dropped. To run work without awaiting it, use
/// [`send_to`]. For a bound on the requests in flight, or a deadline, see
/// [`submit_to_with`](crate::submit_to_with).
///
/// Requests to one shard run in the order they were sent; the reply travels back in a lane
/// of its own, never behind requests. So what the work sends back to the caller as requests
/// (a [`send_to`] to it, a [`Foreign`] dropped away from it) may run there after the reply.
/// The doorbell of the target is rung once per batch: after the calling task yields (see the
/// [crate docs](crate#the-mesh)).
///
/// # Panics
///
/// Outside an engine shard, or if `shard` is not below [`shard_count`](crate::shard_count).
///
/// # Examples
///
/// ```
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let other = ms_engine::submit_to(1, || async { ms_engine::shard_id() * 10 }).await;
///         assert_eq!(other.unwrap(), 10);
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub fn submit_to<F, Fut, T>(shard: usize, make: F) -> impl Future<Output = Result<T, JoinError>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    check_shard("submit_to", shard);
    let (promise, reply) = ms_future::promise::<Result<T, JoinError>>();
    let ticket = if shard == crate::shard_id() {
        spawn_here(make, promise, None);
        None
    } else {
        let ticket = Ticket::new();
        send_request(shard, make, promise, ticket.mark(), ());
        Some(ticket)
    };
    await_reply(reply, ticket)
}

/// Runs `f()` on shard `shard`, with no reply: fire and forget. On the calling shard itself,
/// it runs in a task spawned there. A panic in `f` is caught and reported on stderr.
///
/// Requests to one shard run in the order they were sent, so a [`submit_to`] sent after a
/// batch of `send_to`s resolves only once they all ran.
///
/// # Panics
///
/// Outside an engine shard, or if `shard` is not below [`shard_count`](crate::shard_count).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// thread_local!(static HITS: Cell<u32> = const { Cell::new(0) });
///
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         for _ in 0..3 {
///             ms_engine::send_to(1, || HITS.with(|h| h.set(h.get() + 1)));
///         }
///         // Runs after the three jobs above (one request lane, in order).
///         let hits = ms_engine::submit_to(1, || async { HITS.with(Cell::get) }).await;
///         assert_eq!(hits.unwrap(), 3);
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub fn send_to<F>(shard: usize, f: F)
where
    F: FnOnce() + Send + 'static,
{
    check_shard("send_to", shard);
    if shard == crate::shard_id() {
        drop(ms_reactor::spawn(async move { f() }));
    } else {
        mesh::send(shard, mesh::Class::Request, mesh::Job::new(f));
    }
}

/// Runs `make()` on every shard and resolves with their outputs, by shard.
///
/// # Panics
///
/// Outside an engine shard.
pub async fn invoke_on_all<F, Fut, T>(make: F) -> Vec<Result<T, JoinError>>
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let pending: Vec<_> = (0..crate::shard_count())
        .map(|shard| submit_to(shard, make.clone()))
        .collect();
    let mut results = Vec::with_capacity(pending.len());
    for reply in pending {
        results.push(reply.await);
    }
    results
}

/// Runs `mapper()` on every shard at once and folds the outputs into `initial` with
/// `reducer`, in shard order, on the calling shard.
///
/// # Errors
///
/// The first [`JoinError`] in shard order, if a mapper panicked (the others still ran).
///
/// # Panics
///
/// Outside an engine shard.
///
/// # Examples
///
/// ```
/// ms_engine::Engine::builder().shards(3).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let sum = ms_engine::map_reduce(|| async { ms_engine::shard_id() + 1 }, 0, |a, b| a + b);
///         assert_eq!(sum.await, Ok(1 + 2 + 3));
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub async fn map_reduce<M, Fut, T, R, Red>(
    mapper: M,
    initial: R,
    mut reducer: Red,
) -> Result<R, JoinError>
where
    M: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
    Red: FnMut(R, T) -> R,
{
    let mut acc = initial;
    let mut first_error = None;
    for result in invoke_on_all(mapper).await {
        match result {
            Ok(value) => acc = reducer(acc, value),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(acc), Err)
}
