//! Statistics of the calling thread's pool: per size class, and for the large allocations that
//! went to the system allocator.

use std::fmt;

use crate::class::{COUNT, SizeClass};
use crate::heap;

/// The state of one size class of the calling thread's pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClassStats {
    /// Bytes per block of the class.
    pub block_size: usize,
    /// Blocks handed out and not yet freed.
    pub live: usize,
    /// Chunks the class holds (taken from the system allocator, not yet given back).
    pub chunks: usize,
    /// Chunks that hold no live block (kept for reuse, see
    /// [`set_max_empty_chunks`](crate::set_max_empty_chunks)), including the chunk the class
    /// allocates from if it is empty.
    pub empty_chunks: usize,
    /// Bytes of all those chunks.
    pub bytes_held: usize,
    /// Allocations served by this class since the pool was created.
    pub allocations: u64,
}

/// The state of the calling thread's pool: every size class, and the large allocations.
///
/// # Examples
///
/// ```
/// let before = ms_alloc::stats();
/// let b = ms_alloc::PoolBox::new([0u8; 100]);
/// let after = ms_alloc::stats();
/// assert_eq!(after.live(), before.live() + 1);
/// drop(b);
/// assert_eq!(ms_alloc::stats().live(), before.live());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Per size class, indexed by [`SizeClass::index`].
    pub classes: [ClassStats; COUNT],
    /// Large allocations (served by the system allocator) not yet freed.
    pub large_live: usize,
    /// Bytes of those.
    pub large_bytes: usize,
    /// Large allocations made since the pool was created.
    pub large_allocations: u64,
}

impl Stats {
    /// The statistics of `class`.
    #[must_use]
    pub fn class(&self, class: SizeClass) -> &ClassStats {
        &self.classes[class.index()]
    }

    /// Live blocks over all classes (not counting large allocations).
    #[must_use]
    pub fn live(&self) -> usize {
        self.classes.iter().map(|c| c.live).sum()
    }

    /// Chunks held over all classes.
    #[must_use]
    pub fn chunks(&self) -> usize {
        self.classes.iter().map(|c| c.chunks).sum()
    }

    /// Bytes held in chunks over all classes (not counting large allocations).
    #[must_use]
    pub fn bytes_held(&self) -> usize {
        self.classes.iter().map(|c| c.bytes_held).sum()
    }
}

impl fmt::Display for Stats {
    /// One line per size class that holds a chunk or served an allocation, then the large
    /// allocations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>8} {:>10} {:>8} {:>6} {:>12} {:>14}",
            "block", "live", "chunks", "empty", "bytes held", "allocations"
        )?;
        for c in self
            .classes
            .iter()
            .filter(|c| c.chunks > 0 || c.allocations > 0)
        {
            writeln!(
                f,
                "{:>8} {:>10} {:>8} {:>6} {:>12} {:>14}",
                c.block_size, c.live, c.chunks, c.empty_chunks, c.bytes_held, c.allocations
            )?;
        }
        write!(
            f,
            "large: {} live, {} bytes, {} allocations",
            self.large_live, self.large_bytes, self.large_allocations
        )
    }
}

/// The statistics of the calling thread's pool (all zero before its first allocation and after
/// it was torn down). Walks the chunk lists: cost proportional to the chunks held.
#[must_use]
pub fn stats() -> Stats {
    heap::stats()
}

/// The statistics of one size class of the calling thread's pool; see [`stats`].
#[must_use]
pub fn class_stats(class: SizeClass) -> ClassStats {
    heap::class_stats(class.index())
}
