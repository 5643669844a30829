//! [`CachePadded`]: keeps a value alone on its cache line(s).

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Pads and aligns a value to the length of a cache line, so that two values that are written by
/// different cores never share a line (false sharing).
///
/// The alignment is 128 bytes on x86_64 and aarch64 and 64 bytes elsewhere. On x86_64 the
/// spatial prefetcher pulls cache lines in adjacent pairs, so two values 64 bytes apart still
/// interfere (Intel optimization manual, 2.5.5.4 "Data Prefetching"); Apple's and Neoverse aarch64
/// cores have 128-byte lines outright. crossbeam-utils makes the same choice for the same reasons.
///
/// # Examples
///
/// ```
/// use ms_spsc::CachePadded;
/// use std::sync::atomic::AtomicUsize;
///
/// struct Indices {
///     head: CachePadded<AtomicUsize>,
///     tail: CachePadded<AtomicUsize>,
/// }
/// let indices = Indices {
///     head: CachePadded::new(AtomicUsize::new(0)),
///     tail: CachePadded::new(AtomicUsize::new(0)),
/// };
/// let head = &*indices.head as *const AtomicUsize as usize;
/// let tail = &*indices.tail as *const AtomicUsize as usize;
/// assert!(tail - head >= 64, "head and tail are on different cache lines");
/// ```
#[cfg_attr(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    repr(C, align(128))
)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(C, align(64))
)]
#[derive(Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Pads `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Returns the inner value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePadded")
            .field("value", &self.value)
            .finish()
    }
}

impl<T> From<T> for CachePadded<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}
