//! A two-stage pipeline over ms-spsc: one thread parses numbers out of text lines, another sums
//! them, with batches moving between them through a bounded queue and a second queue for
//! the result. Shows back-pressure (the parser spins when the queue is full), batch transfer,
//! and end-of-stream through abandonment.
//!
//! ```text
//! cargo run --release -p ms-examples --example spsc_pipeline -- 1000000
//! ```

#![allow(missing_docs)]

use std::hint::spin_loop;
use std::thread;

fn main() {
    let lines: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("usage: spsc_pipeline [LINES]"))
        .unwrap_or(1_000_000);
    let (mut numbers_tx, mut numbers_rx) = ms_spsc::channel::<u64>(1024);

    let parser = thread::spawn(move || {
        let mut batch = Vec::with_capacity(64);
        let mut line = String::new();
        for i in 0..lines {
            line.clear();
            line.push_str("value=");
            line.push_str(&i.to_string());
            let value: u64 = line["value=".len()..].parse().expect("we wrote a number");
            batch.push(value);
            if batch.len() == batch.capacity() || i + 1 == lines {
                let mut sent = 0;
                while sent < batch.len() {
                    let n = numbers_tx.push_slice(&batch[sent..]);
                    if n == 0 {
                        spin_loop();
                    }
                    sent += n;
                }
                batch.clear();
            }
        }
        // Dropping the producer tells the summer that the stream has ended.
    });

    let mut sum = 0u64;
    let mut count = 0u64;
    loop {
        // Check abandonment *before* draining: once it is seen, the drain gets the last items.
        let finished = numbers_rx.is_abandoned();
        for v in numbers_rx.drain() {
            sum += v;
            count += 1;
        }
        if finished {
            break;
        }
        spin_loop();
    }
    parser.join().expect("parser thread panicked");
    assert_eq!(count, lines);
    assert_eq!(sum, lines * lines.saturating_sub(1) / 2);
    println!("summed {count} numbers: {sum}");
}
