//! Zero-copy packets for a per-core network stack.
//!
//! A [`Packet`] is a byte string made of a short list of fragments (the first inline, more
//! spilling into a boxed list), each a view into a refcounted buffer: a pooled ms-alloc block, a
//! [`bytes::Bytes`], or static data. Sharing, slicing, splitting, trimming and appending adjust
//! views and plain (non-atomic) reference counts and copy no bytes; the fragments go to
//! `writev` as they are, through [`Packet::io_slices`]. [`PacketWriter`] builds packets by
//! appending into pooled buffers, through [`bytes::BufMut`] or [`std::io::Write`].
//!
//! # Examples
//!
//! ```
//! use bytes::Buf;
//! use ms_packet::{Packet, PacketWriter};
//!
//! // Parse without copying: split the header off the body.
//! let mut input = Packet::copy_from_slice(b"SET k 5\r\nhello");
//! let header = input.split_to(9);
//! assert_eq!(header.to_vec(), b"SET k 5\r\n");
//! let body = input.share(); // another view of the same bytes
//! assert_eq!(body.chunk(), b"hello");
//!
//! // Build a reply and hand its fragments to writev.
//! let mut out = PacketWriter::new();
//! out.extend_from_slice(b"+OK\r\n");
//! let reply = out.into_packet();
//! assert_eq!(reply.io_slices().map(|s| s.len()).sum::<usize>(), 5);
//! ```
//!
//! # Types
//!
//! - [`Packet`]: [`share`](Packet::share), [`slice`](Packet::slice),
//!   [`split_to`](Packet::split_to), [`trim_front`](Packet::trim_front),
//!   [`trim_back`](Packet::trim_back), [`append`](Packet::append),
//!   [`io_slices`](Packet::io_slices), [`linearize`](Packet::linearize) (copies);
//!   `bytes::Buf`, `From<Bytes>`, [`into_bytes`](Packet::into_bytes).
//! - [`PacketWriter`]: `BufMut` and `io::Write` into pooled buffers.
//!
//! # Threads
//!
//! Packets and writers are `!Send`: their buffers return to the pool of the core that made
//! them. To move bytes to another core, convert to [`bytes::Bytes`] (which copies pooled data).

#![doc(test(no_crate_inject, attr(deny(warnings))))]

mod buffer;
mod fragment;
mod packet;
mod writer;

pub use packet::Packet;
pub use writer::{DEFAULT_CHUNK_SIZE, PacketWriter};

#[cfg(test)]
mod tests {
    use super::*;
    use static_assertions::assert_not_impl_any;

    assert_not_impl_any!(Packet: Send, Sync);
    assert_not_impl_any!(PacketWriter: Send, Sync);
}
