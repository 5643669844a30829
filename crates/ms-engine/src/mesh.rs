//! The SMP mesh: one ms-spsc lane per ordered pair of shards, the only road between cores.
//!
//! # Protocol
//!
//! A message is a job (a `Send` closure) that runs on the target shard. Each shard owns the
//! producers of its outgoing lanes and, in its poller task, the consumers of its incoming
//! ones.
//!
//! - **Send** (`send`): flush the backlog for that target, then push; if the lane is full, the
//!   job joins the backlog (unbounded, per target), so a sender never blocks and a reply never
//!   waits behind requests: no cross-shard deadlock. Then take the target's registered
//!   waker, if any, and wake it (a foreign wake: the target's reactor is rung only if it
//!   sleeps).
//! - **Poll** (the poller task): run every job in every incoming lane; flush backlogs; when
//!   nothing came, store the task's waker under the target's lock and look at the lanes
//!   once more before waiting. A sender pushes before it takes the waker under the same lock,
//!   so either the sender sees the waker or the poller sees the job: no lost wake-up.
//!   While a backlog remains, the poller retries on a short timer instead of waiting.
//!
//! # Replies
//!
//! [`submit_to`] keeps a completion closure in a table on the calling shard and sends the
//! target a job that spawns the work; when it ends, the target sends back a job that runs the
//! completion (by id) on the caller's shard.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use ms_reactor::JoinError;
use ms_spsc::{Consumer, Producer};

/// A job for another shard.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// What runs on the calling shard when a reply arrives: it fulfils the waiting promise.
type Completion = Box<dyn FnOnce(Box<dyn Any + Send>)>;

/// Slots of each lane.
const LANE_CAPACITY: usize = 1024;

/// Per-shard doorbells: the waker of each shard's poller.
pub(crate) struct Signals {
    wakers: Vec<Mutex<Option<Waker>>>,
}

impl Signals {
    fn wake(&self, shard: usize) {
        let waker = self.wakers[shard]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One shard's ends of the mesh, before its thread starts.
pub(crate) struct Ends {
    outgoing: Vec<Option<Producer<Job>>>,
    incoming: Vec<Consumer<Job>>,
}

/// Makes the lanes of `count` shards: `ends[i]` is shard `i`'s.
pub(crate) fn build(count: usize) -> (Vec<Ends>, Arc<Signals>) {
    let mut ends: Vec<Ends> = (0..count)
        .map(|_| Ends {
            outgoing: (0..count).map(|_| None).collect(),
            incoming: Vec::new(),
        })
        .collect();
    for from in 0..count {
        for to in 0..count {
            if from != to {
                let (tx, rx) = ms_spsc::channel(LANE_CAPACITY);
                ends[from].outgoing[to] = Some(tx);
                ends[to].incoming.push(rx);
            }
        }
    }
    let signals = Arc::new(Signals {
        wakers: (0..count).map(|_| Mutex::new(None)).collect(),
    });
    (ends, signals)
}

/// A shard's sending side and its pending replies, in its thread.
struct Local {
    shard: usize,
    outgoing: Vec<Option<Producer<Job>>>,
    backlog: Vec<VecDeque<Job>>,
    signals: Arc<Signals>,
    completions: Vec<Option<Completion>>,
    free: Vec<usize>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Installs shard `shard`'s mesh on this thread and spawns its poller on the running reactor.
pub(crate) fn start(shard: usize, ends: Ends, signals: Arc<Signals>) {
    let count = ends.outgoing.len();
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            shard,
            outgoing: ends.outgoing,
            backlog: (0..count).map(|_| VecDeque::new()).collect(),
            signals: Arc::clone(&signals),
            completions: Vec::new(),
            free: Vec::new(),
        })
    });
    drop(ms_reactor::spawn(poll_lanes(shard, ends.incoming, signals)));
}

/// Removes this thread's mesh (its lanes are dropped; peers see them abandoned).
pub(crate) fn finish() {
    LOCAL.with(|l| l.borrow_mut().take());
}

/// Sends `job` to shard `to`.
fn send(to: usize, job: Job) {
    let signals = LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let local = local.as_mut().expect("the mesh runs on engine shards only");
        local.flush(to);
        let lane = local.outgoing[to].as_mut().expect("no lane to self");
        if local.backlog[to].is_empty() {
            if let Err(full) = lane.try_push(job) {
                local.backlog[to].push_back(full.into_inner());
            }
        } else {
            local.backlog[to].push_back(job);
        }
        Arc::clone(&local.signals)
    });
    signals.wake(to);
}

impl Local {
    /// Moves what fits of the backlog for `to` into its lane; returns whether any remains.
    fn flush(&mut self, to: usize) -> bool {
        let Some(lane) = self.outgoing[to].as_mut() else {
            return false;
        };
        let backlog = &mut self.backlog[to];
        while let Some(job) = backlog.pop_front() {
            if let Err(full) = lane.try_push(job) {
                backlog.push_front(full.into_inner());
                return true;
            }
        }
        false
    }
}

/// Flushes every backlog; returns whether any job is still waiting for room.
fn flush_all() -> bool {
    let (flushed_to, remaining, signals) = LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let Some(local) = local.as_mut() else {
            return (Vec::new(), false, None);
        };
        let mut flushed_to = Vec::new();
        let mut remaining = false;
        for to in 0..local.backlog.len() {
            if !local.backlog[to].is_empty() {
                remaining |= local.flush(to);
                flushed_to.push(to);
            }
        }
        (flushed_to, remaining, Some(Arc::clone(&local.signals)))
    });
    if let Some(signals) = signals {
        for to in flushed_to {
            signals.wake(to);
        }
    }
    remaining
}

/// The poller task of one shard; see the module docs.
async fn poll_lanes(shard: usize, mut incoming: Vec<Consumer<Job>>, signals: Arc<Signals>) {
    loop {
        let mut ran = 0;
        for lane in &mut incoming {
            // Jobs are run one by one, without holding anything: a job may send or spawn.
            while let Ok(job) = lane.try_pop() {
                job();
                ran += 1;
            }
        }
        let backlogged = flush_all();
        if ran > 0 {
            ms_reactor::yield_now().await;
            continue;
        }
        if backlogged {
            ms_reactor::sleep(Duration::from_micros(50)).await;
            continue;
        }
        std::future::poll_fn(|cx| {
            *signals.wakers[shard]
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            if incoming.iter().any(|lane| !lane.is_empty()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// Registers a completion on this shard; returns its id.
fn register(completion: Completion) -> (usize, usize) {
    LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let local = local
            .as_mut()
            .expect("submit_to runs on engine shards only");
        let id = match local.free.pop() {
            Some(id) => {
                local.completions[id] = Some(completion);
                id
            }
            None => {
                local.completions.push(Some(completion));
                local.completions.len() - 1
            }
        };
        (local.shard, id)
    })
}

/// Runs completion `id` of this shard with `value` (a reply has arrived).
fn complete(id: usize, value: Box<dyn Any + Send>) {
    let completion = LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let local = local.as_mut()?;
        let completion = local.completions.get_mut(id)?.take();
        local.free.push(id);
        completion
    });
    if let Some(completion) = completion {
        completion(value); // outside the borrow: it wakes the waiting task
    }
}

/// Runs `make()` on shard `shard` and resolves with its output here. On the calling shard
/// itself, it is simply spawned. The future's output is the task's, or a [`JoinError`] if it
/// panicked.
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
    assert!(
        shard < crate::shard_count(),
        "submit_to shard {shard} of {}",
        crate::shard_count()
    );
    let (promise, reply) = ms_future::promise::<Result<T, JoinError>>();
    if shard == crate::shard_id() {
        drop(ms_reactor::spawn(async move {
            promise.set_value(ms_reactor::spawn(make()).await);
        }));
    } else {
        let (home, id) = register(Box::new(move |value: Box<dyn Any + Send>| {
            let result = *value
                .downcast::<Result<T, JoinError>>()
                .expect("a reply carries its request's type");
            promise.set_value(result);
        }));
        send(
            shard,
            Box::new(move || {
                drop(ms_reactor::spawn(async move {
                    let result = ms_reactor::spawn(make()).await;
                    send(home, Box::new(move || complete(id, Box::new(result))));
                }));
            }),
        );
    }
    async move {
        match reply.await {
            Ok(result) => result,
            Err(ms_future::BrokenPromise) => Err(JoinError::Cancelled),
        }
    }
}

/// Runs `make()` on every shard and resolves with their outputs, by shard.
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
