//! Cross-core work with limits, deadlines and cancellation: a service group bounds the
//! requests in flight (and so the sender's backlog) under a flood; a request past its deadline
//! is dropped unrun on its target; a request whose caller dropped the future is dropped unrun.
//!
//! Targets are blocked on a barrier (their thread waits, their mesh does not poll), never for
//! a length of time: no assertion depends on timing.

#![cfg(not(loom))]

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ms_engine::{
    Engine, MeshStats, ServiceGroup, SubmitOptions, mesh_stats, shard_id, stop, stopped, submit_to,
    submit_to_with,
};
use ms_reactor::JoinError;

thread_local! {
    /// Work that ran on this shard.
    static RAN: Cell<u64> = const { Cell::new(0) };
}

fn count_run() {
    RAN.with(|r| r.set(r.get() + 1));
}

/// Runs two shards: shard 1 blocks on the gate until shard 0 opens it, then serves; shard 0
/// runs `sender(gate)`, then stops the engine. Returns shard 0's and shard 1's mesh counters
/// and what ran on shard 1, read at the end.
fn sender_and_blocked_target<F, Fut>(sender: F) -> (MeshStats, MeshStats, u64)
where
    F: Fn(Arc<Barrier>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let gate = Arc::new(Barrier::new(2));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = Arc::clone(&seen);
    let sender = Arc::new(sender);
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || {
            let (gate, record, sender) =
                (Arc::clone(&gate), Arc::clone(&record), Arc::clone(&sender));
            async move {
                if shard_id() == 1 {
                    gate.wait();
                    stopped().await;
                    return;
                }
                sender(gate).await;
                let target = submit_to(1, || async { (mesh_stats(), RAN.with(Cell::get)) });
                let (target, ran) = target.await.unwrap();
                *record.lock().unwrap() = Some((mesh_stats(), target, ran));
                stop();
            }
        })
        .unwrap();
    let seen = seen.lock().unwrap().take();
    seen.expect("shard 0 recorded its counters")
}

mod common;

/// Requests in the flood below: a million, scaled down under valgrind (at least twice the cap).
fn flood() -> u64 {
    common::scaled(1_000_000).max(CAP as u64 * 2)
}
/// The group's cap.
const CAP: usize = 1024;

#[test]
fn a_service_group_bounds_the_backlog_of_a_flood() {
    let flood = flood();
    let done = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&done);
    let (sender, target, ran) = sender_and_blocked_target(move |gate| {
        let count = Arc::clone(&count);
        async move {
            let options = SubmitOptions::new().group(ServiceGroup::new(CAP));
            let started = std::rc::Rc::new(Cell::new(0));
            let replies: Vec<_> = (0..flood)
                .map(|_| {
                    let started = std::rc::Rc::clone(&started);
                    ms_reactor::spawn(async move {
                        started.set(started.get() + 1);
                        submit_to_with(1, options, || async { count_run() }).await
                    })
                })
                .collect();
            // Once every task has run: a cap's worth of requests is sent, the rest wait (with
            // no group, all would be sent, and all but a lane's worth would wait in the
            // backlog).
            while started.get() < flood {
                ms_reactor::yield_now().await;
            }
            gate.wait();
            for reply in replies {
                reply.await.unwrap().unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), flood);
    assert_eq!(ran, flood);
    assert!(
        sender.backlog_peak <= CAP as u64,
        "the backlog reached {} with a cap of {CAP}",
        sender.backlog_peak
    );
    assert_eq!(
        (sender.backlog, target.cancelled, target.expired),
        (0, 0, 0)
    );
}

#[test]
fn requests_past_their_deadline_never_run() {
    const REQUESTS: u64 = 100;
    let (sender, target, ran) = sender_and_blocked_target(|gate| async move {
        let options = SubmitOptions::new().timeout(Duration::from_millis(10));
        let replies: Vec<_> = (0..REQUESTS)
            .map(|_| ms_reactor::spawn(submit_to_with(1, options, || async { count_run() })))
            .collect();
        // A request that waits for a unit past its deadline is not even sent.
        let group = ServiceGroup::new(1);
        let first = ms_reactor::spawn(submit_to_with(1, options.group(group), || async {}));
        let second = ms_reactor::spawn(submit_to_with(1, options.group(group), || async {}));
        ms_reactor::yield_now().await; // all sent (but the second, which waits)
        // Past every deadline: the target has started none of the work.
        ms_reactor::sleep(Duration::from_millis(20)).await;
        assert_eq!(second.await.unwrap(), Err(JoinError::TimedOut));
        gate.wait();
        for reply in replies {
            assert_eq!(reply.await.unwrap(), Err(JoinError::TimedOut));
        }
        assert_eq!(first.await.unwrap(), Err(JoinError::TimedOut));
    });
    assert_eq!(ran, 0, "work past its deadline ran");
    assert_eq!(target.expired, REQUESTS + 1);
    assert_eq!(
        sender.sent,
        REQUESTS + 1 + 1,
        "the second never left, the probe did"
    );
}

#[test]
fn dropping_the_future_cancels_work_that_has_not_started() {
    const REQUESTS: u64 = 100;
    let (_, target, ran) = sender_and_blocked_target(|gate| async move {
        let replies: Vec<_> = (0..REQUESTS)
            .map(|_| submit_to(1, || async { count_run() }))
            .collect();
        ms_reactor::yield_now().await; // all published to the lane
        drop(replies);
        gate.wait();
    });
    assert_eq!(ran, 0, "cancelled work ran");
    assert_eq!(target.cancelled, REQUESTS);
}
