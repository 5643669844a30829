//! The SMP mesh through the public API: submit_to across every pair, invoke_on_all, remote
//! panics, and two shards flooding each other (lanes fill; backlogs must keep it deadlock-free).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ms_engine::{Engine, invoke_on_all, shard_count, shard_id, stop, stopped, submit_to};
use ms_reactor::JoinError;

/// `MS_STRESS_DIVISOR` (valgrind runs set it) scales stress rounds down.
fn scaled(n: u64) -> u64 {
    let divisor = std::env::var("MS_STRESS_DIVISOR")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (n / divisor).max(1)
}

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
                let result = submit_to(1, || async { panic!("remote failure") }).await;
                assert!(
                    matches!(&result, Err(JoinError::Panicked(m)) if m == "remote failure"),
                    "{result:?}"
                );
                // The target shard is still serving.
                assert_eq!(submit_to(1, || async { 5 }).await, Ok(5));
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
            }
        })
        .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 2);
}
