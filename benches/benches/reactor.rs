//! ms-reactor's executor and timers against tokio's single-thread runtime, in the same run.
//!
//! - `reactor_spawn_join`: spawn 100k trivial tasks, then await every handle; time per task.
//!   tokio runs them on a `current_thread` runtime inside a `LocalSet` (its thread-per-core
//!   shape).
//! - `reactor_timer`: create a 1 s timer, register it (poll once), cancel it (drop).

#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ms_benches::{measurement_time, op_group};

const TASKS: u64 = 100_000;

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("reactor_spawn_join");
    group
        .throughput(Throughput::Elements(TASKS))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement_time(Duration::from_secs(4)));

    let reactor = ms_reactor::Reactor::new().unwrap();
    group.bench_function("ms_reactor", |b| {
        b.iter(|| {
            reactor.block_on(async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| ms_reactor::spawn(async move { black_box(i) }))
                    .collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    group.bench_function("tokio_localset", |b| {
        b.iter(|| {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| tokio::task::spawn_local(async move { black_box(i) }))
                    .collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        })
    });
    group.finish();
}

/// Polls `future` once, to register it, and drops it.
async fn register_then_cancel<F: Future>(future: F) {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        assert!(future.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
}

fn timers(c: &mut Criterion) {
    let mut group = op_group(c, "reactor_timer_insert_cancel", 3);
    let reactor = ms_reactor::Reactor::new().unwrap();
    group.bench_function("ms_reactor", |b| {
        b.iter(|| {
            reactor.block_on(async {
                register_then_cancel(ms_reactor::sleep(Duration::from_secs(1))).await
            })
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            runtime.block_on(async {
                register_then_cancel(tokio::time::sleep(Duration::from_secs(1))).await
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn_join, timers);
criterion_main!(benches);
