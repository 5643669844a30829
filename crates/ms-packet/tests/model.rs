//! proptest: random share/slice/split/trim/append/linearize sequences on a set of packets,
//! each compared byte for byte with a `Vec<u8>` model after every operation.

use bytes::{Buf, Bytes};
use ms_packet::{Packet, PacketWriter};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Debug, Clone)]
enum Source {
    Copied(Vec<u8>),
    FromBytes(Vec<u8>),
    Static(usize),
    Written(Vec<Vec<u8>>, usize),
}

#[derive(Debug, Clone)]
enum Op {
    Push(Source),
    Share(usize),
    Slice(usize, usize, usize),
    SplitTo(usize, usize),
    SplitOff(usize, usize),
    TrimFront(usize, usize),
    TrimBack(usize, usize),
    Append(usize, usize),
    Linearize(usize),
    Advance(usize, usize),
    IntoBytes(usize),
}

const STATIC: &[u8] = b"static data: the quick brown fox jumps over the lazy dog";

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        vec(any::<u8>(), 0..40).prop_map(Source::Copied),
        vec(any::<u8>(), 0..40).prop_map(Source::FromBytes),
        (0..STATIC.len()).prop_map(Source::Static),
        (vec(vec(any::<u8>(), 0..20), 0..5), 1usize..32).prop_map(|(w, c)| Source::Written(w, c)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = || any::<usize>();
    prop_oneof![
        2 => source().prop_map(Op::Push),
        1 => i().prop_map(Op::Share),
        2 => (i(), i(), i()).prop_map(|(a, b, c)| Op::Slice(a, b, c)),
        2 => (i(), i()).prop_map(|(a, b)| Op::SplitTo(a, b)),
        1 => (i(), i()).prop_map(|(a, b)| Op::SplitOff(a, b)),
        2 => (i(), i()).prop_map(|(a, b)| Op::TrimFront(a, b)),
        2 => (i(), i()).prop_map(|(a, b)| Op::TrimBack(a, b)),
        2 => (i(), i()).prop_map(|(a, b)| Op::Append(a, b)),
        1 => i().prop_map(Op::Linearize),
        1 => (i(), i()).prop_map(|(a, b)| Op::Advance(a, b)),
        1 => i().prop_map(Op::IntoBytes),
    ]
}

fn make(source: Source) -> (Packet, Vec<u8>) {
    match source {
        Source::Copied(v) => (Packet::copy_from_slice(&v), v),
        Source::FromBytes(v) => (Packet::from(Bytes::from(v.clone())), v),
        Source::Static(n) => (Packet::from_static(&STATIC[..n]), STATIC[..n].to_vec()),
        Source::Written(writes, chunk) => {
            let mut w = PacketWriter::with_chunk_size(chunk);
            let mut model = Vec::new();
            for piece in writes {
                w.extend_from_slice(&piece);
                model.extend_from_slice(&piece);
            }
            (w.into_packet(), model)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn packets_hold_the_same_bytes_as_vec_models(ops in vec(op(), 1..48)) {
        let mut packets: Vec<Packet> = vec![Packet::new()];
        let mut models: Vec<Vec<u8>> = vec![Vec::new()];
        for op in ops {
            let n = packets.len();
            match op {
                Op::Push(source) => {
                    let (p, m) = make(source);
                    packets.push(p);
                    models.push(m);
                }
                Op::Share(i) => {
                    packets.push(packets[i % n].share());
                    models.push(models[i % n].clone());
                }
                Op::Slice(i, a, b) => {
                    let len = models[i % n].len();
                    let (a, b) = (a % (len + 1), b % (len + 1));
                    let (a, b) = (a.min(b), a.max(b));
                    packets.push(packets[i % n].slice(a..b));
                    models.push(models[i % n][a..b].to_vec());
                }
                Op::SplitTo(i, k) => {
                    let k = k % (models[i % n].len() + 1);
                    let front = packets[i % n].split_to(k);
                    let front_model: Vec<u8> = models[i % n].drain(..k).collect();
                    packets.push(front);
                    models.push(front_model);
                }
                Op::SplitOff(i, k) => {
                    let k = k % (models[i % n].len() + 1);
                    let tail = packets[i % n].split_off(k);
                    let tail_model = models[i % n].split_off(k);
                    packets.push(tail);
                    models.push(tail_model);
                }
                Op::TrimFront(i, k) => {
                    let k = k % (models[i % n].len() + 1);
                    packets[i % n].trim_front(k);
                    models[i % n].drain(..k);
                }
                Op::TrimBack(i, k) => {
                    let len = models[i % n].len();
                    let k = k % (len + 1);
                    packets[i % n].trim_back(k);
                    models[i % n].truncate(len - k);
                }
                Op::Append(i, j) => {
                    if models[i % n].len() + models[j % n].len() > 1 << 16 {
                        continue; // self-appends double: keep memory bounded
                    }
                    let other = packets[j % n].share();
                    let other_model = models[j % n].clone();
                    packets[i % n].append(other);
                    models[i % n].extend_from_slice(&other_model);
                }
                Op::Linearize(i) => {
                    let flat = packets[i % n].linearize().to_vec();
                    prop_assert_eq!(&flat, &models[i % n]);
                    prop_assert!(packets[i % n].fragment_count() <= 1);
                }
                Op::Advance(i, k) => {
                    let k = k % (models[i % n].len() + 1);
                    packets[i % n].advance(k);
                    models[i % n].drain(..k);
                }
                Op::IntoBytes(i) => {
                    let bytes = packets[i % n].share().into_bytes();
                    prop_assert_eq!(&bytes[..], &models[i % n][..]);
                }
            }
            for (p, m) in packets.iter().zip(&models) {
                prop_assert_eq!(p.len(), m.len());
                prop_assert_eq!(&p.to_vec(), m);
                prop_assert!(p == &m[..]);
                prop_assert_eq!(p.remaining(), m.len());
                prop_assert_eq!(p.io_slices().map(|s| s.len()).sum::<usize>(), m.len());
                prop_assert!(p.fragments().all(|f| !f.is_empty()), "no empty fragment");
            }
        }
    }
}
