//! Helpers shared by the benchmarks: CPU pinning (ms-engine's) and the two-core harness.
//!
//! The numbers mean something only when the two sides of a cross-core benchmark run on two
//! different cores and stay there, so every two-thread benchmark pins its threads with
//! [`pin_current_thread`] to the first two CPUs of [`allowed_cpus`].

use std::time::Duration;

pub mod baseline;

/// A benchmark group for single-thread, per-operation benchmarks: one element per iteration,
/// half a second of warm-up and `seconds` of measurement (shortened by `MS_BENCH_QUICK`).
pub fn op_group<'a>(
    c: &'a mut criterion::Criterion,
    name: &str,
    seconds: u64,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(criterion::Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement_time(Duration::from_secs(seconds)));
    group
}

/// A benchmark group for long cross-core runs: `elements` per iteration, flat sampling of 10
/// samples (each iteration is milliseconds long), `warm_up`, and `seconds` of measurement
/// (shortened by `MS_BENCH_QUICK`).
pub fn flat_group<'a>(
    c: &'a mut criterion::Criterion,
    name: &str,
    elements: u64,
    warm_up: Duration,
    seconds: u64,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(criterion::Throughput::Elements(elements))
        .sampling_mode(criterion::SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(warm_up)
        .measurement_time(measurement_time(Duration::from_secs(seconds)));
    group
}

/// Registers `name` in `group`: each iteration is one whole `run`, which measures itself
/// (a cross-core run times only its own loop, not thread or runtime start-up).
pub fn each_run(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut run: impl FnMut() -> Duration,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run()).sum())
    });
}

/// `full` when `MS_BENCH_QUICK` is unset or `0`, a quarter of it otherwise: `cargo xtask bench
/// --quick` sets it to trade precision for time.
pub fn measurement_time(full: Duration) -> Duration {
    match std::env::var("MS_BENCH_QUICK").as_deref() {
        Ok("1") => full / 4,
        _ => full,
    }
}

pub use ms_engine::cpu::{allowed_cpus, pin_current_thread};

/// The two CPUs a cross-core benchmark runs on: the first two allowed ones, or the one CPU
/// twice on a single-CPU machine (then the numbers measure time-slicing, and say so).
///
/// # Panics
///
/// If the affinity mask cannot be read.
pub fn two_cpus() -> (usize, usize) {
    let cpus = allowed_cpus().expect("sched_getaffinity");
    match cpus.as_slice() {
        [a, b, ..] => (*a, *b),
        [a] => {
            eprintln!("warning: one CPU only; cross-core benchmarks will time-slice");
            (*a, *a)
        }
        [] => panic!("empty affinity mask"),
    }
}
