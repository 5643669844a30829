//! Reactor pollers: polled every turn, asked before the loop sleeps, woken by
//! `reactor_waker` from another thread.

#![cfg(not(loom))]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ms_reactor::{Poller, Reactor, Sleep};

/// What a poller and the main future share.
#[derive(Default)]
struct Shared {
    seen: Cell<u64>,
    main: RefCell<Option<Waker>>,
    asked: Cell<u32>,
    woke: Cell<u32>,
}

impl Shared {
    fn wake_main(&self) {
        if let Some(waker) = self.main.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once `seen` reaches `want`.
    async fn until_seen(&self, want: u64) {
        std::future::poll_fn(|cx| {
            if self.seen.get() >= want {
                return Poll::Ready(());
            }
            *self.main.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Collects what another thread adds to a counter.
struct Collector {
    inbox: Arc<AtomicU64>,
    shared: Rc<Shared>,
}

impl Poller for Collector {
    fn poll(&mut self) -> bool {
        let n = self.inbox.swap(0, Ordering::Acquire);
        if n > 0 {
            self.shared.seen.set(self.shared.seen.get() + n);
            self.shared.wake_main();
        }
        n > 0
    }

    fn try_sleep(&mut self) -> Sleep {
        self.shared.asked.set(self.shared.asked.get() + 1);
        // A last look, as a poller should (here the sender's wake after each add would also
        // do: the reactor's own handshake never loses it).
        if self.inbox.load(Ordering::Acquire) > 0 {
            Sleep::Refused
        } else {
            Sleep::Allowed
        }
    }

    fn woke(&mut self) {
        self.shared.woke.set(self.shared.woke.get() + 1);
    }
}

#[test]
fn a_poller_sees_another_threads_work_after_the_reactor_waker_wakes_the_loop() {
    let reactor = Reactor::new().unwrap();
    let inbox = Arc::new(AtomicU64::new(0));
    let shared = Rc::new(Shared::default());
    const ROUNDS: u64 = 200;
    reactor.block_on(async {
        ms_reactor::add_poller(Collector {
            inbox: Arc::clone(&inbox),
            shared: Rc::clone(&shared),
        });
        let waker = ms_reactor::reactor_waker();
        let sender = {
            let inbox = Arc::clone(&inbox);
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    inbox.fetch_add(1, Ordering::Release);
                    waker.wake_by_ref();
                }
            })
        };
        // Without the reactor waker, the loop would sleep with work in the inbox forever.
        shared.until_seen(ROUNDS).await;
        sender.join().unwrap();
    });
    assert_eq!(shared.seen.get(), ROUNDS);
    assert_eq!(
        shared.asked.get(),
        shared.woke.get(),
        "every successful try_sleep is followed by woke (refusals excepted)"
    );
}

/// Refuses to sleep a few times, then bounds a sleep; the reactor must come back by itself.
struct Retrier {
    shared: Rc<Shared>,
    refusals: u32,
}

impl Poller for Retrier {
    fn poll(&mut self) -> bool {
        if self.shared.woke.get() >= 1 && self.shared.seen.get() == 0 {
            self.shared.seen.set(1);
            self.shared.wake_main();
            return true;
        }
        false
    }

    fn try_sleep(&mut self) -> Sleep {
        self.shared.asked.set(self.shared.asked.get() + 1);
        if self.refusals > 0 {
            self.refusals -= 1;
            return Sleep::Refused;
        }
        Sleep::Until(Instant::now() + Duration::from_millis(1))
    }

    fn woke(&mut self) {
        self.shared.woke.set(self.shared.woke.get() + 1);
    }
}

#[test]
fn a_bounded_sleep_returns_and_a_refusal_keeps_the_loop_up() {
    let reactor = Reactor::new().unwrap();
    let shared = Rc::new(Shared::default());
    reactor.block_on(async {
        ms_reactor::add_poller(Retrier {
            shared: Rc::clone(&shared),
            refusals: 3,
        });
        // No timer, no I/O, no other thread: only the poller's bound wakes the loop.
        shared.until_seen(1).await;
    });
    assert_eq!(shared.seen.get(), 1);
    assert!(
        shared.asked.get() >= 4,
        "three refusals, then a bounded sleep"
    );
    assert_eq!(shared.woke.get(), shared.asked.get() - 3);
}

/// Expects work from another thread that never wakes the reactor: asks the loop to keep
/// polling until it has seen `want`, and counts how often the loop asked to sleep.
struct Expecting {
    collector: Collector,
    want: u64,
}

impl Poller for Expecting {
    fn poll(&mut self) -> bool {
        self.collector.poll()
    }

    fn try_sleep(&mut self) -> Sleep {
        self.collector.try_sleep()
    }

    fn woke(&mut self) {
        self.collector.woke();
    }

    fn busy_until(&mut self, now: Instant) -> Option<Instant> {
        (self.collector.shared.seen.get() < self.want).then(|| now + Duration::from_secs(3600))
    }
}

#[test]
fn a_poller_expecting_work_keeps_the_loop_polling_without_any_wake() {
    const ROUNDS: u64 = 100;
    let reactor = Reactor::new().unwrap(); // no busy-polling of its own
    let inbox = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let shared = Rc::new(Shared::default());
    let needed_a_wake = reactor.block_on(async {
        ms_reactor::add_poller(Expecting {
            collector: Collector {
                inbox: Arc::clone(&inbox),
                shared: Rc::clone(&shared),
            },
            want: ROUNDS,
        });
        let waker = ms_reactor::reactor_waker();
        let sender = {
            let (inbox, acked) = (Arc::clone(&inbox), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut needed_a_wake = false;
                for round in 1..=ROUNDS {
                    inbox.fetch_add(1, Ordering::Release); // no wake
                    // Bounded: were the loop asleep, it would never see the work; wake it
                    // after a generous wait so the test fails instead of hanging.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while acked.load(Ordering::Acquire) < round {
                        if needed_a_wake || Instant::now() > deadline {
                            needed_a_wake = true;
                            waker.wake_by_ref();
                        }
                        std::thread::yield_now();
                    }
                }
                needed_a_wake
            })
        };
        for round in 1..=ROUNDS {
            shared.until_seen(round).await;
            acked.store(round, Ordering::Release);
        }
        sender.join().unwrap()
    });
    assert!(
        !needed_a_wake,
        "the loop slept while its poller expected work"
    );
    assert_eq!(shared.seen.get(), ROUNDS);
    assert_eq!(
        shared.asked.get(),
        0,
        "never asked to sleep while work was expected"
    );
    assert_eq!(reactor.stats().sleeps, 0);
}

#[test]
#[should_panic(expected = "outside a running reactor")]
fn add_poller_outside_a_reactor_panics_clearly() {
    ms_reactor::add_poller(Retrier {
        shared: Rc::default(),
        refusals: 0,
    });
}
