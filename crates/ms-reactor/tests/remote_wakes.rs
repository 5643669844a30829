//! Wakes from another thread, for real. A lost wake would leave the reactor asleep; the
//! `timeout` guards turn that into a failure instead of a hang.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use ms_reactor::{Reactor, timeout};

const MESSAGES: u64 = 1_000_000;

/// `n`, divided by `MS_STRESS_DIVISOR` when set (valgrind runs use 100).
fn scaled(n: u64) -> u64 {
    let divisor = std::env::var("MS_STRESS_DIVISOR")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (n / divisor).max(1)
}

#[test]
fn a_million_foreign_wakes_none_lost() {
    let messages = scaled(MESSAGES);
    let sent = Arc::new(AtomicU64::new(0));
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let reactor = Reactor::new().unwrap();
    let received = reactor.block_on(async {
        let sender = {
            let sent = Arc::clone(&sent);
            let waker = Arc::clone(&waker);
            thread::spawn(move || {
                for i in 1..=messages {
                    sent.store(i, Ordering::Release);
                    if let Some(w) = waker.lock().unwrap().as_ref() {
                        w.wake_by_ref();
                    }
                }
            })
        };
        let mut seen = 0;
        let all = std::future::poll_fn(|cx| {
            // Register before looking, so a message after the look is announced by a wake.
            *waker.lock().unwrap() = Some(cx.waker().clone());
            seen = sent.load(Ordering::Acquire);
            if seen == messages {
                Poll::Ready(seen)
            } else {
                Poll::Pending
            }
        });
        let got = timeout(Duration::from_secs(120), all).await;
        sender.join().unwrap();
        got
    });
    assert_eq!(
        received,
        Ok(messages),
        "a wake was lost: the reactor stayed asleep"
    );
}

/// Ping-pong: the other thread sends message `i` only after the reactor has acknowledged
/// `i - 1`, so the reactor goes idle (and sleeps in `epoll_wait`) between messages, and every
/// message must get through the sleeping-flag handshake and the eventfd.
#[test]
fn every_ping_wakes_a_sleeping_reactor() {
    let rounds = scaled(100_000);
    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let reactor = Reactor::new().unwrap();
    let pinger = {
        let (sent, acked, waker) = (Arc::clone(&sent), Arc::clone(&acked), Arc::clone(&waker));
        thread::spawn(move || {
            for i in 1..=rounds {
                while acked.load(Ordering::Acquire) != i - 1 {
                    std::hint::spin_loop();
                }
                sent.store(i, Ordering::Release);
                if let Some(w) = waker.lock().unwrap().as_ref() {
                    w.wake_by_ref();
                }
            }
        })
    };
    let result = reactor.block_on(timeout(
        Duration::from_secs(120),
        std::future::poll_fn(|cx| {
            *waker.lock().unwrap() = Some(cx.waker().clone());
            let now = sent.load(Ordering::Acquire);
            acked.store(now, Ordering::Release);
            if now == rounds {
                Poll::Ready(now)
            } else {
                Poll::Pending
            }
        }),
    ));
    pinger.join().unwrap();
    assert_eq!(
        result,
        Ok(rounds),
        "a wake was lost: the reactor stayed asleep"
    );
}
