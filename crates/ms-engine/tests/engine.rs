//! The engine: shard ids, pinning, orderly stop, and errors that are reported, not ignored.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ms_engine::{
    Engine, EngineError, cpu, shard_count, shard_id, stop, stopped, submit_to, try_shard_id,
};

#[test]
fn every_shard_sees_its_own_id_and_the_count() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    Engine::builder()
        .shards(4)
        .pin(false)
        .run(move || {
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push((shard_id(), shard_count()));
            }
        })
        .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [(0, 4), (1, 4), (2, 4), (3, 4)]);
    assert_eq!(try_shard_id(), None, "no shard outside the engine");
}

#[test]
fn shards_run_on_the_cpus_they_are_pinned_to() {
    let cpus = cpu::allowed_cpus().unwrap();
    let observed = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&observed);
    let cores = cpus.clone();
    Engine::builder()
        .cores(cores)
        .run(move || {
            let record = Arc::clone(&record);
            async move {
                let mask = cpu::allowed_cpus().unwrap();
                let now = cpu::current_cpu().unwrap();
                record.lock().unwrap().push((shard_id(), mask, now));
            }
        })
        .unwrap();
    let observed = observed.lock().unwrap().clone();
    assert_eq!(observed.len(), cpus.len(), "a shard per CPU by default");
    for (shard, mask, now) in observed {
        assert_eq!(mask, [cpus[shard]], "shard {shard} is pinned to one CPU");
        assert_eq!(now, cpus[shard]);
    }
}

#[test]
fn stop_from_one_shard_ends_every_shard() {
    let finished = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&finished);
    Engine::builder()
        .shards(3)
        .pin(false)
        .run(move || {
            let count = Arc::clone(&count);
            async move {
                if shard_id() == 2 {
                    // Let the others reach their wait first, from this shard's point of view.
                    ms_reactor::yield_now().await;
                    stop();
                }
                stopped().await;
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 3);
}

#[test]
fn a_pinning_failure_is_an_error_and_runs_nothing() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let error = Engine::builder()
        // CPU 1023: inside the kernel's CPU set, but not on this machine.
        .cores(vec![cpu::allowed_cpus().unwrap()[0], 1023])
        .run(move || {
            let flag = Arc::clone(&flag);
            async move { flag.store(true, Ordering::SeqCst) }
        })
        .unwrap_err();
    assert!(
        matches!(error, EngineError::Pin { shard: 1, .. }),
        "{error}"
    );
    assert!(!ran.load(Ordering::SeqCst), "no shard ran its future");
}

#[test]
fn a_panicking_shard_stops_the_others_and_is_reported() {
    let error = Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 1 {
                panic!("shard one fails");
            }
            stopped().await;
        })
        .unwrap_err();
    assert!(
        matches!(&error, EngineError::Panicked { shard: 1, message } if message == "shard one fails"),
        "{error}"
    );
}

/// Polls `stopped()` once (so it is registered), counts itself in `registered`, then waits.
async fn wait_registered(registered: &AtomicUsize) {
    let mut wait = std::pin::pin!(stopped());
    let done =
        std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx).is_ready())).await;
    registered.fetch_add(1, Ordering::SeqCst);
    if !done {
        wait.await;
    }
}

#[test]
fn every_stopped_waiter_on_a_shard_is_woken() {
    let registered = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let (reg, count) = (Arc::clone(&registered), Arc::clone(&woken));
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || {
            let (registered, count) = (Arc::clone(&reg), Arc::clone(&count));
            async move {
                if shard_id() == 1 {
                    // Stop only once both of shard 0's waiters are registered.
                    while registered.load(Ordering::SeqCst) < 2 {
                        ms_reactor::yield_now().await;
                    }
                    stop();
                    return;
                }
                // Two waiters on shard 0: a task and the main future.
                let helper = {
                    let (registered, count) = (Arc::clone(&registered), Arc::clone(&count));
                    ms_reactor::spawn(async move {
                        wait_registered(&registered).await;
                        count.fetch_add(1, Ordering::SeqCst);
                    })
                };
                ms_reactor::yield_now().await; // let the helper register first
                wait_registered(&registered).await;
                count.fetch_add(1, Ordering::SeqCst);
                helper.await.unwrap();
            }
        })
        .unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), 2);
}

#[test]
fn a_busy_polling_shard_stays_awake_while_idle() {
    // With an hour of busy-polling, shard 1 never sleeps in `epoll_wait` between requests,
    // however long it waits for the next one (it has no timers to end the spinning early).
    // (With no busy-polling it sleeps at once each time: this assertion then fails.)
    let sleeps = || submit_to(1, || async { ms_reactor::stats().unwrap().sleeps });
    Engine::builder()
        .shards(2)
        .pin(false)
        .busy_poll(std::time::Duration::from_secs(3600))
        .run(move || async move {
            if shard_id() == 0 {
                let before = sleeps().await.unwrap();
                for _ in 0..5 {
                    ms_reactor::sleep(std::time::Duration::from_millis(10)).await;
                    submit_to(1, || async {}).await.unwrap();
                }
                assert_eq!(sleeps().await.unwrap(), before, "shard 1 slept while idle");
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn sixty_four_shards_start_and_reach_each_other() {
    let sum = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = std::sync::Arc::clone(&sum);
    Engine::builder()
        .shards(64)
        .pin(false)
        .run(move || {
            let total = std::sync::Arc::clone(&total);
            async move {
                let next = (ms_engine::shard_id() + 1) % 64;
                let got = ms_engine::submit_to(next, || async { ms_engine::shard_id() }).await;
                total.fetch_add(got.unwrap(), std::sync::atomic::Ordering::SeqCst);
            }
        })
        .unwrap();
    assert_eq!(sum.load(std::sync::atomic::Ordering::SeqCst), (0..64).sum());
}
