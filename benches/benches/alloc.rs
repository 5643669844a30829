//! ms-alloc's `PoolBox` against the allocators it replaces: alloc+free of one object of 64 B,
//! 256 B and 1 KiB.
//!
//! - `alloc_single_<size>`: allocate one object and free it at once (the same block every time,
//!   the best case of every allocator).
//! - `alloc_churn_<size>`: 1000 objects stay live; each step frees one picked at random (a fixed
//!   xorshift sequence, the same for every subject) and allocates its replacement, so frees come
//!   in random order over many chunks or pages. Time is per replacement.
//!
//! Subjects: `ms_poolbox` (`PoolBox`), `glibc_box` (`Box`, the system allocator),
//! `mimalloc_box` (mimalloc's `GlobalAlloc` methods called directly, not installed as the global
//! allocator) and `slab` (the `slab` crate, a `Vec` of entries with a free list). The objects
//! are `MaybeUninit<[u8; N]>`, so every subject measures allocation and free, not a memset.

#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use ms_alloc::PoolBox;
use ms_benches::measurement_time;

/// Live objects in the churn benchmark.
const LIVE: usize = 1000;

/// Replacements per churn iteration.
const STEPS: usize = 1000;

/// A fixed-seed xorshift64* sequence of indices below `n` (the same for every subject).
fn random_indices(n: usize, count: usize) -> Vec<usize> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        })
        .collect()
}

/// Something that hands out and takes back `N`-byte objects.
trait Subject<const N: usize> {
    type Handle;
    fn alloc(&mut self) -> Self::Handle;
    fn free(&mut self, handle: Self::Handle);
}

type Object<const N: usize> = MaybeUninit<[u8; N]>;

struct Ms;
impl<const N: usize> Subject<N> for Ms {
    type Handle = PoolBox<Object<N>>;
    #[inline(always)]
    fn alloc(&mut self) -> Self::Handle {
        PoolBox::new(MaybeUninit::uninit())
    }
    #[inline(always)]
    fn free(&mut self, handle: Self::Handle) {
        drop(handle);
    }
}

struct Glibc;
impl<const N: usize> Subject<N> for Glibc {
    type Handle = Box<Object<N>>;
    #[inline(always)]
    fn alloc(&mut self) -> Self::Handle {
        Box::new_uninit()
    }
    #[inline(always)]
    fn free(&mut self, handle: Self::Handle) {
        drop(handle);
    }
}

struct Mimalloc;
impl<const N: usize> Subject<N> for Mimalloc {
    type Handle = *mut u8;
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: a non-zero-sized layout.
        let ptr = unsafe { MiMalloc.alloc(Layout::new::<Object<N>>()) };
        assert!(!ptr.is_null());
        ptr
    }
    #[inline(always)]
    fn free(&mut self, handle: *mut u8) {
        // SAFETY: allocated by `MiMalloc.alloc` with this layout, freed once.
        unsafe { MiMalloc.dealloc(handle, Layout::new::<Object<N>>()) }
    }
}

struct Slab<const N: usize>(slab::Slab<Object<N>>);
impl<const N: usize> Subject<N> for Slab<N> {
    type Handle = usize;
    #[inline(always)]
    fn alloc(&mut self) -> usize {
        self.0.insert(MaybeUninit::uninit())
    }
    #[inline(always)]
    fn free(&mut self, key: usize) {
        let _ = self.0.remove(key);
    }
}

fn single<const N: usize, S: Subject<N>>(b: &mut criterion::Bencher<'_>, mut s: S) {
    b.iter(|| {
        let h = s.alloc();
        black_box(&h);
        s.free(h);
    });
}

fn churn<const N: usize, S: Subject<N>>(b: &mut criterion::Bencher<'_>, mut s: S) {
    let picks = random_indices(LIVE, STEPS);
    let mut live: Vec<Option<S::Handle>> = (0..LIVE).map(|_| Some(s.alloc())).collect();
    b.iter(|| {
        for &i in &picks {
            let old = live[i].take();
            if let Some(old) = old {
                s.free(old);
            }
            live[i] = Some(black_box(s.alloc()));
        }
    });
    for h in live.into_iter().flatten() {
        s.free(h);
    }
}

fn sized<const N: usize>(c: &mut Criterion) {
    let label = if N >= 1024 {
        format!("{}KiB", N / 1024)
    } else {
        format!("{N}B")
    };

    let mut group = c.benchmark_group(format!("alloc_single_{label}"));
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement_time(Duration::from_secs(3)));
    group.bench_function(BenchmarkId::new("ms_poolbox", &label), |b| {
        single::<N, _>(b, Ms)
    });
    group.bench_function(BenchmarkId::new("glibc_box", &label), |b| {
        single::<N, _>(b, Glibc)
    });
    group.bench_function(BenchmarkId::new("mimalloc_box", &label), |b| {
        single::<N, _>(b, Mimalloc)
    });
    group.bench_function(BenchmarkId::new("slab", &label), |b| {
        single::<N, _>(b, Slab::<N>(slab::Slab::with_capacity(16)))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("alloc_churn_{label}"));
    group
        .throughput(Throughput::Elements(STEPS as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement_time(Duration::from_secs(3)));
    group.bench_function(BenchmarkId::new("ms_poolbox", &label), |b| {
        churn::<N, _>(b, Ms)
    });
    group.bench_function(BenchmarkId::new("glibc_box", &label), |b| {
        churn::<N, _>(b, Glibc)
    });
    group.bench_function(BenchmarkId::new("mimalloc_box", &label), |b| {
        churn::<N, _>(b, Mimalloc)
    });
    group.bench_function(BenchmarkId::new("slab", &label), |b| {
        churn::<N, _>(b, Slab::<N>(slab::Slab::with_capacity(LIVE)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    sized::<64>(c);
    sized::<256>(c);
    sized::<1024>(c);
}

criterion_group!(alloc, benches);
criterion_main!(alloc);
