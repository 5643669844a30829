//! Two real threads moving millions of items: order and sum checked, nothing timed.

#![cfg(not(loom))]

use std::hint::spin_loop;
use std::thread;

use ms_spsc::channel;

const ITEMS: u64 = if cfg!(miri) { 500 } else { 2_000_000 };

#[test]
fn single_items_arrive_in_order_across_threads() {
    let (mut tx, mut rx) = channel::<u64>(64);
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..ITEMS {
                let mut item = i;
                while let Err(full) = tx.try_push(item) {
                    item = full.into_inner();
                    spin_loop();
                }
            }
        });
        let mut expected = 0;
        while expected < ITEMS {
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
    let (mut tx, mut rx) = channel::<u64>(128);
    thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0;
            let mut items = (0..ITEMS).peekable();
            while items.peek().is_some() {
                // Alternate between slices and iterators of varying sizes.
                next += 1;
                if next % 2 == 0 {
                    let batch: Vec<u64> = items.by_ref().take(next % 50).collect();
                    let mut done = 0;
                    while done < batch.len() {
                        done += tx.push_slice(&batch[done..]);
                    }
                } else if tx.push_iter(items.by_ref().take(next % 70)) == 0 {
                    spin_loop();
                }
            }
        });
        let mut expected = 0;
        let mut sum = 0u64;
        let mut buf = [0u64; 33];
        while expected < ITEMS {
            let n = rx.pop_slice(&mut buf);
            for &v in &buf[..n] {
                assert_eq!(v, expected);
                expected += 1;
                sum += v;
            }
            for v in rx.drain().take(17) {
                assert_eq!(v, expected);
                expected += 1;
                sum += v;
            }
        }
        assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    });
}

#[test]
fn strings_are_neither_lost_nor_duplicated_with_abandonment() {
    let (mut tx, mut rx) = channel::<String>(16);
    thread::scope(|s| {
        s.spawn(move || {
            for i in 0..200_000u32 {
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
        assert_eq!(expected, 200_000);
    });
}
