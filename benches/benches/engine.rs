//! Cross-shard messaging between two shards, each pinned to its own core.
//!
//! `engine_round_trip`: shard 0 asks shard 1 to compute something and awaits the answer,
//! `ROUNDS` times in a row (one message in flight), after `WARM_UP_ROUNDS` untimed ones.
//!
//! - `ms_engine_target_just_idle`: `submit_to` between two shards with the default settings:
//!   the target's reactor goes to sleep as soon as it is idle, so every request rings it
//!   (often just as it parks); the caller polls for the reply (`reply_poll`, 50 us by
//!   default) instead of sleeping.
//! - `ms_engine_both_sleeping`: the same with `reply_poll` off: both reactors sleep when
//!   idle, as tokio's do, so a round trip pays two wakes.
//! - `ms_engine_busy_poll_200us`: both shards busy-poll for 200 us before sleeping.
//! - `tokio_mpsc_oneshot`: two `current_thread` runtimes on two pinned threads; a request is
//!   an mpsc message carrying a oneshot sender for the answer.
//! - `crossbeam_oneshot_spinning`: no runtime: two pinned threads spinning on `try_recv`, a
//!   crossbeam-channel request carrying a `oneshot` sender (the floor of a general-purpose
//!   channel pair; nothing ever sleeps).
//!
//! `engine_idle_round_trip`: the same request, but each one after a millisecond in which
//! both sides were idle (only the round trips are timed): the target has long been asleep.
//! `ms_engine` (default settings), `ms_engine_reply_poll_off`, `tokio_mpsc_oneshot`.
//!
//! `engine_throughput`: `MESSAGES` messages from shard 0 to shard 1 with many in flight, so
//! the mesh batches (one doorbell check per round of sends, lanes drained in bulk). Both
//! shards busy-poll for 200 us before sleeping. Throughput is messages per second.
//!
//! - `ms_engine_submit_to_window_1024`: `submit_to` with up to `WINDOW` requests awaiting
//!   their replies; each element is a request and its reply.
//! - `ms_engine_send_to_window_1024`: fire-and-forget `send_to` of a closure that bumps a
//!   counter on shard 1, in rounds of `WINDOW`, each round followed by one `submit_to` that
//!   acts as a barrier (at most two rounds in flight); the last barrier checks the count.
//! - Each run first sends `WARM_UP` untimed messages the same way, so the steady state is
//!   measured, not the growth of fresh pools and queues.
//! - `tokio_*`: the same two shapes between two `current_thread` runtimes over an unbounded
//!   mpsc (boxed closures, oneshot replies), the runtimes idle-sleeping as tokio does.
//! - `crossbeam_submit_window_1024`: the `submit_to` shape over the crossbeam baseline (a
//!   crossbeam-channel request carrying a `oneshot` sender, both threads spinning).

#![allow(missing_docs)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::{each_run, flat_group, pin_current_thread, two_cpus};

const ROUNDS: u64 = 2_000;
/// Untimed round trips before the timed ones of each `engine_round_trip` and
/// `engine_idle_round_trip` run.
const WARM_UP_ROUNDS: u64 = 1_000;
/// Messages per throughput iteration.
const MESSAGES: u64 = 100_000;
/// Messages in flight in the throughput benchmarks.
const WINDOW: u64 = 1024;
/// Untimed messages first, so each run is measured warm (pools grown, lanes and caches hot).
const WARM_UP: u64 = 20 * WINDOW;
const BUSY_POLL: Duration = Duration::from_micros(200);

/// Runs `round(i)` for each `i` in `0..rounds` and returns the time they took and the sum of
/// their outputs. With a `gap`, first sleeps that long (with `sleep`) before each round, so
/// the other side is idle when the round starts, and times the rounds only. First, as
/// `WARM_UP_ROUNDS` untimed rounds back to back, so that every row is measured warm (a fresh
/// engine's first few hundred round trips take twice as long).
async fn timed_rounds<R, S>(
    rounds: u64,
    gap: Duration,
    mut round: impl FnMut(u64) -> R,
    sleep: impl Fn(Duration) -> S,
) -> (Duration, u64)
where
    R: std::future::Future<Output = u64>,
    S: std::future::Future<Output = ()>,
{
    for i in 0..WARM_UP_ROUNDS {
        round(i).await;
    }
    let mut sum = 0;
    if gap.is_zero() {
        let start = Instant::now();
        for i in 0..rounds {
            sum += round(i).await;
        }
        return (start.elapsed(), sum);
    }
    let mut total = Duration::ZERO;
    for i in 0..rounds {
        sleep(gap).await;
        let start = Instant::now();
        sum += round(i).await;
        total += start.elapsed();
    }
    (total, sum)
}

/// How the round trips of a run are paced.
#[derive(Clone, Copy)]
struct Pace {
    rounds: u64,
    /// Idle time before each round (zero: back to back).
    gap: Duration,
}

/// Back to back.
const BACK_TO_BACK: Pace = Pace {
    rounds: ROUNDS,
    gap: Duration::ZERO,
};

/// Each round after a millisecond of idleness: the target has long been asleep.
const AFTER_IDLE: Pace = Pace {
    rounds: 200,
    gap: Duration::from_millis(1),
};

/// Runs submit_to round trips (paced by `pace`) on a two-shard engine whose shards
/// busy-poll for `busy_poll` when idle and for `reply_poll` while awaiting a reply; returns
/// the time the round trips took.
fn ms_engine_round_trips(pace: Pace, busy_poll: Duration, reply_poll: Duration) -> Duration {
    let (a, b) = two_cpus();
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let out = Arc::clone(&elapsed);
    ms_engine::Engine::builder()
        .cores(vec![a, b])
        .busy_poll(busy_poll)
        .reply_poll(reply_poll)
        .run(move || {
            let out = Arc::clone(&out);
            async move {
                if ms_engine::shard_id() == 0 {
                    let round = |i: u64| {
                        let reply = ms_engine::submit_to(1, move || async move { i + 1 });
                        async move { reply.await.unwrap() }
                    };
                    let (took, sum) =
                        timed_rounds(pace.rounds, pace.gap, round, ms_reactor::sleep).await;
                    *out.lock().unwrap() = took;
                    assert_eq!(sum, pace.rounds * (pace.rounds + 1) / 2);
                    ms_engine::stop();
                }
                ms_engine::stopped().await;
            }
        })
        .expect("engine run");
    *elapsed.lock().unwrap()
}

/// Runs `server` on one pinned thread and `client` on another (the first two allowed CPUs);
/// returns the duration the client reports, once both have ended.
fn pinned_pair(
    server: impl FnOnce() + Send + 'static,
    client: impl FnOnce() -> Duration + Send + 'static,
) -> Duration {
    let (a, b) = two_cpus();
    let server = thread::spawn(move || {
        pin_current_thread(b).expect("pin");
        server();
    });
    let client = thread::spawn(move || {
        pin_current_thread(a).expect("pin");
        client()
    });
    let elapsed = client.join().unwrap();
    server.join().unwrap();
    elapsed
}

/// A `current_thread` tokio runtime with its timer: tokio's shape for one core.
fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The same shape on tokio: two current_thread runtimes, mpsc requests, oneshot answers.
fn tokio_round_trips(pace: Pace) -> Duration {
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(u64, tokio::sync::oneshot::Sender<u64>)>();
    pinned_pair(
        move || {
            tokio_runtime().block_on(async move {
                while let Some((i, reply)) = rx.recv().await {
                    let _ = reply.send(i + 1);
                }
            });
        },
        move || {
            tokio_runtime().block_on(async move {
                let round = |i: u64| {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    tx.send((i, reply)).unwrap();
                    async move { answer.await.unwrap() }
                };
                let (took, sum) =
                    timed_rounds(pace.rounds, pace.gap, round, tokio::time::sleep).await;
                assert_eq!(sum, pace.rounds * (pace.rounds + 1) / 2);
                took
            })
        },
    )
}

/// A request of the crossbeam baselines: `i`, and where to send `i + 1`.
type CrossbeamRequest = (u64, oneshot::Sender<u64>);

/// The server of the crossbeam baselines: spins on `try_recv`, answering each request, until
/// the channel closes.
fn crossbeam_server(rx: crossbeam_channel::Receiver<CrossbeamRequest>) {
    loop {
        match rx.try_recv() {
            Ok((i, reply)) => {
                let _ = reply.send(i + 1);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return,
        }
    }
}

/// Sends request `i` to the crossbeam server; the answer is spun for when it is awaited.
fn crossbeam_request(
    tx: &crossbeam_channel::Sender<CrossbeamRequest>,
    i: u64,
) -> impl std::future::Future<Output = u64> {
    let (reply, answer) = oneshot::channel();
    tx.send((i, reply)).unwrap();
    async move {
        loop {
            match answer.try_recv() {
                Ok(value) => break value,
                Err(oneshot::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(e) => panic!("no answer: {e:?}"),
            }
        }
    }
}

/// Runs `future` to its end on this thread. For futures that never wait (the crossbeam
/// baselines spin inside their polls): it polls with a waker that does nothing.
fn spin_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Two pinned threads, the crossbeam server on one and `client` (given the request sender)
/// on the other; returns the duration the client reports.
fn crossbeam_pair<F, Fut>(client: F) -> Duration
where
    F: FnOnce(crossbeam_channel::Sender<CrossbeamRequest>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Duration>,
{
    let (tx, rx) = crossbeam_channel::bounded::<CrossbeamRequest>(2 * WINDOW as usize);
    pinned_pair(
        move || crossbeam_server(rx),
        move || spin_block_on(client(tx)),
    )
}

/// The spinning baseline: crossbeam-channel requests carrying a `oneshot` reply sender, both
/// threads pinned and spinning on `try_recv` (no runtime, no sleeping).
fn crossbeam_spinning_round_trips() -> Duration {
    crossbeam_pair(|tx| async move {
        let round = |i: u64| crossbeam_request(&tx, i);
        let (took, sum) = timed_rounds(ROUNDS, Duration::ZERO, round, no_sleep).await;
        assert_eq!(sum, ROUNDS * (ROUNDS + 1) / 2);
        took
    })
}

/// The `sleep` of a round-trip run without gaps: never called.
async fn no_sleep(_: Duration) {
    unreachable!("no gap between rounds");
}

/// `WARM_UP` untimed requests, then `MESSAGES` timed ones, with up to `WINDOW` awaiting
/// answers, over crossbeam with both threads spinning.
fn crossbeam_submit_window() -> Duration {
    crossbeam_pair(|tx| async move {
        let run = |messages| windowed(messages, |i| crossbeam_request(&tx, i));
        run(WARM_UP).await;
        run(MESSAGES).await
    })
}

fn cross_shard(c: &mut Criterion) {
    let mut group = flat_group(
        c,
        "engine_round_trip",
        ROUNDS,
        Duration::from_millis(500),
        3,
    );
    each_run(&mut group, "ms_engine_target_just_idle", || {
        ms_engine_round_trips(BACK_TO_BACK, Duration::ZERO, ms_engine::DEFAULT_REPLY_POLL)
    });
    each_run(&mut group, "ms_engine_both_sleeping", || {
        ms_engine_round_trips(BACK_TO_BACK, Duration::ZERO, Duration::ZERO)
    });
    each_run(&mut group, "ms_engine_busy_poll_200us", || {
        ms_engine_round_trips(BACK_TO_BACK, BUSY_POLL, ms_engine::DEFAULT_REPLY_POLL)
    });
    each_run(&mut group, "tokio_mpsc_oneshot", || {
        tokio_round_trips(BACK_TO_BACK)
    });
    each_run(
        &mut group,
        "crossbeam_oneshot_spinning",
        crossbeam_spinning_round_trips,
    );
    group.finish();

    let mut group = flat_group(
        c,
        "engine_idle_round_trip",
        AFTER_IDLE.rounds,
        Duration::from_millis(500),
        3,
    );
    each_run(&mut group, "ms_engine", || {
        ms_engine_round_trips(AFTER_IDLE, Duration::ZERO, ms_engine::DEFAULT_REPLY_POLL)
    });
    each_run(&mut group, "ms_engine_reply_poll_off", || {
        ms_engine_round_trips(AFTER_IDLE, Duration::ZERO, Duration::ZERO)
    });
    each_run(&mut group, "tokio_mpsc_oneshot", || {
        tokio_round_trips(AFTER_IDLE)
    });
    group.finish();
}

/// Runs `client` on shard 0 of a two-shard busy-polling engine (shard 1 only serves) and
/// returns the duration it reports.
fn ms_engine_client<F, Fut>(client: F) -> Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Duration> + 'static,
{
    let (a, b) = two_cpus();
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let out = Arc::clone(&elapsed);
    let client = Arc::new(client);
    ms_engine::Engine::builder()
        .cores(vec![a, b])
        .busy_poll(BUSY_POLL)
        .run(move || {
            let (out, client) = (Arc::clone(&out), Arc::clone(&client));
            async move {
                if ms_engine::shard_id() == 0 {
                    *out.lock().unwrap() = client().await;
                    ms_engine::stop();
                }
                ms_engine::stopped().await;
            }
        })
        .expect("engine run");
    *elapsed.lock().unwrap()
}

/// `WARM_UP` untimed messages, then `MESSAGES` timed `submit_to`s, with up to `WINDOW`
/// awaiting replies.
async fn ms_engine_submit_window() -> Duration {
    let run = |messages| {
        windowed(messages, |i| {
            let reply = ms_engine::submit_to(1, move || async move { i + 1 });
            async move { reply.await.unwrap() }
        })
    };
    run(WARM_UP).await;
    run(MESSAGES).await
}

/// Sends `messages` requests, `request(i)` answering `i + 1`, with up to `WINDOW` awaiting
/// their answers (a request goes out when `request` is called); returns the time they took.
async fn windowed<R: std::future::Future<Output = u64>>(
    messages: u64,
    mut request: impl FnMut(u64) -> R,
) -> Duration {
    let start = Instant::now();
    let mut in_flight = VecDeque::with_capacity(WINDOW as usize);
    let mut sum = 0;
    for i in 0..messages {
        in_flight.push_back(request(i));
        if in_flight.len() == WINDOW as usize {
            sum += in_flight.pop_front().unwrap().await;
        }
    }
    for answer in in_flight {
        sum += answer.await;
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, messages * (messages + 1) / 2);
    elapsed
}

/// Sends `messages` fire-and-forget messages (`send`) in rounds of `WINDOW`, each round
/// closed by `barrier`, which answers how many messages the target has received (at most
/// two rounds in flight); returns the time they took, checking that every one arrived.
async fn in_rounds<B: std::future::Future<Output = u64>>(
    messages: u64,
    mut send: impl FnMut(),
    mut barrier: impl FnMut() -> B,
) -> Duration {
    let before = barrier().await;
    let start = Instant::now();
    let mut previous = None;
    for _ in 0..messages / WINDOW {
        for _ in 0..WINDOW {
            send();
        }
        if let Some(previous) = previous.replace(barrier()) {
            previous.await;
        }
    }
    let received = previous.expect("at least one round").await;
    let elapsed = start.elapsed();
    assert_eq!(received - before, messages / WINDOW * WINDOW);
    elapsed
}

thread_local! {
    /// Jobs run on this shard (or tokio thread) by the fire-and-forget benchmarks.
    static RECEIVED: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    RECEIVED.with(|r| r.set(r.get() + 1));
}

/// `WARM_UP` untimed messages, then `MESSAGES` timed `send_to`s in rounds of `WINDOW`, each
/// round closed by a barrier `submit_to`.
async fn ms_engine_send_window() -> Duration {
    let run = |messages| {
        in_rounds(
            messages,
            || ms_engine::send_to(1, bump),
            || {
                let received = ms_engine::submit_to(1, || async { RECEIVED.with(Cell::get) });
                async move { received.await.unwrap() }
            },
        )
    };
    run(WARM_UP).await;
    run(MESSAGES).await
}

type Job = Box<dyn FnOnce() + Send>;

/// Two pinned current_thread runtimes: the server runs every job it receives; `client` gets
/// the sender and returns its measured time.
fn tokio_pair<F, Fut>(client: F) -> Duration
where
    F: FnOnce(tokio::sync::mpsc::UnboundedSender<Job>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Duration>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
    pinned_pair(
        move || {
            tokio_runtime().block_on(async move {
                while let Some(job) = rx.recv().await {
                    job();
                }
            });
        },
        move || tokio_runtime().block_on(client(tx)),
    )
}

/// A request to the tokio server: runs `f` there and answers on a oneshot.
fn tokio_request<T: Send + 'static>(
    tx: &tokio::sync::mpsc::UnboundedSender<Job>,
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send(Box::new(move || {
        let _ = reply.send(f());
    }))
    .unwrap();
    answer
}

async fn tokio_submit_window(tx: tokio::sync::mpsc::UnboundedSender<Job>) -> Duration {
    let run = |messages| {
        windowed(messages, |i| {
            let answer = tokio_request(&tx, move || i + 1);
            async move { answer.await.unwrap() }
        })
    };
    run(WARM_UP).await;
    run(MESSAGES).await
}

async fn tokio_send_window(tx: tokio::sync::mpsc::UnboundedSender<Job>) -> Duration {
    let run = |messages| {
        in_rounds(
            messages,
            || tx.send(Box::new(bump)).unwrap(),
            || {
                let received = tokio_request(&tx, || RECEIVED.with(Cell::get));
                async move { received.await.unwrap() }
            },
        )
    };
    run(WARM_UP).await;
    run(MESSAGES).await
}

fn throughput(c: &mut Criterion) {
    let mut group = flat_group(
        c,
        "engine_throughput",
        MESSAGES,
        Duration::from_millis(500),
        3,
    );
    each_run(&mut group, "ms_engine_submit_to_window_1024", || {
        ms_engine_client(ms_engine_submit_window)
    });
    each_run(&mut group, "ms_engine_send_to_window_1024", || {
        ms_engine_client(ms_engine_send_window)
    });
    each_run(&mut group, "tokio_submit_window_1024", || {
        tokio_pair(tokio_submit_window)
    });
    each_run(
        &mut group,
        "crossbeam_submit_window_1024",
        crossbeam_submit_window,
    );
    each_run(&mut group, "tokio_send_window_1024", || {
        tokio_pair(tokio_send_window)
    });
    group.finish();
}

criterion_group!(benches, cross_shard, throughput);
criterion_main!(benches);
