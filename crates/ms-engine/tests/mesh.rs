//! The SMP mesh through the public API: submit_to across every pair, send_to, invoke_on_all,
//! map_reduce, remote panics, the mesh counters, replies overtaking queued requests, and two
//! shards flooding each other (lanes fill; backlogs must keep it deadlock-free).

#![cfg(not(loom))]

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use ms_engine::{
    Engine, MeshStats, invoke_on_all, map_reduce, mesh_stats, send_to, shard_count, shard_id, stop,
    stopped, submit_to,
};
use ms_reactor::JoinError;

mod common;

use common::scaled;

#[test]
fn submit_to_works_across_every_pair() {
    const SHARDS: usize = 3;
    let checked = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&checked);
    Engine::builder()
        .shards(SHARDS)
        .pin(false)
        .run(move || {
            let count = Arc::clone(&count);
            async move {
                let me = shard_id();
                for target in 0..shard_count() {
                    let (ran_on, asked_by) =
                        submit_to(target, move || async move { (shard_id(), me) })
                            .await
                            .unwrap();
                    assert_eq!((ran_on, asked_by), (target, me));
                    count.fetch_add(1, Ordering::SeqCst);
                }
                // Stay up (serving the others' requests) until everyone is done.
                if count.load(Ordering::SeqCst) == (SHARDS * SHARDS) as u64 {
                    stop();
                }
                stopped().await;
            }
        })
        .unwrap();
    assert_eq!(checked.load(Ordering::SeqCst), (SHARDS * SHARDS) as u64);
}

#[test]
fn invoke_on_all_runs_once_per_shard() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                let ids: Vec<usize> = invoke_on_all(|| async { shard_id() })
                    .await
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(ids, [0, 1]);
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn a_panic_on_the_target_comes_back_as_an_error() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                let is_panic = |result: &Result<(), JoinError>, message: &str| {
                    matches!(result, Err(JoinError::Panicked(m)) if m == message)
                };
                // In the future's first poll (made and polled at once, no task).
                let result = submit_to(1, || async { panic!("remote failure") }).await;
                assert!(is_panic(&result, "remote failure"), "{result:?}");
                // In the closure that makes the future.
                let result = submit_to(1, || -> std::future::Ready<()> { panic!("in make") }).await;
                assert!(is_panic(&result, "in make"), "{result:?}");
                // In a later poll, once the work runs as a task of its own.
                let result = submit_to(1, || async {
                    ms_reactor::yield_now().await;
                    panic!("after a yield")
                })
                .await;
                assert!(is_panic(&result, "after a yield"), "{result:?}");
                // The target shard is still serving, the slow way too.
                assert_eq!(submit_to(1, || async { 5 }).await, Ok(5));
                let later = submit_to(1, || async {
                    ms_reactor::yield_now().await;
                    6
                });
                assert_eq!(later.await, Ok(6));
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn two_shards_flooding_each_other_all_complete() {
    let rounds = scaled(1_000_000);
    let done = Arc::new(AtomicU64::new(0));
    let finished = Arc::clone(&done);
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || {
            let finished = Arc::clone(&finished);
            async move {
                let other = 1 - shard_id();
                // Send everything before awaiting anything, so the lanes fill and backlogs grow.
                let replies: Vec<_> = (0..rounds)
                    .map(|i| submit_to(other, move || async move { i * 2 }))
                    .collect();
                let mut sum = 0u64;
                for reply in replies {
                    sum += reply.await.unwrap();
                }
                assert_eq!(sum, rounds * (rounds - 1));
                if finished.fetch_add(1, Ordering::SeqCst) == 1 {
                    stop();
                }
                stopped().await;
                // Both are done: each sent its requests and the replies to the other's, and
                // ran as many.
                let stats = mesh_stats();
                assert_eq!((stats.sent, stats.received), (2 * rounds, 2 * rounds));
                assert!(stats.wakes <= stats.sent);
            }
        })
        .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 2);
}

/// Runs `body` on each of two unpinned shards, which share a two-party barrier (a shard that
/// waits on it blocks its thread: its poller cannot run meanwhile).
fn two_shards_with_gate<F, Fut>(body: F)
where
    F: Fn(Arc<Barrier>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let gate = Arc::new(Barrier::new(2));
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || body(Arc::clone(&gate)))
        .unwrap();
}

thread_local! {
    /// Jobs run on this shard by the tests below.
    static RAN: Cell<u64> = const { Cell::new(0) };
}

#[test]
fn send_to_runs_every_job_in_order_and_survives_a_panic() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                for i in 0..100 {
                    send_to(1, move || {
                        // In order: job i sees exactly i jobs before it.
                        assert_eq!(RAN.with(Cell::get), i);
                        RAN.with(|r| r.set(i + 1));
                    });
                }
                send_to(1, || panic!("a failing job"));
                send_to(0, || RAN.with(|r| r.set(r.get() + 1))); // to itself: a task
                let ran = submit_to(1, || async { RAN.with(Cell::get) }).await;
                assert_eq!(ran, Ok(100), "the panic lost nothing and stopped nothing");
                ms_reactor::yield_now().await;
                assert_eq!(RAN.with(Cell::get), 1);
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn a_reply_never_waits_behind_requests_sent_before_it() {
    // Ten lanes' worth of requests from shard 1 to shard 0, then (in the same job) the reply
    // to shard 0's request. A reply queued behind them would arrive after all of them ran;
    // in its own lane it overtakes all but what shard 0 ran before it came (at most the one
    // request that went straight into its lane, and a poll's budget after it).
    const REQUESTS: u64 = 10 * 1024;
    const BUDGET: u64 = 1024;
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                let reply = submit_to(1, || {
                    for _ in 0..REQUESTS {
                        send_to(0, || RAN.with(|r| r.set(r.get() + 1)));
                    }
                    async { mesh_stats().sent }
                });
                assert_eq!(reply.await, Ok(REQUESTS));
                let ran_before_reply = RAN.with(Cell::get);
                assert!(
                    ran_before_reply <= 1 + 2 * BUDGET,
                    "the reply waited for {ran_before_reply} requests"
                );
                // The requests still all run, in their own time.
                while RAN.with(Cell::get) < REQUESTS {
                    ms_reactor::yield_now().await;
                }
                assert_eq!(RAN.with(Cell::get), REQUESTS);
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn a_flood_of_replies_leaves_room_for_requests() {
    // Shard 1 answers a lane's worth of requests and then sends shard 0 a request of its own,
    // all while shard 0 is blocked. Replies run first, but with half of a poll's budget when
    // requests wait: the request runs after at most half of the replies (with the whole budget
    // to replies, it would run after all 1024 of them).
    const REQUESTS: u64 = 1024;
    const BUDGET: u64 = 1024;
    thread_local! {
        static SNAPSHOT: Cell<u64> = const { Cell::new(0) };
        static RAN_BEFORE_REQUEST: Cell<Option<u64>> = const { Cell::new(None) };
    }
    two_shards_with_gate(|gate| async move {
        if shard_id() == 1 {
            while RAN.with(Cell::get) < REQUESTS {
                ms_reactor::yield_now().await;
            }
            // Every reply is in the lane to shard 0: published by the round that ran
            // the requests, before this task ran.
            send_to(0, || {
                let ran = mesh_stats().received - SNAPSHOT.with(Cell::get);
                RAN_BEFORE_REQUEST.with(|r| r.set(Some(ran)));
            });
            gate.wait();
            stopped().await;
            return;
        }
        let replies: Vec<_> = (0..REQUESTS)
            .map(|_| submit_to(1, || async { RAN.with(|r| r.set(r.get() + 1)) }))
            .collect();
        ms_reactor::yield_now().await; // the poller publishes the requests
        gate.wait(); // until shard 1 has answered them all and sent its request
        SNAPSHOT.with(|s| s.set(mesh_stats().received));
        for reply in replies {
            reply.await.unwrap();
        }
        while RAN_BEFORE_REQUEST.with(Cell::get).is_none() {
            ms_reactor::yield_now().await;
        }
        // Counted in: the replies run before it in its poll, and itself.
        let ran = RAN_BEFORE_REQUEST.with(Cell::get).unwrap();
        assert!(
            ran <= BUDGET / 2 + 1,
            "the request waited for {ran} replies"
        );
        stop();
        stopped().await;
    });
}

#[test]
fn map_reduce_folds_every_shard_in_order() {
    Engine::builder()
        .shards(3)
        .pin(false)
        .run(|| async {
            if shard_id() == 2 {
                let ids = map_reduce(
                    || async { shard_id() },
                    Vec::new(),
                    |mut all, id| {
                        all.push(id);
                        all
                    },
                )
                .await;
                assert_eq!(ids, Ok(vec![0, 1, 2]));
                let failed = map_reduce(
                    || async {
                        assert!(shard_id() != 1, "shard 1 refuses");
                    },
                    (),
                    |(), ()| (),
                )
                .await;
                assert_eq!(failed, Err(JoinError::Panicked("shard 1 refuses".into())));
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn mesh_stats_count_every_message_exactly() {
    const ROUNDS: u64 = 100;
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            assert_eq!(mesh_stats(), MeshStats::default());
            if shard_id() == 0 {
                for i in 0..ROUNDS {
                    assert_eq!(submit_to(1, move || async move { i }).await, Ok(i));
                }
                submit_to(0, || async {}).await.unwrap(); // to itself: not a message
                let mine = mesh_stats();
                assert_eq!(
                    (mine.sent, mine.received, mine.lane_full),
                    (ROUNDS, ROUNDS, 0)
                );
                // One round trip at a time: each request may have to wake shard 1, never more.
                assert!(mine.wakes <= ROUNDS, "{mine:?}");
                // Read on shard 1: its counters include this request, not yet its reply.
                let theirs = submit_to(1, || async { mesh_stats() }).await.unwrap();
                assert_eq!(
                    (theirs.sent, theirs.received, theirs.lane_full),
                    (ROUNDS, ROUNDS + 1, 0)
                );
                let mine = mesh_stats();
                assert_eq!((mine.sent, mine.received), (ROUNDS + 1, ROUNDS + 1));
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn a_full_lane_is_counted_and_its_backlog_delivered() {
    // Twice a lane's capacity (1024 slots), sent while the target is blocked.
    const SENDS: u64 = 2048;
    two_shards_with_gate(|gate| async move {
        if shard_id() == 1 {
            // Block this shard's thread (its poller cannot run) until shard 0 has sent
            // everything.
            gate.wait();
            stopped().await;
            return;
        }
        for _ in 0..SENDS {
            send_to(1, || RAN.with(|r| r.set(r.get() + 1)));
        }
        // The poller publishes the batch after this task yields: half of it fits.
        ms_reactor::yield_now().await;
        let stats = mesh_stats();
        assert_eq!((stats.sent, stats.lane_full), (SENDS, SENDS - 1024));
        gate.wait();
        let ran = submit_to(1, || async { RAN.with(Cell::get) }).await;
        assert_eq!(ran, Ok(SENDS));
        stop();
        stopped().await;
    });
}

/// Review finding: a shard whose future had returned stopped polling its lanes, so a
/// `submit_to` sent to it afterwards never resolved. The exit barrier keeps every shard's
/// mesh serving until all shards are done.
#[test]
fn submit_to_a_shard_whose_future_returned_still_gets_its_reply() {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reply = Arc::new(AtomicU64::new(0));
    let (done_in, reply_in) = (Arc::clone(&done), Arc::clone(&reply));
    Engine::builder()
        .shards(2)
        .pin(false)
        .ignore_signals()
        .run(move || {
            let (done, reply) = (Arc::clone(&done_in), Arc::clone(&reply_in));
            async move {
                if shard_id() == 1 {
                    done.store(true, Ordering::SeqCst);
                    return; // shard 1 is finished: nothing of its own runs any more
                }
                while !done.load(Ordering::SeqCst) {
                    ms_reactor::yield_now().await;
                }
                let answer = submit_to(1, || async { shard_id() as u64 + 41 }).await;
                reply.store(answer.unwrap(), Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(reply.load(Ordering::SeqCst), 42);
}

thread_local! {
    /// Shard 1's held-back work: each resolves when its promise is kept.
    static GATE: std::cell::RefCell<Vec<ms_future::Promise<()>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Work for shard 1 that waits until `open_gate` runs there.
fn gated() -> impl std::future::Future<Output = ()> {
    let (promise, opened) = ms_future::promise();
    GATE.with(|g| g.borrow_mut().push(promise));
    async move { opened.await.unwrap() }
}

fn open_gate() {
    GATE.with(|g| g.borrow_mut().drain(..).for_each(|p| p.set_value(())));
}

#[test]
fn replies_due_count_the_requests_awaiting_an_answer() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                // Requests go out when submit_to is called, before their futures are awaited.
                let dropped = submit_to(1, gated);
                let pending: Vec<_> = (0..3).map(|_| submit_to(1, gated)).collect();
                assert_eq!(mesh_stats().replies_due, 4);
                drop(dropped); // its reply still comes back (and is counted off then)
                assert_eq!(submit_to(0, || async {}).await, Ok(())); // to itself: no reply due
                assert_eq!(mesh_stats().replies_due, 4);
                send_to(1, open_gate); // after the requests: one request lane, in order
                for reply in pending {
                    assert_eq!(reply.await, Ok(()));
                }
                // The dropped request's work was released first, so its reply came back first
                // (one reply lane each way, in order).
                assert_eq!(mesh_stats().replies_due, 0);
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn the_time_quota_bounds_a_poll_of_mesh_jobs() {
    // A lane's worth of jobs waits for shard 1 while it is blocked; then a task of its own
    // notes how many had run each time it ran. Under a time quota of zero the mesh runs one
    // job per poll and the task runs between them; without the quota check, one poll ran all
    // 1000 (the task saw 0, then 1000).
    const JOBS: u64 = 1000;
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let gate = Arc::new(Barrier::new(2));
    Engine::builder()
        .shards(2)
        .pin(false)
        .time_quota(std::time::Duration::ZERO)
        .run(move || {
            let gate = Arc::clone(&gate);
            async move {
                if shard_id() == 0 {
                    for _ in 0..JOBS {
                        send_to(1, || RAN.with(|r| r.set(r.get() + 1)));
                    }
                    ms_reactor::yield_now().await; // the poller publishes the batch
                    gate.wait();
                    stopped().await;
                    return;
                }
                gate.wait(); // every job is in the lane now
                let observer = ms_reactor::spawn(async {
                    while RAN.with(Cell::get) < JOBS {
                        let seen = SEEN.with(|s| s.borrow().len());
                        assert!(seen < 10_000_000, "the jobs never ran");
                        SEEN.with(|s| s.borrow_mut().push(RAN.with(Cell::get)));
                        ms_reactor::yield_now().await;
                    }
                });
                observer.await.unwrap();
                let between = SEEN.with(|s| s.borrow().iter().filter(|&&n| n > 0).count());
                assert!(
                    between >= 10,
                    "the task ran {between} times while the jobs ran"
                );
                stop();
            }
        })
        .unwrap();
}
