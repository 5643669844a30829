//! `Sharded<S>`: an instance per shard, reached by shard, stopped and dropped on its own shard.

#![cfg(not(loom))]

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ms_engine::{Engine, Service, Sharded, shard_count, shard_id, stop, stopped, submit_to};
use ms_reactor::JoinError;

static_assertions::assert_impl_all!(Sharded<Counter>: Send, Sync, Clone, Copy);

/// What happened to the instances of one test: (event, instance's shard, shard it ran on).
type Log = Arc<Mutex<Vec<(&'static str, usize, usize)>>>;

/// A per-shard service with `!Send` state that records its stop and its drop.
struct Counter {
    made_on: usize,
    hits: Rc<Cell<u64>>,
    log: Log,
}

impl Counter {
    /// Shard `shard`'s instance, logging into `log`.
    fn new(shard: usize, log: &Log) -> Self {
        Counter {
            made_on: shard,
            hits: Rc::new(Cell::new(0)),
            log: Arc::clone(log),
        }
    }
}

impl Service for Counter {
    async fn stop(&self) {
        ms_reactor::yield_now().await; // a real await inside the hook
        self.log
            .lock()
            .unwrap()
            .push(("stop", self.made_on, shard_id()));
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(("drop", self.made_on, shard_id()));
    }
}

fn sorted(log: &Log) -> Vec<(&'static str, usize, usize)> {
    let mut events = log.lock().unwrap().clone();
    events.sort_unstable();
    events
}

#[test]
fn start_invoke_and_stop_run_on_every_shard() {
    const SHARDS: usize = 3;
    let log: Log = Arc::default();
    let shared = Arc::clone(&log);
    Engine::builder()
        .shards(SHARDS)
        .pin(false)
        .run(move || {
            let log = Arc::clone(&shared);
            async move {
                if shard_id() != 1 {
                    stopped().await;
                    return;
                }
                let counters = Sharded::start(move |shard| Counter::new(shard, &log))
                    .await
                    .unwrap();
                assert_eq!(counters.local().made_on, 1);

                for shard in 0..shard_count() {
                    let seen = counters
                        .invoke_on(shard, move |c| async move {
                            c.hits.set(c.hits.get() + shard as u64 + 1);
                            (c.made_on, shard_id())
                        })
                        .await;
                    assert_eq!(seen, Ok((shard, shard)));
                }
                let hits: Vec<_> = counters
                    .invoke_on_all(|c| async move { c.hits.get() })
                    .await
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(hits, [1, 2, 3]);
                let total = counters
                    .map_reduce(|c| async move { c.hits.get() }, 100, |a, b| a + b)
                    .await;
                assert_eq!(total, Ok(106));

                // The handle is Send + Copy: another shard can use it to reach a third one.
                let via_zero = submit_to(0, move || async move {
                    counters.invoke_on(2, |c| async move { c.made_on }).await
                })
                .await;
                assert_eq!(via_zero, Ok(Ok(2)));

                counters.stop().await.unwrap();
                assert!(counters.try_local().is_none());
                let after = counters.invoke_on(0, |c| async move { c.made_on }).await;
                assert_eq!(
                    after,
                    Err(JoinError::Cancelled),
                    "a stopped service is not a panic"
                );
                counters.stop().await.unwrap(); // stopping twice does nothing
                stop();
                stopped().await;
            }
        })
        .unwrap();
    // Each instance was stopped, then dropped, on its own shard, exactly once.
    let expected: Vec<_> = (0..SHARDS)
        .flat_map(|s| [("drop", s, s), ("stop", s, s)])
        .collect();
    let mut expected = expected;
    expected.sort_unstable();
    assert_eq!(sorted(&log), expected);
    let events = log.lock().unwrap().clone();
    for shard in 0..SHARDS {
        let stop_at = events.iter().position(|e| *e == ("stop", shard, shard));
        let drop_at = events.iter().position(|e| *e == ("drop", shard, shard));
        assert!(stop_at < drop_at, "shard {shard}: stop hook before drop");
    }
}

#[test]
fn instances_never_stopped_are_dropped_on_their_shard_at_the_end() {
    let log: Log = Arc::default();
    let shared = Arc::clone(&log);
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || {
            let log = Arc::clone(&shared);
            async move {
                if shard_id() == 0 {
                    let counters = Sharded::start(move |shard| Counter::new(shard, &log))
                        .await
                        .unwrap();
                    // Wait until the other shard really has its instance before ending.
                    assert_eq!(
                        counters.invoke_on(1, |c| async move { c.made_on }).await,
                        Ok(1)
                    );
                    stop();
                }
                stopped().await;
            }
        })
        .unwrap();
    assert_eq!(sorted(&log), [("drop", 0, 0), ("drop", 1, 1)]);
}

/// Picky instances alive now.
static PICKY_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// A service whose constructor fails on one shard.
struct Picky;

impl Picky {
    fn new(shard: usize) -> Self {
        assert!(shard != 1, "no Picky on shard 1");
        PICKY_ALIVE.fetch_add(1, Ordering::SeqCst);
        Picky
    }
}

impl Drop for Picky {
    fn drop(&mut self) {
        PICKY_ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Service for Picky {}

#[test]
fn a_failed_start_is_an_error_and_leaves_no_instance() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                let started = Sharded::start(Picky::new).await;
                assert!(
                    matches!(&started, Err(JoinError::Panicked(m)) if m == "no Picky on shard 1"),
                    "{started:?}"
                );
                // Shard 0's instance was made, then stopped and dropped again.
                assert_eq!(PICKY_ALIVE.load(Ordering::SeqCst), 0);
                stop();
            }
            stopped().await;
        })
        .unwrap();
}
