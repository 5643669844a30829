//! Two real threads moving millions of items: order and sum checked, nothing timed.

#![cfg(not(loom))]

use std::thread;

use ms_spsc::channel;

/// Items each test moves: `full` (500 under Miri), divided by the square of
/// `MS_STRESS_DIVISOR` when set (`cargo xtask valgrind` sets 100: valgrind runs one thread at
/// a time, so every handoff through a full or empty ring waits for a thread switch; at
/// `full / 100` the three tests took almost 5 minutes there).
fn scaled(full: u64) -> u64 {
    if cfg!(miri) {
        return 500;
    }
    let divisor = std::env::var("MS_STRESS_DIVISOR")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (full / divisor.saturating_mul(divisor)).max(1)
}

/// Waits a moment for the other thread: a spin natively; a yield when `MS_STRESS_DIVISOR` is
/// set (under valgrind, which runs one thread at a time, a spinning thread would hold the
/// only running slot for its whole time slice at every handoff).
fn spin_loop() {
    static YIELD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *YIELD.get_or_init(|| std::env::var_os("MS_STRESS_DIVISOR").is_some()) {
        thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

#[test]
fn single_items_arrive_in_order_across_threads() {
    let items = scaled(2_000_000);
    let (mut tx, mut rx) = channel::<u64>(64);
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..items {
                let mut item = i;
                while let Err(full) = tx.try_push(item) {
                    item = full.into_inner();
                    spin_loop();
                }
            }
        });
        let mut expected = 0;
        while expected < items {
            match rx.try_pop() {
                Ok(v) => {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                Err(_) => spin_loop(),
            }
        }
        assert!(rx.try_pop().is_err());
    });
}

#[test]
fn batches_arrive_in_order_across_threads() {
    let items = scaled(2_000_000);
    let (mut tx, mut rx) = channel::<u64>(128);
    thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0;
            let mut pending = (0..items).peekable();
            while pending.peek().is_some() {
                // Alternate between slices and iterators of varying sizes.
                next += 1;
                if next % 2 == 0 {
                    let batch: Vec<u64> = pending.by_ref().take(next % 50).collect();
                    let mut done = 0;
                    while done < batch.len() {
                        let pushed = tx.push_slice(&batch[done..]);
                        if pushed == 0 {
                            spin_loop();
                        }
                        done += pushed;
                    }
                } else if tx.push_iter(pending.by_ref().take(next % 70)) == 0 {
                    spin_loop();
                }
            }
        });
        let mut expected = 0;
        let mut sum = 0u64;
        let mut buf = [0u64; 33];
        while expected < items {
            let n = rx.pop_slice(&mut buf);
            for &v in &buf[..n] {
                assert_eq!(v, expected);
                expected += 1;
                sum += v;
            }
            let before = expected;
            for v in rx.drain().take(17) {
                assert_eq!(v, expected);
                expected += 1;
                sum += v;
            }
            if n == 0 && expected == before {
                spin_loop();
            }
        }
        assert_eq!(sum, items * (items - 1) / 2);
    });
}

#[test]
fn strings_are_neither_lost_nor_duplicated_with_abandonment() {
    let items = scaled(200_000) as u32;
    let (mut tx, mut rx) = channel::<String>(16);
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..items {
                let mut item = i.to_string();
                while let Err(full) = tx.try_push(item) {
                    item = full.into_inner();
                    spin_loop();
                }
            }
        });
        let mut expected = 0u32;
        loop {
            let finished = rx.is_abandoned();
            for v in rx.drain() {
                assert_eq!(v, expected.to_string());
                expected += 1;
            }
            if finished {
                break;
            }
        }
        assert_eq!(expected, items);
    });
}
