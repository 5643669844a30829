//! The pinned thread-per-core runtime of Mini-SeaStar: one thread per shard, pinned to its
//! CPU, each with its own [`ms_reactor::Reactor`]; the same future runs on every shard, which
//! knows itself by [`shard_id`]; [`stop`] from any shard ends them all in order.
//!
//! Shards talk only through the SMP mesh, ms-spsc lanes between every ordered pair (one for
//! requests, one for replies):
//! [`submit_to`] runs work on another shard and brings its `Send` result back; [`send_to`]
//! sends work with no reply; [`invoke_on_all`] and [`map_reduce`] run it on every shard.
//! Above it, [`Sharded<S>`](Sharded) runs one instance of a service per shard, and
//! [`Foreign<T>`](Foreign) lets one shard's value (even an `Rc`) travel to others and come home
//! to be dropped. SIGINT and SIGTERM stop every running engine in order.
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! let started = Arc::new(AtomicUsize::new(0));
//! let counter = Arc::clone(&started);
//! ms_engine::Engine::builder()
//!     .shards(2)
//!     .pin(false)
//!     .run(move || {
//!         let counter = Arc::clone(&counter);
//!         async move {
//!             counter.fetch_add(1, Ordering::SeqCst);
//!             if ms_engine::shard_id() == 0 {
//!                 ms_engine::stop();
//!             }
//!             ms_engine::stopped().await;
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(started.load(Ordering::SeqCst), 2);
//! ```
//!
//! # The mesh
//!
//! A message to another shard is queued on the sender and published into a lane from this
//! shard to it in batches, once per reactor turn (after the sending task yields), so a sender
//! never blocks (what does not fit in a full lane waits for the next turn) and requests from
//! one shard to another run in the order they were sent. Replies (the results of
//! [`submit_to`]) travel in lanes of their own and run first, so a reply never waits behind
//! requests, however many are queued. Each shard's reactor polls its
//! incoming lanes itself, on every turn and every busy-poll spin (an
//! [`ms_reactor::Poller`]). Doorbells are batched too: a shard rings each target at most once
//! per batch, and only if the target is about to sleep or sleeps; a busy target is never
//! woken. [`mesh_stats`] counts the messages, the ones that waited for room, the wakes of
//! each shard and the replies it awaits.
//!
//! A shard awaiting replies ([`submit_to`] and the helpers built on it) does not go to sleep
//! at once when it runs out of work: it keeps polling for up to
//! [`Builder::reply_poll`] (50 us by default), so the reply finds it awake. A round trip to an
//! idle shard then pays one wake, the target's, instead of two.
//!
//! # Failures, floods and cancellation
//!
//! - A shard whose future panics ends; the others are asked to [`stop`], and [`Builder::run`]
//!   returns the panic. Work sent to it, queued before or sent after, comes back as
//!   [`JoinError::Cancelled`](ms_reactor::JoinError::Cancelled) at once: nothing waits on a
//!   shard that is gone.
//! - A sender never blocks, so what does not fit in a lane waits in the sender's backlog,
//!   which is unbounded ([`MeshStats::backlog`]). Senders in a [`ServiceGroup`] wait instead
//!   for one of the group's units, so a flood costs bounded memory; replies never wait.
//! - Dropping a [`submit_to`] future before its work starts cancels the work; a deadline
//!   ([`SubmitOptions::deadline`]) drops work that could not start in time.
//! - The reactor's time quota bounds a poll of mesh messages as it bounds a turn of tasks
//!   ([`Builder::time_quota`]); stalls are reported while they last
//!   ([`Builder::stall_threshold`]).
//!
//! # Types and functions
//!
//! - [`Engine::builder`] and [`Builder`]: shards, cores, pinning, busy-polling, reply polling;
//!   [`EngineError`].
//! - [`shard_id`], [`try_shard_id`], [`shard_count`], [`stop`], [`stopped`].
//! - [`submit_to`], [`send_to`], [`invoke_on_all`], [`map_reduce`]; [`mesh_stats`] and
//!   [`MeshStats`].
//! - [`submit_to_with`] and [`SubmitOptions`]: cross-shard work in a [`ServiceGroup`] (a cap
//!   on the requests in flight to each shard) and with a deadline.
//! - [`Sharded`] and [`Service`]: one service instance per shard.
//! - [`Foreign`]: a shard's value that may travel and comes home to be dropped.
//! - [`cpu`]: affinity and pinning.

#![doc(test(no_crate_inject, attr(deny(warnings))))]

pub mod cpu;
mod doorbell;
mod engine;
mod foreign;
mod group;
mod job;
mod lifecycle;
mod mesh;
mod sharded;
mod signals;
mod stats;
mod submit;
mod submit_with;
mod sync;

/// The README's Rust code, compiled as doc tests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub use engine::{
    Builder, DEFAULT_REPLY_POLL, EngineError, shard_count, shard_id, stop, stopped, try_shard_id,
};
pub use foreign::Foreign;
pub use group::ServiceGroup;
pub use sharded::{Service, Sharded};
pub use stats::{MeshStats, mesh_stats};
pub use submit::{invoke_on_all, map_reduce, send_to, submit_to};
pub use submit_with::{SubmitOptions, submit_to_with};

/// The engine; start one with [`Engine::builder`].
#[derive(Debug)]
pub struct Engine(());

impl Engine {
    /// A [`Builder`] with the defaults: a shard per CPU of the calling thread's affinity mask,
    /// each pinned, no busy-polling.
    pub fn builder() -> Builder {
        Builder::default()
    }
}
