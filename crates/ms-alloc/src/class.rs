//! Size classes: which block size serves a request, and how a chunk of each class is laid out.
//!
//! There are [`SizeClass::COUNT`] classes, two per power of two: 16, 24, 32, 48, 64, 96, …,
//! 32 KiB, 48 KiB, 64 KiB. A request goes to the smallest class whose block is at least as large
//! and at least as aligned as it asks, so at most a third of a block is wasted.
//!
//! # Alignment
//!
//! Chunks are aligned to their own size (at least 64 KiB) and block `i` of a chunk starts at
//! `first_block_offset + i * block_size`, where `first_block_offset` is a multiple of the class
//! alignment. A block is therefore aligned to the largest power of two dividing its size,
//! capped at [`MAX_POOLED_ALIGN`]: 16 for the 16 and 48 classes, 8 for the 24 class, 32 for 96,
//! the size itself for powers of two. A request that needs more alignment than its size class
//! gives goes to the next class (always a power of two, which is aligned enough).
//!
//! # Chunk geometry
//!
//! A chunk is the smallest power of two of at least 64 KiB that holds the 64-byte chunk header
//! and at least four blocks. Its header sits at the start, so the chunk of any block is found by
//! masking the block's address with `!(chunk_size - 1)`.

use std::alloc::Layout;

use crate::chunk::HEADER_SIZE;

/// Requests larger than this many bytes go to the system allocator.
pub const MAX_POOLED_SIZE: usize = 64 * 1024;

/// Requests aligned to more than this many bytes go to the system allocator.
pub const MAX_POOLED_ALIGN: usize = 4096;

/// The smallest chunk, in bytes.
const MIN_CHUNK_SIZE: usize = 64 * 1024;

/// Every chunk holds at least this many blocks.
const MIN_BLOCKS_PER_CHUNK: usize = 4;

/// Number of size classes.
pub(crate) const COUNT: usize = 25;

/// Everything about one class, computed at compile time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    /// Bytes per block.
    pub(crate) block_size: usize,
    /// Alignment every block of the class has.
    pub(crate) align: usize,
    /// Bytes per chunk: a power of two, and the chunk's alignment.
    pub(crate) chunk_size: usize,
    /// Offset of block 0 from the chunk start: past the header, a multiple of `align`.
    pub(crate) first_block: usize,
    /// Blocks per chunk, at least [`MIN_BLOCKS_PER_CHUNK`].
    pub(crate) blocks: usize,
}

/// The block size of class `index`: 16, then alternately `3 * 2^(k-1)` and `2^(k+1)`.
const fn block_size_of(index: usize) -> usize {
    if index == 0 {
        return 16;
    }
    let bits = 5 + (index - 1) / 2;
    if (index - 1) % 2 == 0 {
        3 << (bits - 2)
    } else {
        1 << bits
    }
}

const fn geometry_of(index: usize) -> Geometry {
    let block_size = block_size_of(index);
    let natural = 1 << block_size.trailing_zeros();
    let align = if natural < MAX_POOLED_ALIGN {
        natural
    } else {
        MAX_POOLED_ALIGN
    };
    let first_block = HEADER_SIZE.next_multiple_of(align);
    let mut chunk_size = MIN_CHUNK_SIZE;
    while (chunk_size - first_block) / block_size < MIN_BLOCKS_PER_CHUNK {
        chunk_size *= 2;
    }
    Geometry {
        block_size,
        align,
        chunk_size,
        first_block,
        blocks: (chunk_size - first_block) / block_size,
    }
}

/// The geometry of every class, indexed by class.
pub(crate) const GEOMETRY: [Geometry; COUNT] = {
    let mut table = [geometry_of(0); COUNT];
    let mut i = 1;
    while i < COUNT {
        table[i] = geometry_of(i);
        i += 1;
    }
    table
};

const _: () = assert!(GEOMETRY[COUNT - 1].block_size == MAX_POOLED_SIZE);
const _: () = assert!(GEOMETRY[0].block_size >= HEADER_SIZE / 4);
const _: () = {
    let mut i = 0;
    while i < COUNT {
        let g = GEOMETRY[i];
        assert!(g.chunk_size.is_power_of_two() && g.align.is_power_of_two());
        assert!(g.block_size % g.align == 0 && g.first_block % g.align == 0);
        assert!(g.first_block + g.blocks * g.block_size <= g.chunk_size);
        // `Chunk::used` and `Chunk::trigger` are `u32`, with `u32::MAX` reserved.
        assert!(g.blocks < u32::MAX as usize - 1);
        i += 1;
    }
};

/// The class that serves `size` bytes at alignment `align`, or `None` when the request goes to
/// the system allocator (too large, or too aligned). `size` must be non-zero and `align` a
/// power of two.
#[inline]
pub(crate) const fn index_for(size: usize, align: usize) -> Option<usize> {
    debug_assert!(size > 0 && align.is_power_of_two());
    if size > MAX_POOLED_SIZE || align > MAX_POOLED_ALIGN {
        return None;
    }
    let size = if size < align { align } else { size };
    let index = if size <= 16 {
        0
    } else {
        // 2^(bits-1) <= size - 1 < 2^bits, so 2^(bits-1) < size <= 2^bits, bits >= 5; the bit
        // below the top one says whether size fits in 3 * 2^(bits-2) (the 1.5 class).
        let n = size - 1;
        let bits = (usize::BITS - n.leading_zeros()) as usize;
        let upper_half = (n >> (bits - 2)) & 1;
        2 * (bits - 5) + 1 + upper_half
    };
    if GEOMETRY[index].align < align {
        // Only a 1.5 class can be under-aligned; the next class is a power of two >= size.
        Some(index + 1)
    } else {
        Some(index)
    }
}

/// One of the pool's size classes.
///
/// # Examples
///
/// ```
/// use std::alloc::Layout;
/// use ms_alloc::SizeClass;
///
/// let class = SizeClass::for_layout(Layout::new::<[u8; 200]>()).unwrap();
/// assert_eq!(class.block_size(), 256);
/// assert!(SizeClass::for_size(1 << 20).is_none()); // served by the system allocator
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SizeClass(u8);

impl SizeClass {
    /// Number of size classes.
    pub const COUNT: usize = COUNT;

    /// The class serving `layout`, or `None` if it is zero-sized (served without memory) or goes
    /// to the system allocator (larger than [`MAX_POOLED_SIZE`] or aligned to more than
    /// [`MAX_POOLED_ALIGN`]).
    #[inline]
    #[must_use]
    pub const fn for_layout(layout: Layout) -> Option<SizeClass> {
        if layout.size() == 0 {
            return None;
        }
        match index_for(layout.size(), layout.align()) {
            Some(index) => Some(SizeClass(index as u8)),
            None => None,
        }
    }

    /// The class serving `size` bytes at byte alignment; see [`for_layout`](Self::for_layout).
    #[inline]
    #[must_use]
    pub const fn for_size(size: usize) -> Option<SizeClass> {
        if size == 0 {
            return None;
        }
        match index_for(size, 1) {
            Some(index) => Some(SizeClass(index as u8)),
            None => None,
        }
    }

    /// The class with index `index`, in `0..SizeClass::COUNT`.
    #[must_use]
    pub const fn from_index(index: usize) -> Option<SizeClass> {
        if index < COUNT {
            Some(SizeClass(index as u8))
        } else {
            None
        }
    }

    /// Every class, smallest first.
    pub fn all() -> impl ExactSizeIterator<Item = SizeClass> + Clone {
        (0..COUNT as u8).map(SizeClass)
    }

    /// This class's position in [`all`](Self::all), in `0..SizeClass::COUNT`.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Bytes in each block of this class.
    #[must_use]
    pub const fn block_size(self) -> usize {
        GEOMETRY[self.0 as usize].block_size
    }

    /// The alignment every block of this class has.
    #[must_use]
    pub const fn align(self) -> usize {
        GEOMETRY[self.0 as usize].align
    }

    /// Bytes in each chunk of this class (taken from the system allocator at once).
    #[must_use]
    pub const fn chunk_size(self) -> usize {
        GEOMETRY[self.0 as usize].chunk_size
    }

    /// Blocks in each chunk of this class.
    #[must_use]
    pub const fn blocks_per_chunk(self) -> usize {
        GEOMETRY[self.0 as usize].blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_increasing_and_two_per_power_of_two() {
        let sizes: Vec<usize> = GEOMETRY.iter().map(|g| g.block_size).collect();
        assert_eq!(&sizes[..8], &[16, 24, 32, 48, 64, 96, 128, 192]);
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*sizes.last().unwrap(), 64 * 1024);
    }

    #[test]
    fn index_for_picks_the_smallest_fitting_class() {
        for size in 1..=MAX_POOLED_SIZE {
            let i = index_for(size, 1).unwrap();
            assert!(GEOMETRY[i].block_size >= size, "size {size}");
            assert!(i == 0 || GEOMETRY[i - 1].block_size < size, "size {size}");
        }
        assert_eq!(index_for(MAX_POOLED_SIZE + 1, 1), None);
    }

    #[test]
    fn index_for_honours_alignment() {
        for align in (0..=12).map(|s| 1usize << s) {
            for size in (1..=MAX_POOLED_SIZE).step_by(7).chain([align]) {
                let i = index_for(size, align).unwrap();
                let g = GEOMETRY[i];
                assert!(g.block_size >= size && g.align >= align, "{size}/{align}");
                // Smallest such class.
                assert!(
                    (0..i).all(|j| GEOMETRY[j].block_size < size || GEOMETRY[j].align < align),
                    "{size}/{align}"
                );
            }
        }
        assert_eq!(index_for(8, 8192), None);
    }

    #[test]
    fn chunks_hold_at_least_four_blocks_and_little_waste() {
        for g in GEOMETRY {
            assert!(g.blocks >= MIN_BLOCKS_PER_CHUNK);
            assert!(g.chunk_size >= MIN_CHUNK_SIZE);
        }
        assert_eq!(
            GEOMETRY[index_for(256, 1).unwrap()].blocks,
            (65536 - 256) / 256
        );
    }
}
