//! The one module that names atomics, fences and locks: loom's under `--cfg loom`, std's
//! otherwise, so the loom suite checks the real protocol code.
//!
//! [`process`] names the std types behind process-wide statics (the stall watchdog's list, the
//! signal handler's settings, the stall hook): loom's cannot live in a `static`, and no loom
//! model runs through them.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering, fence},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering, fence},
};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's `with`/`with_mut` interface, so that protocol code reads
/// the same under loom, where every access is checked for races.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to read through.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer to write through.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Std's types for process-wide statics, which no loom model runs through (see the module
/// docs).
pub(crate) mod process {
    pub(crate) use std::sync::atomic::{AtomicI32, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
}
