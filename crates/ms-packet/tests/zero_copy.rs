//! Pointer-identity tests: the zero-copy operations really copy nothing, and the copying ones
//! say so.

use std::io::Write;

use bytes::{Buf, BufMut, Bytes};
use ms_packet::{Packet, PacketWriter};

fn ptrs(p: &Packet) -> Vec<*const u8> {
    p.fragments().map(<[u8]>::as_ptr).collect()
}

#[test]
fn share_points_at_the_same_bytes() {
    let p = Packet::copy_from_slice(b"0123456789");
    let q = p.share();
    assert_eq!(ptrs(&p), ptrs(&q));
    assert_eq!(q.to_vec(), b"0123456789");
}

#[test]
fn slice_points_into_the_original_bytes() {
    let p = Packet::copy_from_slice(b"0123456789");
    let base = p.chunk().as_ptr();
    let s = p.slice(3..7);
    assert_eq!(s.chunk().as_ptr(), base.wrapping_add(3));
    assert_eq!(s.to_vec(), b"3456");
}

#[test]
fn split_to_and_trims_keep_pointing_into_the_original() {
    let mut p = Packet::copy_from_slice(b"header:body!");
    let base = p.chunk().as_ptr();
    let head = p.split_to(7);
    assert_eq!(head.chunk().as_ptr(), base);
    assert_eq!(p.chunk().as_ptr(), base.wrapping_add(7));
    p.trim_back(1);
    p.trim_front(1);
    assert_eq!(p.chunk().as_ptr(), base.wrapping_add(8));
    assert_eq!(p.to_vec(), b"ody");
}

/// `"abcd"` and `"efgh"` in two fragments of different buffers, and their starts.
fn two_fragments() -> (Packet, *const u8, *const u8) {
    let (a, b) = (
        Packet::copy_from_slice(b"abcd"),
        Packet::copy_from_slice(b"efgh"),
    );
    let (pa, pb) = (a.chunk().as_ptr(), b.chunk().as_ptr());
    let mut p = a;
    p.append(b);
    assert_eq!(p.fragment_count(), 2);
    (p, pa, pb)
}

#[test]
fn slice_of_one_fragment_and_of_several_point_into_the_originals() {
    let one = Packet::copy_from_slice(b"abcdefgh");
    let base = one.chunk().as_ptr();
    for (start, end) in [(0, 8), (0, 1), (3, 6), (7, 8)] {
        let s = one.slice(start..end);
        assert_eq!(ptrs(&s), [base.wrapping_add(start)]);
        assert_eq!(s.to_vec(), &b"abcdefgh"[start..end]);
    }
    assert_eq!(one.slice(4..4).fragment_count(), 0);
    assert_eq!(one.slice(..).len(), 8);
    assert_eq!(one.slice(..=2).to_vec(), b"abc");

    let (two, pa, pb) = two_fragments();
    assert_eq!(
        ptrs(&two.slice(1..3)),
        [pa.wrapping_add(1)],
        "inside the first"
    );
    assert_eq!(
        ptrs(&two.slice(5..8)),
        [pb.wrapping_add(1)],
        "inside the second"
    );
    let across = two.slice(2..6);
    assert_eq!(ptrs(&across), [pa.wrapping_add(2), pb]);
    assert_eq!(across.to_vec(), b"cdef");
    assert_eq!(two.slice(4..4).fragment_count(), 0);
}

#[test]
fn split_to_of_one_fragment_and_of_several_point_into_the_originals() {
    let mut one = Packet::copy_from_slice(b"abcdefgh");
    let base = one.chunk().as_ptr();
    assert!(one.split_to(0).is_empty());
    assert_eq!(ptrs(&one), [base], "splitting nothing off changes nothing");
    let head = one.split_to(3);
    assert_eq!(
        (ptrs(&head), ptrs(&one)),
        (vec![base], vec![base.wrapping_add(3)])
    );
    let all = one.split_to(5);
    assert_eq!(ptrs(&all), [base.wrapping_add(3)]);
    assert_eq!(all.to_vec(), b"defgh");
    assert!(one.is_empty() && one.fragment_count() == 0);

    for n in 0..=8 {
        let (mut rest, pa, pb) = two_fragments();
        let front = rest.split_to(n);
        assert_eq!(front.to_vec(), &b"abcdefgh"[..n]);
        assert_eq!(rest.to_vec(), &b"abcdefgh"[n..]);
        let expected_front: Vec<*const u8> = match n {
            0 => vec![],
            1..=4 => vec![pa],
            _ => vec![pa, pb],
        };
        let expected_rest: Vec<*const u8> = match n {
            0..=3 => vec![pa.wrapping_add(n), pb],
            4..=7 => vec![pb.wrapping_add(n - 4)],
            _ => vec![],
        };
        assert_eq!(ptrs(&front), expected_front, "front of split_to({n})");
        assert_eq!(ptrs(&rest), expected_rest, "rest of split_to({n})");
    }
}

#[test]
fn shares_of_several_fragments_outlive_the_original() {
    let (p, pa, pb) = two_fragments();
    let q = p.share();
    assert_eq!(ptrs(&q), [pa, pb]);
    drop(p);
    assert_eq!(q.to_vec(), b"abcdefgh");
    assert_eq!(q.clone(), q);
}

#[test]
#[should_panic(expected = "split_to 9 of a packet of 8 bytes")]
fn split_to_past_the_end_panics_clearly() {
    let _ = Packet::from_static(b"abcdefgh").split_to(9);
}

#[test]
fn append_keeps_each_fragment_where_it_was() {
    let a = Packet::copy_from_slice(b"aaaa");
    let b = Packet::from(Bytes::from_static(b"bbbb"));
    let (pa, pb) = (ptrs(&a)[0], ptrs(&b)[0]);
    let mut joined = a;
    joined.append(b);
    assert_eq!(ptrs(&joined), [pa, pb]);
}

#[test]
fn bytes_round_trip_without_copying() {
    let bytes = Bytes::from(vec![7u8; 100]);
    let p = Packet::from(bytes.clone());
    assert_eq!(p.chunk().as_ptr(), bytes.as_ptr());
    let sliced = p.slice(10..20);
    let back = sliced.into_bytes();
    assert_eq!(
        back.as_ptr(),
        bytes.as_ptr().wrapping_add(10),
        "no copy back to Bytes"
    );
    assert_eq!(back.len(), 10);
}

#[test]
fn pooled_packets_copy_into_bytes_and_say_so() {
    let p = Packet::copy_from_slice(b"pooled");
    let ptr = p.chunk().as_ptr();
    let bytes = p.into_bytes();
    assert_ne!(
        bytes.as_ptr(),
        ptr,
        "pooled data is per-core, so it is copied"
    );
    assert_eq!(&bytes[..], b"pooled");
}

#[test]
fn linearize_copies_only_when_there_are_several_fragments() {
    let mut one = Packet::copy_from_slice(b"single");
    let ptr = one.chunk().as_ptr();
    assert_eq!(one.linearize().as_ptr(), ptr, "one fragment: no copy");

    let mut two = Packet::from_static(b"ab");
    two.append(Packet::from_static(b"cd"));
    assert_eq!(two.fragment_count(), 2);
    assert_eq!(two.linearize(), b"abcd");
    assert_eq!(two.fragment_count(), 1);
    assert!(Packet::new().linearize().is_empty());
}

#[test]
fn writer_fills_one_buffer_and_merges_contiguous_pieces() {
    let mut w = PacketWriter::with_chunk_size(64);
    w.put_slice(b"first,");
    let first = w.take_packet();
    write!(w, "second").unwrap();
    let second = w.take_packet();
    assert_eq!(
        first.chunk().as_ptr().wrapping_add(6),
        second.chunk().as_ptr(),
        "the second piece continues in the same buffer"
    );
    let mut all = first;
    all.append(second);
    assert_eq!(all.fragment_count(), 1);
    assert_eq!(all.to_vec(), b"first,second");
}

#[test]
fn writer_spills_into_new_buffers() {
    let mut w = PacketWriter::with_chunk_size(8);
    let data: Vec<u8> = (0..100).collect();
    w.extend_from_slice(&data);
    assert_eq!(w.len(), 100);
    let p = w.into_packet();
    assert!(p.fragment_count() >= 2);
    assert_eq!(p.to_vec(), data);
}

#[test]
fn writer_bufmut_put_and_append_packet() {
    let mut w = PacketWriter::new();
    w.put_u32(0xdead_beef);
    w.put_u8(b'!');
    w.append_packet(Packet::from_static(b"tail"));
    assert_eq!(w.len(), 9);
    assert_eq!(w.into_packet().to_vec(), b"\xde\xad\xbe\xef!tail");
}

#[test]
fn buf_chunks_vectored_fills_iovecs_in_order() {
    let mut p = Packet::from_static(b"a");
    p.append(Packet::copy_from_slice(b"bc"));
    p.append(Packet::from(Bytes::from_static(b"def")));
    let mut slots = [std::io::IoSlice::new(&[]); 4];
    assert_eq!(p.chunks_vectored(&mut slots), 3);
    assert_eq!(&*slots[2], b"def");
    assert_eq!(p.copy_to_bytes(2), Bytes::from_static(b"ab"));
    assert_eq!(p.to_vec(), b"cdef");
}

#[test]
#[should_panic(expected = "out of bounds")]
fn slice_out_of_bounds_panics_clearly() {
    let _ = Packet::from_static(b"abc").slice(1..5);
}
