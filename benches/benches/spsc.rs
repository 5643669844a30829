//! ms-spsc against its peers, two threads pinned to two different cores.
//!
//! - `spsc_throughput`: 10M `u64` from one core to the other through a 1024-slot queue, single
//!   item (ms-spsc, rtrb, crossbeam `ArrayQueue`) and in batches of 64 (ms-spsc, ringbuf).
//! - `spsc_round_trip`: a ping-pong through two queues, against a bare two-atomic ping-pong
//!   (the floor: what one cache-line hand-off each way costs on this machine). Also ms-spsc
//!   with one-cache-line messages, the size of an ms-engine mesh job: the floor of a
//!   cross-shard round trip through the mesh's lanes.
//!
//! Each side's handle sits in a `CachePadded` on its own thread's stack, so the handles' private
//! state never shares a line. The timed thread measures from a barrier to its last item.

#![allow(missing_docs)]

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::{flat_group, pin_current_thread, two_cpus};
use ms_spsc::CachePadded;
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};

const ITEMS: u64 = 10_000_000;
const ROUNDS: u64 = 100_000;
const CAPACITY: usize = 1024;
const BATCH: usize = 64;

/// Runs `iters` rounds of `side_a` (on the first CPU) against `side_b` (on the second, timed),
/// each round on fresh state from `make`, and returns the total time `side_b` took.
fn two_cores<A: Send, B: Send>(
    iters: u64,
    make: impl Fn() -> (A, B),
    side_a: impl Fn(&mut A) + Sync,
    side_b: impl Fn(&mut B) + Sync,
) -> Duration {
    let (cpu_a, cpu_b) = two_cpus();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (a, b) = make();
        let barrier = Barrier::new(2);
        total += thread::scope(|s| {
            s.spawn(|| {
                pin_current_thread(cpu_a).expect("pin side a");
                let mut a = CachePadded::new(a);
                barrier.wait();
                side_a(&mut a);
            });
            s.spawn(|| {
                pin_current_thread(cpu_b).expect("pin side b");
                let mut b = CachePadded::new(b);
                barrier.wait();
                let start = Instant::now();
                side_b(&mut b);
                start.elapsed()
            })
            .join()
            .expect("timed side panicked")
        });
    }
    total
}

const EXPECTED_SUM: u64 = ITEMS * (ITEMS - 1) / 2;

fn check_sum(sum: u64) {
    assert_eq!(black_box(sum), EXPECTED_SUM, "items lost or duplicated");
}

/// Pushes `0..ITEMS` one at a time, spinning while full.
fn push_each(mut try_push: impl FnMut(u64) -> bool) {
    for i in 0..ITEMS {
        while !try_push(i) {
            spin_loop();
        }
    }
}

/// Pops `ITEMS` items one at a time and checks their sum.
fn pop_each(mut try_pop: impl FnMut() -> Option<u64>) {
    let mut sum = 0u64;
    let mut n = 0;
    while n < ITEMS {
        match try_pop() {
            Some(v) => {
                sum = sum.wrapping_add(v);
                n += 1;
            }
            None => spin_loop(),
        }
    }
    check_sum(sum);
}

/// Pushes `0..ITEMS` in slices of `BATCH` through `push_slice`.
fn push_batches(mut push_slice: impl FnMut(&[u64]) -> usize) {
    let mut batch = [0u64; BATCH];
    let mut next = 0;
    while next < ITEMS {
        let n = BATCH.min((ITEMS - next) as usize);
        for (k, slot) in batch[..n].iter_mut().enumerate() {
            *slot = next + k as u64;
        }
        let mut done = 0;
        while done < n {
            let pushed = push_slice(&batch[done..n]);
            if pushed == 0 {
                spin_loop();
            }
            done += pushed;
        }
        next += n as u64;
    }
}

/// Pops `ITEMS` items in slices of up to `BATCH` and checks their sum.
fn pop_batches(mut pop_slice: impl FnMut(&mut [u64]) -> usize) {
    let mut buf = [0u64; BATCH];
    let mut sum = 0u64;
    let mut n = 0;
    while n < ITEMS {
        let got = pop_slice(&mut buf);
        if got == 0 {
            spin_loop();
        }
        sum = buf[..got].iter().fold(sum, |s, &v| s.wrapping_add(v));
        n += got as u64;
    }
    check_sum(sum);
}

fn throughput(c: &mut Criterion) {
    let mut group = flat_group(c, "spsc_throughput", ITEMS, Duration::from_secs(1), 4);

    group.bench_function("ms_spsc", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || ms_spsc::channel::<u64>(CAPACITY),
                |tx| push_each(|v| tx.try_push(v).is_ok()),
                |rx| pop_each(|| rx.try_pop().ok()),
            )
        })
    });
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || rtrb::RingBuffer::<u64>::new(CAPACITY),
                |tx| push_each(|v| tx.push(v).is_ok()),
                |rx| pop_each(|| rx.pop().ok()),
            )
        })
    });
    group.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let q = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAPACITY));
                    (Arc::clone(&q), q)
                },
                |q| push_each(|v| q.push(v).is_ok()),
                |q| pop_each(|| q.pop()),
            )
        })
    });
    group.bench_function("ms_spsc_batch64", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || ms_spsc::channel::<u64>(CAPACITY),
                |tx| push_batches(|s| tx.push_slice(s)),
                |rx| pop_batches(|s| rx.pop_slice(s)),
            )
        })
    });
    group.bench_function("ringbuf_batch64", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || ringbuf::HeapRb::<u64>::new(CAPACITY).split(),
                |tx| push_batches(|s| tx.push_slice(s)),
                |rx| pop_batches(|s| rx.pop_slice(s)),
            )
        })
    });
    group.finish();
}

/// The initiator's half of a ping-pong: sends `i`, waits for it to come back.
fn ping(mut send: impl FnMut(u64) -> bool, mut recv: impl FnMut() -> Option<u64>) {
    for i in 0..ROUNDS {
        while !send(i) {
            spin_loop();
        }
        let back = loop {
            if let Some(v) = recv() {
                break v;
            }
            spin_loop();
        };
        assert_eq!(back, i, "ping-pong out of order");
    }
}

/// The responder's half: echoes `ROUNDS` values.
fn pong(mut send: impl FnMut(u64) -> bool, mut recv: impl FnMut() -> Option<u64>) {
    for _ in 0..ROUNDS {
        let v = loop {
            if let Some(v) = recv() {
                break v;
            }
            spin_loop();
        };
        while !send(v) {
            spin_loop();
        }
    }
}

/// A message the size and alignment of a mesh job (one cache line), carrying a `u64`.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line {
    value: u64,
    _rest: [u64; 7],
}

impl Line {
    fn new(value: u64) -> Self {
        Self {
            value,
            _rest: [value; 7],
        }
    }
}

/// The floor of a round trip: one cache line written by each side.
struct PingPongCells {
    ping: CachePadded<AtomicU64>,
    pong: CachePadded<AtomicU64>,
}

fn round_trip(c: &mut Criterion) {
    let mut group = flat_group(c, "spsc_round_trip", ROUNDS, Duration::from_secs(1), 3);

    group.bench_function("bare_atomics_floor", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let cells = Arc::new(PingPongCells {
                        ping: CachePadded::new(AtomicU64::new(0)),
                        pong: CachePadded::new(AtomicU64::new(0)),
                    });
                    (Arc::clone(&cells), cells)
                },
                |cells| {
                    // Round `i` is the value `i + 1`, so that the initial 0 is never a message.
                    for i in 1..=ROUNDS {
                        while cells.ping.load(Ordering::Acquire) != i {
                            spin_loop();
                        }
                        cells.pong.store(i, Ordering::Release);
                    }
                },
                |cells| {
                    for i in 1..=ROUNDS {
                        cells.ping.store(i, Ordering::Release);
                        while cells.pong.load(Ordering::Acquire) != i {
                            spin_loop();
                        }
                    }
                },
            )
        })
    });
    group.bench_function("ms_spsc", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let (tx1, rx1) = ms_spsc::channel::<u64>(CAPACITY);
                    let (tx2, rx2) = ms_spsc::channel::<u64>(CAPACITY);
                    ((rx1, tx2), (tx1, rx2))
                },
                |(rx, tx)| pong(|v| tx.try_push(v).is_ok(), || rx.try_pop().ok()),
                |(tx, rx)| ping(|v| tx.try_push(v).is_ok(), || rx.try_pop().ok()),
            )
        })
    });
    group.bench_function("ms_spsc_64_byte_messages", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let (tx1, rx1) = ms_spsc::channel::<Line>(CAPACITY);
                    let (tx2, rx2) = ms_spsc::channel::<Line>(CAPACITY);
                    ((rx1, tx2), (tx1, rx2))
                },
                |(rx, tx)| {
                    pong(
                        |v| tx.try_push(Line::new(v)).is_ok(),
                        || rx.try_pop().ok().map(|line| line.value),
                    )
                },
                |(tx, rx)| {
                    ping(
                        |v| tx.try_push(Line::new(v)).is_ok(),
                        || rx.try_pop().ok().map(|line| line.value),
                    )
                },
            )
        })
    });
    group.bench_function("ms_spsc_stamped_56_byte_messages", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let (tx1, rx1) = ms_spsc::stamped::channel::<[u64; 7]>(CAPACITY);
                    let (tx2, rx2) = ms_spsc::stamped::channel::<[u64; 7]>(CAPACITY);
                    ((rx1, tx2), (tx1, rx2))
                },
                |(rx, tx)| {
                    pong(
                        |v| tx.try_push([v; 7]).is_ok(),
                        || rx.try_pop().ok().map(|m| m[0]),
                    )
                },
                |(tx, rx)| {
                    ping(
                        |v| tx.try_push([v; 7]).is_ok(),
                        || rx.try_pop().ok().map(|m| m[0]),
                    )
                },
            )
        })
    });
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            two_cores(
                iters,
                || {
                    let (tx1, rx1) = rtrb::RingBuffer::<u64>::new(CAPACITY);
                    let (tx2, rx2) = rtrb::RingBuffer::<u64>::new(CAPACITY);
                    ((rx1, tx2), (tx1, rx2))
                },
                |(rx, tx)| pong(|v| tx.push(v).is_ok(), || rx.pop().ok()),
                |(tx, rx)| ping(|v| tx.push(v).is_ok(), || rx.pop().ok()),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, throughput, round_trip);
criterion_main!(benches);
