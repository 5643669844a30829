//! ms-packet against `bytes::Bytes` in the same run: the zero-copy operations a protocol parser
//! does per request.
//!
//! - `packet_slice`: take a 100-byte slice of a 4 KiB buffer and drop it.
//! - `packet_share`: clone (share) a 4 KiB buffer and drop the clone.
//! - `packet_split_to`: split a 16-byte header off a 4 KiB buffer's view, drop both.

#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use ms_benches::op_group;
use ms_packet::Packet;

const SIZE: usize = 4096;

fn slice(c: &mut Criterion) {
    let packet = Packet::copy_from_slice(&[1u8; SIZE]);
    let bytes = Bytes::from(vec![1u8; SIZE]);
    let mut g = op_group(c, "packet_slice", 2);
    g.bench_function("ms_packet", |b| {
        b.iter(|| drop(black_box(black_box(&packet).slice(100..200))))
    });
    g.bench_function("bytes", |b| {
        b.iter(|| drop(black_box(black_box(&bytes).slice(100..200))))
    });
    g.finish();
}

fn share(c: &mut Criterion) {
    let packet = Packet::copy_from_slice(&[1u8; SIZE]);
    let bytes = Bytes::from(vec![1u8; SIZE]);
    let mut g = op_group(c, "packet_share", 2);
    g.bench_function("ms_packet", |b| {
        b.iter(|| drop(black_box(black_box(&packet).share())))
    });
    g.bench_function("bytes", |b| {
        b.iter(|| drop(black_box(black_box(&bytes).clone())))
    });
    g.finish();
}

fn split_to(c: &mut Criterion) {
    let packet = Packet::copy_from_slice(&[1u8; SIZE]);
    let bytes = Bytes::from(vec![1u8; SIZE]);
    let mut g = op_group(c, "packet_split_to", 2);
    g.bench_function("ms_packet", |b| {
        b.iter(|| {
            let mut rest = black_box(&packet).share();
            let head = rest.split_to(16);
            black_box((head, rest))
        })
    });
    g.bench_function("bytes", |b| {
        b.iter(|| {
            let mut rest = black_box(&bytes).clone();
            let head = rest.split_to(16);
            black_box((head, rest))
        })
    });
    g.finish();
}

criterion_group!(benches, slice, share, split_to);
criterion_main!(benches);
