//! `Foreign<T>`: usable on its home shard only, dropped on its home shard wherever it was let
//! go, and leaked (never dropped on the wrong thread) once home is out of reach.

#![cfg(not(loom))]

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Mutex;
use std::thread::{self, ThreadId};

use ms_engine::{Engine, Foreign, shard_id, stop, stopped, submit_to};
use ms_reactor::JoinError;

static_assertions::assert_impl_all!(Foreign<Rc<u8>>: Send);
static_assertions::assert_not_impl_any!(Foreign<Rc<u8>>: Sync);
static_assertions::assert_not_impl_any!(Rc<u8>: Send);

/// Where one kind of probe was dropped: (probe tag, shard, thread).
static DROPS: Mutex<Vec<(&'static str, Option<usize>, ThreadId)>> = Mutex::new(Vec::new());

/// A `!Send` value that records where it is dropped. Zero-sized, so a leaked one leaks no
/// memory (the valgrind run checks for definite leaks).
struct Probe {
    tag: &'static str,
    _not_send: PhantomData<*const ()>,
}

impl Probe {
    fn new(tag: &'static str) -> Self {
        Self {
            tag,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let shard = ms_engine::try_shard_id();
        DROPS
            .lock()
            .unwrap()
            .push((self.tag, shard, thread::current().id()));
    }
}

fn drops_of(tag: &str) -> Vec<(Option<usize>, ThreadId)> {
    DROPS
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.0 == tag)
        .map(|d| (d.1, d.2))
        .collect()
}

#[test]
fn a_foreign_dropped_on_another_shard_is_dropped_at_home() {
    let homes = Mutex::new(None);
    let homes = std::sync::Arc::new(homes);
    let record = std::sync::Arc::clone(&homes);
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(move || {
            let record = std::sync::Arc::clone(&record);
            async move {
                if shard_id() == 0 {
                    *record.lock().unwrap() = Some(thread::current().id());
                    let probe = Foreign::new(Probe::new("travels"));
                    assert_eq!(probe.home(), 0);
                    let outcome = submit_to(1, move || async move {
                        let seen = (probe.is_home(), probe.get().is_some(), probe.home());
                        drop(probe); // sent home as a request, before this reply
                        seen
                    })
                    .await;
                    assert_eq!(outcome, Ok((false, false, 0)));
                    // The reply travels in a lane of its own and may overtake the drop job.
                    while drops_of("travels").is_empty() {
                        ms_reactor::yield_now().await;
                    }
                    assert_eq!(drops_of("travels").len(), 1);
                    stop();
                }
                stopped().await;
            }
        })
        .unwrap();
    let home_thread = homes.lock().unwrap().unwrap();
    assert_eq!(drops_of("travels"), [(Some(0), home_thread)]);
}

#[test]
fn a_foreign_is_usable_on_its_home_shard() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 1 {
                let mut counter = Foreign::new(Rc::new(Cell::new(1)));
                assert!(counter.is_home());
                counter.get().unwrap().set(2);
                assert_eq!(counter.get_mut().map(|c| c.get()), Some(2));
                assert_eq!(counter.get(), Some(&Rc::new(Cell::new(2))));
                *counter = Rc::new(Cell::new(3)); // DerefMut on home
                assert_eq!(counter.get(), Some(&Rc::new(Cell::new(3))));
                let inner = counter.into_inner().ok().unwrap();
                assert_eq!(inner.get(), 3);
                assert_eq!(format!("{:?}", Foreign::new(())), "Foreign { home: 1, .. }");
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn away_from_home_a_foreign_cannot_be_reached() {
    Engine::builder()
        .shards(2)
        .pin(false)
        .run(|| async {
            if shard_id() == 0 {
                let value = Foreign::new(Rc::new(5));
                let back = submit_to(1, move || async move {
                    let mut value = value;
                    assert!(value.get_mut().is_none());
                    // Refused away from home: the Foreign comes back whole.
                    value.into_inner().err().map(|f| f.home())
                })
                .await;
                assert_eq!(back, Ok(Some(0)));

                let value = Foreign::new(Rc::new(6));
                let deref = submit_to(1, move || async move { **value }).await;
                assert!(
                    matches!(&deref, Err(JoinError::Panicked(m))
                        if m.contains("Foreign value of shard 0 used on shard 1")),
                    "{deref:?}"
                );
                stop();
            }
            stopped().await;
        })
        .unwrap();
}

#[test]
fn a_foreign_dropped_where_home_is_out_of_reach_is_leaked() {
    let escaped = std::sync::Arc::new(Mutex::new(Vec::new()));
    let out = std::sync::Arc::clone(&escaped);
    Engine::builder()
        .shards(1)
        .pin(false)
        .run(move || {
            let out = std::sync::Arc::clone(&out);
            async move {
                out.lock()
                    .unwrap()
                    .push(Foreign::new(Probe::new("escapes")));
            }
        })
        .unwrap();
    // The engine is gone; the probe's home thread has exited. Dropping it here must not run
    // its destructor on this thread.
    let escaped = std::mem::take(&mut *escaped.lock().unwrap());
    assert!(escaped[0].get().is_none());
    drop(escaped);
    assert_eq!(drops_of("escapes"), []);
}

#[test]
fn foreign_new_outside_an_engine_panics() {
    let result = std::panic::catch_unwind(|| Foreign::new(1));
    assert!(result.is_err());
}
