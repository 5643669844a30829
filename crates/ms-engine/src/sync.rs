//! The one module that names the atomics, fences and locks of the doorbell and lifecycle
//! protocols: loom's under `--cfg loom`, std's otherwise, so the loom models check the real
//! protocol code.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Condvar, Mutex,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Condvar, Mutex,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};
