//! proptest model tests: random allocate/write/free sequences against `Box` models, checking
//! after every step that contents are intact, live blocks never overlap, and the pool's
//! statistics agree with the model.

use std::alloc::Layout;
use std::ptr::NonNull;

use ms_alloc::{MAX_POOLED_SIZE, PoolBox, SizeClass};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Debug, Clone)]
enum Op {
    /// Allocate `size` bytes aligned to `1 << align_shift`, filled with `fill`.
    Alloc {
        size: usize,
        align_shift: u8,
        fill: u8,
    },
    /// Overwrite the block at `index % live` with `fill`.
    Write { index: usize, fill: u8 },
    /// Free the block at `index % live`.
    Free { index: usize },
    /// Hold empty chunks for reuse, or give them back as they empty.
    Hold(bool),
    /// Give back the held chunks that were not needed since the last time.
    ReleaseIdle,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 1usize..=64,
        4 => 65usize..=2048,
        1 => 2049usize..=MAX_POOLED_SIZE,
        1 => (MAX_POOLED_SIZE + 1)..=(MAX_POOLED_SIZE * 2),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size(), 0u8..=7, any::<u8>())
            .prop_map(|(size, align_shift, fill)| Op::Alloc { size, align_shift, fill }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(index, fill)| Op::Write { index, fill }),
        4 => any::<usize>().prop_map(|index| Op::Free { index }),
        1 => any::<bool>().prop_map(Op::Hold),
        1 => Just(Op::ReleaseIdle),
    ]
}

/// A live block and what it should hold.
struct Live {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
    model: Box<[u8]>,
}

impl Live {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live block of at least `layout.size()` bytes, all initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

fn check(live: &[Live], base: &ms_alloc::Stats) -> Result<(), TestCaseError> {
    for l in live {
        prop_assert_eq!(l.bytes(), &*l.model, "contents changed");
        prop_assert_eq!(l.ptr.as_ptr() as usize % l.layout.align(), 0, "misaligned");
    }
    let mut ranges: Vec<(usize, usize)> = live
        .iter()
        .map(|l| (l.ptr.as_ptr() as usize, l.len))
        .collect();
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        prop_assert!(w[0].0 + w[0].1 <= w[1].0, "live blocks overlap");
    }
    let stats = ms_alloc::stats();
    let pooled = live
        .iter()
        .filter(|l| SizeClass::for_layout(l.layout).is_some())
        .count();
    prop_assert_eq!(stats.live(), base.live() + pooled);
    prop_assert_eq!(stats.large_live, base.large_live + (live.len() - pooled));
    for class in SizeClass::all() {
        let c = stats.class(class);
        let want = live
            .iter()
            .filter(|l| SizeClass::for_layout(l.layout) == Some(class))
            .count();
        prop_assert_eq!(c.live, base.class(class).live + want, "class {:?}", class);
        prop_assert!(c.live <= c.chunks * class.blocks_per_chunk());
        prop_assert_eq!(c.bytes_held, c.chunks * class.chunk_size());
        prop_assert!(c.empty_chunks <= c.chunks);
    }
    Ok(())
}

proptest! {
    // Failures are saved beside this file (`model.proptest-regressions`) and replayed first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn raw_blocks_behave_like_boxed_slices(ops in vec(op(), 0..200)) {
        let base = ms_alloc::stats();
        let mut live: Vec<Live> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { size, align_shift, fill } => {
                    let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                    let block = ms_alloc::allocate(layout);
                    prop_assert!(block.len() >= size);
                    let ptr = block.cast::<u8>();
                    // SAFETY: a fresh block of at least `size` bytes.
                    unsafe { ptr.as_ptr().write_bytes(fill, size) };
                    live.push(Live { ptr, len: block.len(), layout, model: vec![fill; size].into() });
                }
                Op::Write { index, fill } if !live.is_empty() => {
                    let at = index % live.len();
                    let l = &mut live[at];
                    // SAFETY: a live block of at least `layout.size()` bytes, owned by the test.
                    unsafe { l.ptr.as_ptr().write_bytes(fill, l.layout.size()) };
                    l.model.fill(fill);
                }
                Op::Free { index } if !live.is_empty() => {
                    let l = live.swap_remove(index % live.len());
                    prop_assert_eq!(l.bytes(), &*l.model);
                    // SAFETY: allocated above with this layout on this thread, freed once.
                    unsafe { ms_alloc::deallocate(l.ptr, l.layout) };
                }
                Op::Hold(hold) => {
                    ms_alloc::set_hold_empty_chunks(hold);
                    if !hold {
                        prop_assert_eq!(ms_alloc::held_empty_chunks(), 0);
                    }
                }
                Op::ReleaseIdle => {
                    let held = ms_alloc::held_empty_chunks();
                    let freed = ms_alloc::release_idle_chunks();
                    prop_assert!(ms_alloc::held_empty_chunks() <= held);
                    prop_assert_eq!(freed == 0, ms_alloc::held_empty_chunks() == held);
                }
                Op::Write { .. } | Op::Free { .. } => {}
            }
            check(&live, &base)?;
        }
        for l in live.drain(..) {
            // SAFETY: as above.
            unsafe { ms_alloc::deallocate(l.ptr, l.layout) };
        }
        check(&live, &base)?;
        ms_alloc::set_hold_empty_chunks(false);
    }

    #[test]
    fn pool_boxes_behave_like_boxes(ops in vec((0u8..4, any::<u64>(), any::<usize>(), any::<bool>()), 0..300)) {
        #[derive(Debug, PartialEq, Clone)]
        #[repr(align(64))]
        struct Aligned([u64; 3]);
        enum Pair {
            Small(PoolBox<u64>, Box<u64>),
            Mid(PoolBox<[u64; 30]>, Box<[u64; 30]>),
            Aligned(PoolBox<Aligned>, Box<Aligned>),
            Zst(PoolBox<()>),
        }
        let mut live: Vec<Pair> = Vec::new();
        let base = ms_alloc::stats();
        for (kind, value, index, free) in ops {
            if free && !live.is_empty() {
                drop(live.swap_remove(index % live.len()));
            } else {
                live.push(match kind {
                    0 => Pair::Small(PoolBox::new(value), Box::new(value)),
                    1 => Pair::Mid(PoolBox::new([value; 30]), Box::new([value; 30])),
                    2 => Pair::Aligned(PoolBox::new(Aligned([value; 3])), Box::new(Aligned([value; 3]))),
                    _ => Pair::Zst(PoolBox::new(())),
                });
            }
            let mut sized = 0;
            for pair in &live {
                match pair {
                    Pair::Small(p, b) => { prop_assert_eq!(**p, **b); sized += 1; }
                    Pair::Mid(p, b) => { prop_assert_eq!(**p, **b); sized += 1; }
                    Pair::Aligned(p, b) => {
                        prop_assert_eq!(&**p, &**b);
                        prop_assert_eq!(PoolBox::as_ptr(p) as usize % 64, 0);
                        sized += 1;
                    }
                    Pair::Zst(p) => prop_assert_eq!(**p, ()),
                }
            }
            prop_assert_eq!(ms_alloc::stats().live(), base.live() + sized);
        }
    }
}
