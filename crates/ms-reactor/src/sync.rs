//! The one module that names atomics, fences and locks: loom's under `--cfg loom`, std's
//! otherwise, so the loom suite checks the real protocol code.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, Ordering, fence},
};
