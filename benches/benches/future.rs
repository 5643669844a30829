//! ms-future's one-shot against its peers: create a pair, fulfil it, poll the future once.
//!
//! - `future_oneshot`: ms-future `promise()`, `futures::channel::oneshot`, `tokio::sync::oneshot`
//!   and the `oneshot` crate; every future is polled with the same no-op waker.
//! - `future_ready_chain`: `ready(v)` and ten `.map`s, polled: the path that must be free.

#![allow(missing_docs)]

use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ms_benches::{measurement_time, op_group};

/// Polls `future` once with a no-op waker; panics unless it is ready.
fn poll_ready<F: std::future::Future + Unpin>(future: &mut F) -> F::Output {
    match Pin::new(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a fulfilled one-shot was pending"),
    }
}

fn oneshot(c: &mut Criterion) {
    let mut group = op_group(c, "future_oneshot", 3);

    group.bench_function("ms_future", |b| {
        b.iter(|| {
            let (promise, mut future) = ms_future::promise::<u64>();
            promise.set_value(black_box(7));
            poll_ready(&mut future).unwrap()
        })
    });
    group.bench_function("futures_channel_oneshot", |b| {
        b.iter(|| {
            let (tx, mut rx) = futures_channel::oneshot::channel::<u64>();
            tx.send(black_box(7)).unwrap();
            poll_ready(&mut rx).unwrap()
        })
    });
    group.bench_function("tokio_oneshot", |b| {
        b.iter(|| {
            let (tx, mut rx) = tokio::sync::oneshot::channel::<u64>();
            tx.send(black_box(7)).unwrap();
            poll_ready(&mut rx).unwrap()
        })
    });
    group.bench_function("oneshot_crate", |b| {
        b.iter(|| {
            let (tx, mut rx) = oneshot::channel::<u64>();
            tx.send(black_box(7)).unwrap();
            poll_ready(&mut rx).unwrap()
        })
    });
    group.finish();
}

fn ready_chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("future_ready_chain");
    group
        .throughput(Throughput::Elements(10))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement_time(Duration::from_secs(2)));
    group.bench_function("ms_future_map_x10", |b| {
        b.iter(|| {
            let mut f = ms_future::ready(black_box(1u64));
            for _ in 0..10 {
                f = f.map(|v| v + 1);
            }
            poll_ready(&mut f).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, oneshot, ready_chain);
criterion_main!(benches);
