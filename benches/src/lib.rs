//! Helpers shared by the benchmarks: CPU pinning and the two-core harness.
//!
//! The numbers mean something only when the two sides of a cross-core benchmark run on two
//! different cores and stay there, so every two-thread benchmark pins its threads with
//! [`pin_current_thread`] to the first two CPUs of [`allowed_cpus`].

use std::io;
use std::time::Duration;

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

/// `full` when `MS_BENCH_QUICK` is unset or `0`, a quarter of it otherwise: `cargo xtask bench
/// --quick` sets it to trade precision for time.
pub fn measurement_time(full: Duration) -> Duration {
    match std::env::var("MS_BENCH_QUICK").as_deref() {
        Ok("1") => full / 4,
        _ => full,
    }
}

/// The CPUs this process may run on (its affinity mask), in increasing order.
///
/// # Errors
///
/// The OS error of `sched_getaffinity`.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain bits; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size we pass.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits in `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
///
/// The OS error of `sched_setaffinity` (for example `EINVAL` for a CPU outside the mask).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE`, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size we pass; 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_allowed_cpu_and_rejects_others() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        std::thread::spawn(move || {
            pin_current_thread(cpus[0]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), [cpus[0]]);
            assert!(pin_current_thread(libc::CPU_SETSIZE as usize).is_err());
        })
        .join()
        .unwrap();
    }
}
