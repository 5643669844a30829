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
