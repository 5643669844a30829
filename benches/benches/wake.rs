//! Cross-thread wake latency: a plain thread on one core pings a task that waits, idle, on a
//! runtime pinned to the other core; the task answers by storing the ping back. Before each
//! ping the pinger idles 50 us, so the runtime has surely gone to sleep (or is busy-polling),
//! and only ping -> answer is timed: the latency of waking an idle runtime.
//!
//! The waiting future is the same code on every runtime (it registers its waker in a shared
//! slot, then looks at the ping counter), so only the runtime's wake path differs:
//! ms-reactor sleeping in `epoll_wait`, ms-reactor busy-polling for 200 us before sleeping,
//! and tokio's `current_thread` runtime.

#![allow(missing_docs)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::{each_run, flat_group, pin_current_thread, two_cpus};

const ROUNDS: u64 = 2_000;
/// How long the pinger idles before each ping.
const IDLE: Duration = Duration::from_micros(50);

/// What the pinger and the task share.
#[derive(Default)]
struct Line {
    ping: AtomicU64,
    pong: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

/// The task: answer pings `1..=ROUNDS`, sleeping between them.
fn answer(line: Arc<Line>) -> impl Future<Output = ()> {
    let mut answered = 0;
    std::future::poll_fn(move |cx| {
        loop {
            *line.waker.lock().unwrap() = Some(cx.waker().clone());
            let ping = line.ping.load(Ordering::Acquire);
            if ping == answered {
                return Poll::Pending;
            }
            answered = ping;
            line.pong.store(ping, Ordering::Release);
            if answered == ROUNDS {
                return Poll::Ready(());
            }
        }
    })
}

/// Runs `ROUNDS` round trips against a runtime started by `serve` on the second CPU; returns
/// the total time of the pings, measured on the first CPU. Both sides run on threads of their
/// own: pinning the caller would shrink its affinity mask, and the next call would then find
/// one CPU only.
fn round_trips(serve: impl FnOnce(Arc<Line>) + Send + 'static) -> Duration {
    let (cpu_a, cpu_b) = two_cpus();
    let line = Arc::new(Line::default());
    let server = {
        let line = Arc::clone(&line);
        thread::spawn(move || {
            pin_current_thread(cpu_b).expect("pin the runtime");
            serve(line);
        })
    };
    let pinger = thread::spawn(move || {
        pin_current_thread(cpu_a).expect("pin the pinger");
        // Wait until the task is parked on its waker.
        while line.waker.lock().unwrap().is_none() {
            std::hint::spin_loop();
        }
        let mut total = Duration::ZERO;
        for i in 1..=ROUNDS {
            let idle = Instant::now();
            while idle.elapsed() < IDLE {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            line.ping.store(i, Ordering::Release);
            if let Some(w) = line.waker.lock().unwrap().as_ref() {
                w.wake_by_ref();
            }
            while line.pong.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            total += start.elapsed();
        }
        total
    });
    let elapsed = pinger.join().expect("pinger thread");
    server.join().expect("runtime thread");
    elapsed
}

fn wake_latency(c: &mut Criterion) {
    let mut group = flat_group(c, "wake_round_trip", ROUNDS, Duration::from_millis(500), 4);

    each_run(&mut group, "ms_reactor_sleeping", || {
        round_trips(|line| {
            let reactor = ms_reactor::Reactor::new().unwrap();
            reactor.block_on(answer(line));
        })
    });
    each_run(&mut group, "ms_reactor_busy_poll_200us", || {
        round_trips(|line| {
            let reactor = ms_reactor::Reactor::builder()
                .busy_poll(Duration::from_micros(200))
                .build()
                .unwrap();
            reactor.block_on(answer(line));
        })
    });
    each_run(&mut group, "tokio_current_thread", || {
        round_trips(|line| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(answer(line));
        })
    });
    group.finish();
}

criterion_group!(benches, wake_latency);
criterion_main!(benches);
