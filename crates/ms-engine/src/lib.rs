//! The pinned thread-per-core runtime of Mini-SeaStar: one thread per shard, pinned to its
//! CPU, each with its own [`ms_reactor::Reactor`]; the same future runs on every shard, which
//! knows itself by [`shard_id`]; [`stop`] from any shard ends them all in order.
//!
//! Shards talk only through the SMP mesh, one ms-spsc lane per ordered pair:
//! [`submit_to`] runs work on another shard and brings its `Send` result back;
//! [`invoke_on_all`] runs it on every shard. `Sharded<S>`, `Foreign<T>` and signal handling
//! come next.
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

#![doc(test(no_crate_inject, attr(deny(warnings))))]

pub mod cpu;
mod engine;
mod mesh;
mod signals;

pub use engine::{Builder, EngineError, shard_count, shard_id, stop, stopped, try_shard_id};
pub use mesh::{invoke_on_all, submit_to};

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
