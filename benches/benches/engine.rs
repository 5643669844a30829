//! Cross-shard round trips: shard 0 asks shard 1 to compute something and awaits the answer,
//! `ROUNDS` times in a row, each shard pinned to its own core.
//!
//! - `ms_engine_sleeping`: `submit_to` between two shards whose reactors sleep when idle.
//! - `ms_engine_busy_poll`: the same with 200 us of busy-polling before sleeping.
//! - `tokio_mpsc_oneshot`: two `current_thread` runtimes on two pinned threads; a request is
//!   an mpsc message carrying a oneshot sender for the answer.

#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::{flat_group, pin_current_thread, two_cpus};

const ROUNDS: u64 = 2_000;

/// Runs `ROUNDS` submit_to round trips on a two-shard engine; returns their total time.
fn ms_engine_round_trips(busy_poll: Duration) -> Duration {
    let (a, b) = two_cpus();
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let out = Arc::clone(&elapsed);
    ms_engine::Engine::builder()
        .cores(vec![a, b])
        .busy_poll(busy_poll)
        .run(move || {
            let out = Arc::clone(&out);
            async move {
                if ms_engine::shard_id() == 0 {
                    let start = Instant::now();
                    let mut sum = 0;
                    for i in 0..ROUNDS {
                        sum += ms_engine::submit_to(1, move || async move { i + 1 })
                            .await
                            .unwrap();
                    }
                    *out.lock().unwrap() = start.elapsed();
                    assert_eq!(sum, ROUNDS * (ROUNDS + 1) / 2);
                    ms_engine::stop();
                }
                ms_engine::stopped().await;
            }
        })
        .expect("engine run");
    *elapsed.lock().unwrap()
}

/// The same shape on tokio: two current_thread runtimes, mpsc requests, oneshot answers.
fn tokio_round_trips() -> Duration {
    let (a, b) = two_cpus();
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(u64, tokio::sync::oneshot::Sender<u64>)>();
    let server = thread::spawn(move || {
        pin_current_thread(b).expect("pin");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            while let Some((i, reply)) = rx.recv().await {
                let _ = reply.send(i + 1);
            }
        });
    });
    let client = thread::spawn(move || {
        pin_current_thread(a).expect("pin");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let start = Instant::now();
            let mut sum = 0;
            for i in 0..ROUNDS {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send((i, reply)).unwrap();
                sum += answer.await.unwrap();
            }
            assert_eq!(sum, ROUNDS * (ROUNDS + 1) / 2);
            start.elapsed()
        })
    });
    let elapsed = client.join().unwrap();
    server.join().unwrap();
    elapsed
}

fn cross_shard(c: &mut Criterion) {
    let mut group = flat_group(
        c,
        "engine_round_trip",
        ROUNDS,
        Duration::from_millis(500),
        3,
    );
    group.bench_function("ms_engine_sleeping", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| ms_engine_round_trips(Duration::ZERO))
                .sum()
        })
    });
    group.bench_function("ms_engine_busy_poll_200us", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| ms_engine_round_trips(Duration::from_micros(200)))
                .sum()
        })
    });
    group.bench_function("tokio_mpsc_oneshot", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| tokio_round_trips()).sum())
    });
    group.finish();
}

criterion_group!(benches, cross_shard);
criterion_main!(benches);
