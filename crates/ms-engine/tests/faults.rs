//! A shard that fails never hangs the others: work submitted to a shard whose future panicked
//! (before or after it was queued) comes back as `JoinError::Cancelled`, and `Engine::run`
//! returns the panic.
//!
//! Each engine runs under a watchdog: a hang fails the test (after a minute) instead of
//! stalling the suite. No assertion depends on timing.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ms_engine::{
    Engine, EngineError, Sharded, invoke_on_all, map_reduce, mesh_stats, shard_id, stopped,
    submit_to,
};
use ms_reactor::JoinError;

/// Runs `body` on a thread of its own and returns its result; panics if it has not returned
/// within a minute (a hang: what these tests guard against).
fn within_a_minute<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the engine hung (or its thread panicked)")
}

/// What shard 0 saw, for the test to check after the run.
type Seen = Arc<Mutex<Vec<Result<usize, JoinError>>>>;

fn assert_shard_one_panicked(result: Result<(), EngineError>) {
    match result {
        Err(EngineError::Panicked { shard: 1, message }) => {
            assert_eq!(message, "shard one fails");
        }
        other => panic!("expected shard 1's panic, got {other:?}"),
    }
}

#[test]
fn submit_to_a_shard_whose_future_panicked_is_cancelled() {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let result = within_a_minute(move || {
        Engine::builder().shards(2).pin(false).run(move || {
            let record = Arc::clone(&record);
            async move {
                if shard_id() == 1 {
                    panic!("shard one fails");
                }
                // The panic stops the engine: by then shard 1's lanes are gone.
                stopped().await;
                let reply = submit_to(1, || async { 1 }).await;
                record.lock().unwrap().push(reply);
                let all = invoke_on_all(|| async { shard_id() }).await;
                record.lock().unwrap().extend(all);
                let sum = map_reduce(|| async { 1 }, 0, |a, b| a + b).await;
                record.lock().unwrap().push(sum);
                assert!(mesh_stats().undeliverable >= 3);
            }
        })
    });
    assert_shard_one_panicked(result);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Err(JoinError::Cancelled),
            Ok(0),
            Err(JoinError::Cancelled),
            Err(JoinError::Cancelled)
        ]
    );
}

#[test]
fn work_queued_for_a_shard_before_it_panicked_is_cancelled() {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let gate = Arc::new(Barrier::new(2));
    let result = within_a_minute(move || {
        Engine::builder().shards(2).pin(false).run(move || {
            let (record, gate) = (Arc::clone(&record), Arc::clone(&gate));
            async move {
                if shard_id() == 1 {
                    // Blocks this shard's thread (its mesh never polls) until shard 0 has
                    // queued its requests, then fails with them in its lanes.
                    gate.wait();
                    panic!("shard one fails");
                }
                // The first request goes straight into the lane; the rest wait in this
                // shard's backlog, then in the lane: all are queued when shard 1 fails.
                let replies: Vec<_> = (0..2000)
                    .map(|i| submit_to(1, move || async move { i }))
                    .collect();
                ms_reactor::yield_now().await; // the poller publishes the backlog
                gate.wait();
                for reply in replies {
                    let reply = reply.await;
                    record.lock().unwrap().push(reply);
                }
            }
        })
    });
    assert_shard_one_panicked(result);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2000);
    assert!(
        seen.iter().all(|r| *r == Err(JoinError::Cancelled)),
        "{:?}",
        &seen[..3]
    );
}

/// A service whose instance counts nothing: `Sharded` on a shard that panicked.
struct Nothing;

impl ms_engine::Service for Nothing {}

#[test]
fn sharded_calls_to_a_shard_that_panicked_are_cancelled() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&cancelled);
    let result = within_a_minute(move || {
        Engine::builder().shards(2).pin(false).run(move || {
            let count = Arc::clone(&count);
            async move {
                if shard_id() == 1 {
                    stopped().await;
                    panic!("shard one fails");
                }
                let service = Sharded::start(|_| Nothing).await.unwrap();
                ms_engine::stop();
                // Shard 1 fails once it sees the stop; until then its replies come back.
                while submit_to(1, || async {}).await.is_ok() {}
                if service.invoke_on(1, |_| async {}).await == Err(JoinError::Cancelled) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                // Stopping the service does not hang on the shard that is gone.
                let _ = service.stop().await;
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    assert_shard_one_panicked(result);
    assert_eq!(cancelled.load(Ordering::SeqCst), 2);
}

/// Ready after `pending` polls (waking itself), with `value`; panics when dropped.
struct PanicsOnDrop {
    pending: u32,
    value: usize,
}

impl std::future::Future for PanicsOnDrop {
    type Output = usize;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<usize> {
        if self.pending == 0 {
            return std::task::Poll::Ready(self.value);
        }
        self.pending -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("work dropped");
    }
}

#[test]
fn a_panic_in_the_works_drop_is_panicked_whether_it_was_ready_at_once_or_not() {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    within_a_minute(move || {
        Engine::builder().shards(2).pin(false).run(move || {
            let record = Arc::clone(&record);
            async move {
                if shard_id() == 0 {
                    // Ready at once, ready later (spawned on the target), and on this shard.
                    for (shard, pending) in [(1, 0), (1, 2), (0, 0), (0, 2)] {
                        let work = move || PanicsOnDrop { pending, value: 7 };
                        let reply = submit_to(shard, work).await;
                        record.lock().unwrap().push(reply);
                    }
                    ms_engine::stop();
                }
                stopped().await;
            }
        })
    })
    .unwrap();
    let panicked = Err(JoinError::Panicked("work dropped".into()));
    assert_eq!(*seen.lock().unwrap(), vec![panicked; 4]);
}

/// A panic payload whose own drop panics (zero-sized, as is the second payload, so what
/// the mesh leaks allocates nothing and valgrind sees no leak).
struct NastyPayload;

/// The payload of [`NastyPayload`]'s drop.
struct SecondPayload;

impl Drop for NastyPayload {
    fn drop(&mut self) {
        std::panic::panic_any(SecondPayload);
    }
}

#[test]
fn panicking_jobs_are_counted_and_a_payload_that_panics_again_is_contained() {
    let panics = Arc::new(AtomicUsize::new(usize::MAX));
    let record = Arc::clone(&panics);
    within_a_minute(move || {
        Engine::builder().shards(2).pin(false).run(move || {
            let record = Arc::clone(&record);
            async move {
                if shard_id() == 0 {
                    ms_engine::send_to(1, || panic!("a failing job"));
                    ms_engine::send_to(1, || std::panic::panic_any(NastyPayload));
                    // Runs after both (one request lane, in order): shard 1 lives on.
                    let counted = submit_to(1, || async { mesh_stats().panics }).await;
                    record.store(counted.unwrap() as usize, Ordering::SeqCst);
                    // The same payload in a submit_to's work comes back as an error.
                    let reply = submit_to(1, || async { std::panic::panic_any(NastyPayload) });
                    assert!(matches!(reply.await, Err(JoinError::Panicked(_))));
                    ms_engine::stop();
                }
                stopped().await;
            }
        })
    })
    .unwrap();
    assert_eq!(panics.load(Ordering::SeqCst), 2);
}
