//! How much memory 4,000,000 wakes of a dead reactor's waker cost (VmRSS before and after).
//! A measurement, not a check run by default:
//! `cargo test -p ms-reactor --release --test stale_wake_memory -- --ignored --nocapture`.

#![cfg(not(loom))]

use std::task::Waker;

use ms_reactor::Reactor;

/// This process's resident set size in KiB, from `/proc/self/status`.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "a measurement: run it alone, with --ignored --nocapture"]
fn four_million_stale_wakes_cost_no_memory() {
    const WAKES: u32 = 4_000_000;
    let reactor = Reactor::new().unwrap();
    let waker: Waker = reactor.block_on(std::future::poll_fn(|cx| {
        std::task::Poll::Ready(cx.waker().clone())
    }));
    drop(reactor);
    let before = vm_rss_kib();
    for _ in 0..WAKES {
        waker.wake_by_ref();
    }
    let after = vm_rss_kib();
    println!(
        "VmRSS before {before} KiB, after {WAKES} stale wakes {after} KiB: grew {} KiB",
        after.saturating_sub(before)
    );
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "stale wakes grew the process by {} KiB",
        after - before
    );
}
