//! [`PacketWriter`]: builds packets by appending bytes into pooled buffers.

use std::fmt;
use std::io;

use bytes::BufMut;
use bytes::buf::UninitSlice;

use crate::buffer::Buffer;
use crate::fragment::Fragment;
use crate::packet::Packet;

/// The default size of the buffers a writer fills: one 4 KiB block, header included.
pub const DEFAULT_CHUNK_SIZE: usize = 4096 - 16;

/// Builds a [`Packet`] by appending bytes into pooled buffers, through [`BufMut`] or
/// [`io::Write`].
///
/// [`take_packet`](PacketWriter::take_packet) hands out what was written so far and keeps the
/// rest of the current buffer for what comes next, so many small responses share one buffer
/// and, merged, leave in one fragment.
///
/// # Examples
///
/// ```
/// use bytes::BufMut;
/// use ms_packet::PacketWriter;
/// use std::io::Write;
///
/// let mut w = PacketWriter::new();
/// w.put_slice(b"HTTP/1.1 200 OK\r\n");
/// write!(w, "Content-Length: {}\r\n\r\n", 13).unwrap();
/// let first = w.take_packet();
/// w.put_slice(b"Hello, World!");
/// let mut all = first;
/// all.append(w.take_packet());
/// assert_eq!(all.fragment_count(), 1, "contiguous writes merge into one fragment");
/// assert!(all.to_vec().ends_with(b"\r\n\r\nHello, World!"));
/// ```
pub struct PacketWriter {
    /// What was written and frozen into fragments.
    packet: Packet,
    /// The buffer being filled, if any.
    buffer: Option<Buffer>,
    /// Bytes of `buffer` already in `packet`.
    frozen: usize,
    /// Bytes of `buffer` written; in `frozen..=capacity`.
    filled: usize,
    /// The size of the next buffer to allocate.
    chunk_size: usize,
}

impl PacketWriter {
    /// A writer filling buffers of [`DEFAULT_CHUNK_SIZE`] bytes.
    pub fn new() -> Self {
        Self::with_chunk_size(DEFAULT_CHUNK_SIZE)
    }

    /// A writer filling buffers of at least `chunk_size` bytes (at least 1).
    ///
    /// # Panics
    ///
    /// If `chunk_size` is larger than `isize::MAX` minus a small header.
    pub fn with_chunk_size(chunk_size: usize) -> Self {
        assert!(
            chunk_size <= isize::MAX as usize - 64,
            "packet writer chunk size {chunk_size} is too large"
        );
        Self {
            packet: Packet::new(),
            buffer: None,
            frozen: 0,
            filled: 0,
            chunk_size: chunk_size.max(1),
        }
    }

    /// Bytes written and not yet taken.
    pub fn len(&self) -> usize {
        self.packet.len() + (self.filled - self.frozen)
    }

    /// Whether nothing is waiting to be taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a packet's fragments as they are, copying nothing.
    pub fn append_packet(&mut self, packet: Packet) {
        self.freeze();
        self.packet.append(packet);
    }

    /// Returns everything written so far as a packet; the writer keeps filling its current
    /// buffer after it.
    pub fn take_packet(&mut self) -> Packet {
        self.freeze();
        std::mem::take(&mut self.packet)
    }

    /// Returns everything written, consuming the writer.
    pub fn into_packet(mut self) -> Packet {
        self.take_packet()
    }

    /// Moves the written, unfrozen bytes of the current buffer into the packet.
    fn freeze(&mut self) {
        if self.filled > self.frozen {
            let buffer = self.buffer.as_ref().expect("filled bytes live in a buffer");
            // SAFETY: bytes `frozen..filled` were written, and the writer only writes past
            // `filled` from now on.
            let fragment =
                unsafe { Fragment::pooled(buffer.clone(), self.frozen, self.filled - self.frozen) };
            self.packet.push_fragment(fragment);
            self.frozen = self.filled;
        }
    }

    /// The current buffer's spare bytes, after starting a new buffer if it is full.
    fn spare(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        let full = self
            .buffer
            .as_ref()
            .is_none_or(|b| self.filled == b.capacity());
        if full {
            self.freeze();
            self.buffer = Some(Buffer::with_capacity(self.chunk_size));
            self.frozen = 0;
            self.filled = 0;
        }
        let buffer = self.buffer.as_mut().expect("just ensured");
        // SAFETY: fragments cover only bytes before `frozen <= filled`; we are the writer.
        unsafe { buffer.spare_mut(self.filled) }
    }

    /// Appends `data`, copying it into pooled buffers.
    pub fn extend_from_slice(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(data.len());
            for (dst, &src) in spare[..n].iter_mut().zip(&data[..n]) {
                dst.write(src);
            }
            self.filled += n;
            data = &data[n..];
        }
    }
}

impl Default for PacketWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PacketWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketWriter")
            .field("len", &self.len())
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

// SAFETY: `chunk_mut` returns only the current buffer's unwritten bytes, which no fragment
// covers, and `advance_mut` counts no more than were returned (it asserts so).
unsafe impl BufMut for PacketWriter {
    fn remaining_mut(&self) -> usize {
        (isize::MAX as usize).saturating_sub(self.len())
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let capacity = self.buffer.as_ref().map_or(0, Buffer::capacity);
        assert!(
            cnt <= capacity - self.filled,
            "advance_mut past the chunk given out"
        );
        self.filled += cnt;
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        UninitSlice::uninit(self.spare())
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.extend_from_slice(src);
    }
}

impl io::Write for PacketWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
