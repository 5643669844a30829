//! Edge cases of the public API: zero-sized types, over-aligned types, large blocks that go to
//! the system allocator, giving chunks back past the threshold, statistics, and `PoolBox`'s
//! trait forwarding. Tests that look at statistics run on a fresh thread, so they see a fresh
//! pool.

use std::alloc::Layout;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use ms_alloc::{MAX_POOLED_ALIGN, MAX_POOLED_SIZE, Pool, PoolBox, PoolState, SizeClass};

/// Runs `f` on a new thread (a fresh pool) and propagates its panic.
fn on_fresh_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().expect("test thread panicked");
}

#[test]
fn zero_sized_types_allocate_nothing() {
    on_fresh_thread(|| {
        #[derive(Debug, PartialEq)]
        #[repr(align(64))]
        struct AlignedZst;
        let a = PoolBox::new(());
        let b = PoolBox::new(AlignedZst);
        let c = PoolBox::new([0u64; 0]);
        assert_eq!(*b, AlignedZst);
        assert_eq!(PoolBox::as_ptr(&b) as usize % 64, 0);
        assert_eq!(PoolBox::as_ptr(&c) as usize % 8, 0);
        assert_eq!(ms_alloc::pool_state(), PoolState::Unused);
        drop((a, b, c));
        let block = ms_alloc::allocate(Layout::from_size_align(0, 256).unwrap());
        assert_eq!(block.len(), 0);
        assert_eq!(block.cast::<u8>().as_ptr() as usize % 256, 0);
        // SAFETY: from `allocate` with this layout.
        unsafe { ms_alloc::deallocate(block.cast(), Layout::from_size_align(0, 256).unwrap()) };
        assert_eq!(ms_alloc::pool_state(), PoolState::Unused);
        let s = ms_alloc::stats();
        assert_eq!((s.chunks(), s.live(), s.large_allocations), (0, 0, 0));
    });
}

#[test]
fn over_aligned_types_are_aligned() {
    #[repr(align(16))]
    struct A16(u8);
    #[repr(align(32))]
    struct A32(u8);
    #[repr(align(64))]
    struct A64([u8; 65]);
    #[repr(align(128))]
    struct A128(u8);
    #[repr(align(4096))]
    struct A4096(u8);
    #[repr(align(8192))]
    struct A8192(u8);
    let a16: Vec<_> = (0..100).map(|i| PoolBox::new(A16(i))).collect();
    let a32: Vec<_> = (0..100).map(|i| PoolBox::new(A32(i))).collect();
    let a64: Vec<_> = (0..100).map(|i| PoolBox::new(A64([i; 65]))).collect();
    let a128: Vec<_> = (0..100).map(|i| PoolBox::new(A128(i))).collect();
    let a4096: Vec<_> = (0..20).map(|i| PoolBox::new(A4096(i))).collect();
    let a8192: Vec<_> = (0..3).map(|i| PoolBox::new(A8192(i))).collect();
    for (i, b) in a16.iter().enumerate() {
        assert_eq!(PoolBox::as_ptr(b) as usize % 16, 0);
        assert_eq!(b.0 as usize, i);
    }
    assert!(a32.iter().enumerate().all(|(i, b)| b.0 as usize == i));
    assert!(a32.iter().all(|b| PoolBox::as_ptr(b) as usize % 32 == 0));
    assert!(a64.iter().all(|b| PoolBox::as_ptr(b) as usize % 64 == 0));
    assert!(a64.iter().enumerate().all(|(i, b)| b.0 == [i as u8; 65]));
    assert!(a128.iter().all(|b| PoolBox::as_ptr(b) as usize % 128 == 0));
    assert!(
        a4096
            .iter()
            .all(|b| PoolBox::as_ptr(b) as usize % 4096 == 0)
    );
    assert!(
        a8192
            .iter()
            .all(|b| PoolBox::as_ptr(b) as usize % 8192 == 0)
    );
    assert!(
        a128.iter()
            .zip(&a4096)
            .zip(&a8192)
            .all(|((x, y), z)| x.0 == y.0 && y.0 == z.0)
    );
    assert_eq!(Pool::<A4096>::CLASS.unwrap().block_size(), 4096);
    assert_eq!(
        Pool::<A8192>::CLASS,
        None,
        "beyond MAX_POOLED_ALIGN: system allocator"
    );

    for shift in 0..=13 {
        let align = 1 << shift;
        for size in [1, 7, 24, 40, 100, 1000, 5000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let block = ms_alloc::allocate(layout);
            assert_eq!(
                block.cast::<u8>().as_ptr() as usize % align,
                0,
                "{size}/{align}"
            );
            assert_eq!(
                SizeClass::for_layout(layout).is_none(),
                align > MAX_POOLED_ALIGN
            );
            // SAFETY: from `allocate` with this layout, on this thread.
            unsafe { ms_alloc::deallocate(block.cast(), layout) };
        }
    }
}

#[test]
fn large_blocks_fall_back_to_the_system_allocator() {
    on_fresh_thread(|| {
        let layout = Layout::from_size_align(MAX_POOLED_SIZE + 1, 8).unwrap();
        let block = ms_alloc::allocate(layout);
        assert_eq!(
            block.len(),
            MAX_POOLED_SIZE + 1,
            "large blocks get exactly what they ask"
        );
        // SAFETY: a fresh block of `block.len()` bytes.
        unsafe { block.cast::<u8>().as_ptr().write_bytes(0xAB, block.len()) };
        let big = PoolBox::new([7u8; 200_000]);
        let s = ms_alloc::stats();
        assert_eq!(s.large_live, 2);
        assert_eq!(s.large_bytes, MAX_POOLED_SIZE + 1 + 200_000);
        assert_eq!(s.large_allocations, 2);
        assert_eq!(s.chunks(), 0, "no chunk for a large block");
        assert!(big.iter().all(|&b| b == 7));
        drop(big);
        // SAFETY: from `allocate` with this layout, on this thread.
        unsafe { ms_alloc::deallocate(block.cast(), layout) };
        let s = ms_alloc::stats();
        assert_eq!(
            (s.large_live, s.large_bytes, s.large_allocations),
            (0, 0, 2)
        );

        // The largest pooled block is pooled.
        let max = Layout::from_size_align(MAX_POOLED_SIZE, 8).unwrap();
        let block = ms_alloc::allocate(max);
        assert_eq!(ms_alloc::stats().large_live, 0);
        assert_eq!(ms_alloc::stats().live(), 1);
        // SAFETY: from `allocate` with this layout, on this thread.
        unsafe { ms_alloc::deallocate(block.cast(), max) };
    });
}

#[test]
fn empty_chunks_are_given_back_past_the_threshold() {
    on_fresh_thread(|| {
        type T = [u8; 1000];
        let class = Pool::<T>::CLASS.unwrap();
        let per_chunk = class.blocks_per_chunk();
        assert_eq!(
            ms_alloc::max_empty_chunks(),
            ms_alloc::DEFAULT_MAX_EMPTY_CHUNKS
        );
        assert_eq!(ms_alloc::DEFAULT_MAX_EMPTY_CHUNKS, 1);

        let fill = |n_chunks: usize| -> Vec<PoolBox<T>> {
            (0..per_chunk * n_chunks)
                .map(|_| PoolBox::new([1; 1000]))
                .collect()
        };
        let boxes = fill(5);
        let s = ms_alloc::class_stats(class);
        assert_eq!((s.chunks, s.live, s.empty_chunks), (5, 5 * per_chunk, 0));
        assert_eq!(s.bytes_held, 5 * class.chunk_size());
        drop(boxes);
        // The current chunk plus one kept empty chunk; three were given back.
        let s = ms_alloc::class_stats(class);
        assert_eq!((s.chunks, s.live, s.empty_chunks), (2, 0, 2));

        ms_alloc::set_max_empty_chunks(3);
        drop(fill(6));
        let s = ms_alloc::class_stats(class);
        assert_eq!((s.chunks, s.empty_chunks), (4, 4));

        // Lowering the limit gives back the surplus at once.
        ms_alloc::set_max_empty_chunks(0);
        assert_eq!(ms_alloc::class_stats(class).chunks, 1);
        drop(fill(3));
        assert_eq!(ms_alloc::class_stats(class).chunks, 1);

        // `trim` gives back even the current chunk when it is empty.
        let kept = PoolBox::new(5u64);
        assert_eq!(ms_alloc::trim(), class.chunk_size());
        assert_eq!(ms_alloc::class_stats(class).chunks, 0);
        assert_eq!(
            ms_alloc::stats().live(),
            1,
            "a chunk with a live block is kept"
        );
        assert_eq!(*kept, 5);
        drop(kept);
        assert_eq!(ms_alloc::trim(), Pool::<u64>::CLASS.unwrap().chunk_size());
        assert_eq!(ms_alloc::stats().chunks(), 0);
        assert_eq!(ms_alloc::trim(), 0);
    });
}

#[test]
fn held_empty_chunks_go_back_only_when_a_period_did_not_need_them() {
    on_fresh_thread(|| {
        type T = [u8; 1000];
        let class = Pool::<T>::CLASS.unwrap();
        let per_chunk = class.blocks_per_chunk();
        let fill = |n_chunks: usize| -> Vec<PoolBox<T>> {
            (0..per_chunk * n_chunks)
                .map(|_| PoolBox::new([1; 1000]))
                .collect()
        };
        ms_alloc::set_hold_empty_chunks(true);
        drop(fill(6));
        let s = ms_alloc::class_stats(class);
        assert_eq!((s.chunks, s.empty_chunks), (6, 6), "all held");
        assert_eq!(
            ms_alloc::held_empty_chunks(),
            4,
            "besides the current and the one kept"
        );

        // A second burst reuses them: no new chunk.
        let before = ms_alloc::class_stats(class).chunks;
        drop(fill(6));
        assert_eq!(ms_alloc::class_stats(class).chunks, before);

        // That burst needed every held chunk: the first period gives nothing back.
        assert_eq!(ms_alloc::release_idle_chunks(), 0);
        // Next period: a burst of 2 chunks' worth takes the current chunk and one held chunk,
        // so 4 held chunks stayed unused throughout; 3 go back (`max_empty_chunks` is 1).
        drop(fill(2));
        assert_eq!(ms_alloc::release_idle_chunks(), 3 * class.chunk_size());
        assert_eq!(ms_alloc::class_stats(class).chunks, 3);
        // A quiet period gives back the rest past the limit.
        ms_alloc::release_idle_chunks();
        assert_eq!(ms_alloc::class_stats(class).chunks, 2);

        // Turning holding off gives the surplus back at once, and later empties too.
        drop(fill(4));
        assert_eq!(ms_alloc::class_stats(class).chunks, 4);
        ms_alloc::set_hold_empty_chunks(false);
        assert_eq!(ms_alloc::class_stats(class).chunks, 2);
        drop(fill(4));
        assert_eq!(ms_alloc::class_stats(class).chunks, 2);
    });
}

#[test]
fn statistics_count_allocations_chunks_and_bytes() {
    on_fresh_thread(|| {
        assert_eq!(ms_alloc::pool_state(), PoolState::Unused);
        let class = Pool::<[u64; 4]>::CLASS.unwrap();
        assert_eq!(class.block_size(), 32);
        let boxes: Vec<_> = (0..10u64).map(|i| PoolBox::new([i; 4])).collect();
        assert_eq!(ms_alloc::pool_state(), PoolState::Active);
        let s = ms_alloc::class_stats(class);
        assert_eq!(s.block_size, 32);
        assert_eq!(
            (s.live, s.chunks, s.empty_chunks, s.allocations),
            (10, 1, 0, 10)
        );
        assert_eq!(s.bytes_held, class.chunk_size());
        assert_eq!(Pool::<[u64; 4]>::stats(), Some(s));
        drop(boxes);
        let s = ms_alloc::class_stats(class);
        assert_eq!(
            (s.live, s.chunks, s.empty_chunks, s.allocations),
            (0, 1, 1, 10)
        );
        let all = ms_alloc::stats();
        assert_eq!(all.class(class), &s);
        assert_eq!(all.live(), 0);
        assert_eq!(all.bytes_held(), class.chunk_size());
        let table = all.to_string();
        assert!(
            table.contains("32") && table.contains("large: 0 live"),
            "{table}"
        );
    });
}

#[test]
fn freed_blocks_are_reused_first() {
    let a = PoolBox::new(1u32);
    let addr = PoolBox::as_ptr(&a) as usize;
    drop(a);
    let b = PoolBox::new(2u32);
    assert_eq!(PoolBox::as_ptr(&b) as usize, addr);
}

#[test]
fn pool_box_api() {
    let mut b = PoolBox::new(String::from("hi"));
    b.push('!');
    assert_eq!(format!("{b}"), "hi!");
    assert_eq!(format!("{b:?}"), "\"hi!\"");
    let c = b.clone();
    assert_eq!(b, c);
    assert!(PoolBox::new(1) < PoolBox::new(2));
    assert_eq!(PoolBox::into_inner(c), "hi!");
    let raw = PoolBox::into_raw(b);
    // SAFETY: from `into_raw` on this thread, rebuilt once.
    let b = unsafe { PoolBox::from_raw(raw) };
    assert_eq!(*b, "hi!");
    let d: PoolBox<u8> = PoolBox::default();
    assert_eq!(*d, 0);
    let e: PoolBox<u8> = 9.into();
    assert_eq!(*e.as_ref(), 9);
    assert!(format!("{e:p}").starts_with("0x"));
}

#[test]
fn values_are_dropped_exactly_once() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    drop(PoolBox::new(Counted(drops.clone())));
    assert_eq!(drops.get(), 1);
    let inner = PoolBox::into_inner(PoolBox::new(Counted(drops.clone())));
    assert_eq!(drops.get(), 1);
    drop(inner);
    assert_eq!(drops.get(), 2);
    let pinned = PoolBox::pin(Counted(drops.clone()));
    drop(pinned);
    assert_eq!(drops.get(), 3);
}

#[test]
fn a_panicking_drop_still_frees_the_block() {
    on_fresh_thread(|| {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let b = PoolBox::new((Bomb, 1u64));
        assert_eq!(ms_alloc::stats().live(), 1);
        let result = panic::catch_unwind(AssertUnwindSafe(|| drop(b)));
        assert!(result.is_err());
        assert_eq!(ms_alloc::stats().live(), 0);
    });
}

#[test]
fn pinned_futures_run() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    let mut pinned = PoolBox::pin(async { 6 * 7 });
    assert_eq!(pinned.as_mut().poll(&mut cx), Poll::Ready(42));
    let mut unpin = PoolBox::new(std::future::ready(5));
    assert_eq!(std::pin::Pin::new(&mut unpin).poll(&mut cx), Poll::Ready(5));
}

#[test]
fn typed_pool_slots() {
    let p = Pool::<[u8; 300_000]>::alloc();
    // SAFETY: a fresh slot for the type, written whole, then freed once on this thread.
    unsafe {
        p.cast::<u8>().as_ptr().write_bytes(3, 300_000);
        assert_eq!((*p.as_ptr())[299_999], 3);
        Pool::<[u8; 300_000]>::dealloc(p);
    }
    let z = Pool::<()>::alloc();
    // SAFETY: a zero-sized slot from `Pool::<()>::alloc`.
    unsafe { Pool::<()>::dealloc(z) };
    assert!(format!("{:?}", Pool::<u8>::CLASS).contains("SizeClass"));
}

#[test]
fn many_blocks_across_all_classes() {
    on_fresh_thread(|| {
        let mut live = Vec::new();
        for class in SizeClass::all() {
            let layout = Layout::from_size_align(class.block_size(), 8).unwrap();
            for i in 0..class.blocks_per_chunk() + 2 {
                let b = ms_alloc::allocate(layout);
                assert_eq!(b.len(), class.block_size());
                // SAFETY: a fresh block of `len` bytes.
                unsafe { b.cast::<u8>().as_ptr().write_bytes(i as u8, b.len()) };
                live.push((b, layout, i as u8));
            }
            assert_eq!(ms_alloc::class_stats(class).chunks, 2);
        }
        for (b, layout, fill) in live {
            // SAFETY: live blocks of `len` initialised bytes, freed once on this thread.
            unsafe {
                assert!(b.as_ref().iter().all(|&x| x == fill));
                ms_alloc::deallocate(b.cast(), layout);
            }
        }
        assert_eq!(ms_alloc::stats().live(), 0);
    });
}
