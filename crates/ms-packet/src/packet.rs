//! [`Packet`]: a byte string made of fragments of shared buffers.

use std::fmt;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::Buffer;
use crate::fragment::Fragment;

/// A byte string made of a short list of fragments, each a view into a refcounted buffer
/// (pooled, a [`Bytes`], or static data). The first fragment lives inline; more spill into a
/// `Vec`, so a one-fragment packet (the common case) never touches the heap to be shared,
/// sliced or split.
///
/// [`share`](Packet::share), [`slice`](Packet::slice), [`split_to`](Packet::split_to),
/// [`trim_front`](Packet::trim_front), [`trim_back`](Packet::trim_back) and
/// [`append`](Packet::append) copy no bytes: they adjust views and reference counts (plain
/// integers: a packet belongs to one core and is `!Send`). [`linearize`](Packet::linearize) is
/// the one operation that copies, when a contiguous view is needed and the packet has several
/// fragments. [`io_slices`](Packet::io_slices) gives the fragments to `writev` as they are.
///
/// # Examples
///
/// ```
/// use ms_packet::Packet;
///
/// let mut request = Packet::copy_from_slice(b"GET / HTTP/1.1\r\n\r\nbody");
/// let head = request.split_to(18);
/// assert_eq!(head.to_vec(), b"GET / HTTP/1.1\r\n\r\n");
/// assert_eq!(request.to_vec(), b"body");
///
/// let mut response = Packet::from_static(b"HTTP/1.1 200 OK\r\n\r\n");
/// response.append(request.share());
/// assert_eq!(response.fragment_count(), 2);
/// assert_eq!(response.len(), 23);
/// ```
pub struct Packet {
    /// The first fragment; `None` exactly when the packet is empty.
    first: Option<Fragment>,
    /// The fragments after the first; empty when `first` is `None`.
    rest: Vec<Fragment>,
    /// The sum of the fragments' lengths.
    len: usize,
    _not_send: PhantomData<*const ()>,
}

// ===== impl Packet: making packets =====

impl Packet {
    /// An empty packet. It allocates nothing.
    pub const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
            len: 0,
            _not_send: PhantomData,
        }
    }

    fn from_fragment(fragment: Fragment) -> Self {
        let mut packet = Self::new();
        packet.push_fragment(fragment);
        packet
    }

    /// A packet over `'static` data, copying nothing.
    pub fn from_static(data: &'static [u8]) -> Self {
        if data.is_empty() {
            Self::new()
        } else {
            Self::from_fragment(Fragment::from_static(data))
        }
    }

    /// A packet holding a copy of `data` in one pooled buffer.
    pub fn copy_from_slice(data: &[u8]) -> Self {
        if data.is_empty() {
            return Self::new();
        }
        let mut buffer = Buffer::with_capacity(data.len());
        // SAFETY: the buffer is fresh: nothing covers any of its bytes.
        let spare = unsafe { buffer.spare_mut(0) };
        for (dst, &src) in spare.iter_mut().zip(data) {
            dst.write(src);
        }
        // SAFETY: bytes `0..data.len()` were just written, and this buffer has no writer left.
        Self::from_fragment(unsafe { Fragment::pooled(buffer, 0, data.len()) })
    }

    pub(crate) fn push_fragment(&mut self, fragment: Fragment) {
        self.len = self
            .len
            .checked_add(fragment.len())
            .expect("packet length overflows usize");
        let last = match self.rest.last_mut() {
            Some(last) => last,
            None => match &mut self.first {
                Some(first) => first,
                None => {
                    self.first = Some(fragment);
                    return;
                }
            },
        };
        if last.continues_into(&fragment) {
            last.absorb(fragment);
        } else {
            self.rest.push(fragment);
        }
    }

    /// Removes and returns the first fragment.
    fn pop_front(&mut self) -> Option<Fragment> {
        let first = self.first.take()?;
        if !self.rest.is_empty() {
            self.first = Some(self.rest.remove(0));
        }
        self.len -= first.len();
        Some(first)
    }

    /// Removes and returns the last fragment.
    fn pop_back(&mut self) -> Option<Fragment> {
        let last = match self.rest.pop() {
            Some(last) => last,
            None => self.first.take()?,
        };
        self.len -= last.len();
        Some(last)
    }

    /// The fragments, in order.
    fn iter(&self) -> impl Iterator<Item = &Fragment> + '_ {
        self.first.iter().chain(&self.rest)
    }
}

// ===== impl Packet: inspecting =====

impl Packet {
    /// The number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of fragments (0 for an empty packet).
    pub fn fragment_count(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The fragments' bytes, in order.
    pub fn fragments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(Fragment::as_slice)
    }

    /// The fragments as `IoSlice`s (iovecs), in order, for `writev`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_packet::Packet;
    ///
    /// let mut p = Packet::from_static(b"hello, ");
    /// p.append(Packet::copy_from_slice(b"world"));
    /// let slices: Vec<_> = p.io_slices().collect();
    /// assert_eq!(slices.len(), 2);
    /// assert_eq!(&*slices[1], b"world");
    /// ```
    pub fn io_slices(&self) -> impl Iterator<Item = IoSlice<'_>> + '_ {
        self.fragments().map(IoSlice::new)
    }

    /// A copy of the bytes in a `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for fragment in self.fragments() {
            out.extend_from_slice(fragment);
        }
        out
    }
}

// ===== impl Packet: zero-copy operations =====

impl Packet {
    /// Another packet over the same bytes; nothing is copied. Same as `clone`.
    pub fn share(&self) -> Packet {
        Packet {
            first: self.first.clone(),
            rest: if self.rest.is_empty() {
                Vec::new()
            } else {
                self.rest.clone()
            },
            len: self.len,
            _not_send: PhantomData,
        }
    }

    /// A packet over the bytes in `range`; nothing is copied.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing.
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Packet {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1).expect("range start overflows"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1).expect("range end overflows"),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len,
        };
        assert!(
            start <= end && end <= self.len,
            "slice {start}..{end} out of bounds of a packet of {} bytes",
            self.len
        );
        let mut out = Packet::new();
        if start == end {
            return out;
        }
        let mut offset = 0;
        for fragment in self.iter() {
            let (f_start, f_end) = (offset, offset + fragment.len());
            offset = f_end;
            if f_end <= start {
                continue;
            }
            if f_start >= end {
                break;
            }
            let from = start.max(f_start) - f_start;
            let to = end.min(f_end) - f_start;
            out.push_fragment(fragment.subrange(from, to - from));
        }
        out
    }

    /// Splits off and returns the first `n` bytes; `self` keeps the rest. Nothing is copied.
    ///
    /// # Panics
    ///
    /// If `n > len`.
    #[track_caller]
    pub fn split_to(&mut self, n: usize) -> Packet {
        assert!(
            n <= self.len,
            "split_to {n} of a packet of {} bytes",
            self.len
        );
        let mut front = Packet::new();
        let mut left = n;
        while left > 0 {
            let first = self.first.as_mut().expect("len counts the fragments");
            if first.len() <= left {
                left -= first.len();
                let whole = self.pop_front().expect("just seen");
                front.push_fragment(whole);
            } else {
                front.push_fragment(first.subrange(0, left));
                first.trim_front(left);
                self.len -= left;
                left = 0;
            }
        }
        front
    }

    /// Splits off and returns the bytes from `at` on; `self` keeps the first `at`. Nothing is
    /// copied.
    ///
    /// # Panics
    ///
    /// If `at > len`.
    #[track_caller]
    pub fn split_off(&mut self, at: usize) -> Packet {
        assert!(
            at <= self.len,
            "split_off {at} of a packet of {} bytes",
            self.len
        );
        let tail = self.slice(at..);
        self.trim_back(self.len - at);
        tail
    }

    /// Drops the first `n` bytes.
    ///
    /// # Panics
    ///
    /// If `n > len`.
    #[track_caller]
    pub fn trim_front(&mut self, n: usize) {
        assert!(
            n <= self.len,
            "trim_front {n} of a packet of {} bytes",
            self.len
        );
        let mut left = n;
        while left > 0 {
            let first = self.first.as_mut().expect("len counts the fragments");
            if first.len() <= left {
                left -= first.len();
                self.pop_front();
            } else {
                first.trim_front(left);
                self.len -= left;
                left = 0;
            }
        }
    }

    /// Drops the last `n` bytes.
    ///
    /// # Panics
    ///
    /// If `n > len`.
    #[track_caller]
    pub fn trim_back(&mut self, n: usize) {
        assert!(
            n <= self.len,
            "trim_back {n} of a packet of {} bytes",
            self.len
        );
        let mut left = n;
        while left > 0 {
            let last = match self.rest.last_mut() {
                Some(last) => last,
                None => self.first.as_mut().expect("len counts the fragments"),
            };
            if last.len() <= left {
                left -= last.len();
                self.pop_back();
            } else {
                let keep = last.len() - left;
                last.truncate(keep);
                self.len -= left;
                left = 0;
            }
        }
    }

    /// Appends `other`'s fragments; nothing is copied. A fragment that continues the last one
    /// in the same buffer is merged into it.
    pub fn append(&mut self, mut other: Packet) {
        if self.first.is_none() {
            *self = other;
            return;
        }
        let rest = std::mem::take(&mut other.rest);
        if let Some(first) = other.first.take() {
            self.push_fragment(first);
        }
        for fragment in rest {
            self.push_fragment(fragment);
        }
    }
}

// ===== impl Packet: copying operations =====

impl Packet {
    /// Makes the bytes contiguous and returns them. **This copies** all the bytes into one new
    /// pooled buffer when the packet has more than one fragment; with one (or none) it copies
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use ms_packet::Packet;
    ///
    /// let mut p = Packet::from_static(b"key: ");
    /// p.append(Packet::copy_from_slice(b"value"));
    /// assert_eq!(p.linearize(), b"key: value");
    /// assert_eq!(p.fragment_count(), 1);
    /// ```
    pub fn linearize(&mut self) -> &[u8] {
        if !self.rest.is_empty() {
            let mut buffer = Buffer::with_capacity(self.len);
            // SAFETY: the buffer is fresh: nothing covers any of its bytes.
            let spare = unsafe { buffer.spare_mut(0) };
            let mut at = 0;
            for fragment in self.fragments() {
                for (dst, &src) in spare[at..at + fragment.len()].iter_mut().zip(fragment) {
                    dst.write(src);
                }
                at += fragment.len();
            }
            // SAFETY: bytes `0..len` were just written, and the buffer has no writer left.
            let whole = unsafe { Fragment::pooled(buffer, 0, self.len) };
            self.rest.clear();
            self.first = Some(whole);
        }
        self.first.as_ref().map_or(&[], Fragment::as_slice)
    }

    /// Converts to [`Bytes`]. A packet of one fragment that came from a `Bytes` converts
    /// without copying; anything else (pooled buffers are per-core, `Bytes` may cross threads)
    /// is copied.
    pub fn into_bytes(self) -> Bytes {
        if let (Some(fragment), true) = (&self.first, self.rest.is_empty()) {
            if let Some(bytes) = fragment.foreign_bytes() {
                return bytes.slice_ref(fragment.as_slice());
            }
        }
        let mut out = BytesMut::with_capacity(self.len);
        for fragment in self.fragments() {
            out.extend_from_slice(fragment);
        }
        out.freeze()
    }
}

// ===== impl traits =====

impl Default for Packet {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Packet {
    fn clone(&self) -> Self {
        self.share()
    }
}

impl From<Bytes> for Packet {
    /// Wraps the `Bytes` as one fragment, copying nothing.
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Self::new()
        } else {
            Self::from_fragment(Fragment::bytes(bytes))
        }
    }
}

impl From<Vec<u8>> for Packet {
    /// Takes the vector's allocation over (through `Bytes`), copying nothing.
    fn from(vec: Vec<u8>) -> Self {
        Self::from(Bytes::from(vec))
    }
}

impl From<&'static [u8]> for Packet {
    fn from(data: &'static [u8]) -> Self {
        Self::from_static(data)
    }
}

impl From<&'static str> for Packet {
    fn from(text: &'static str) -> Self {
        Self::from_static(text.as_bytes())
    }
}

impl From<Packet> for Bytes {
    fn from(packet: Packet) -> Self {
        packet.into_bytes()
    }
}

impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.to_vec() == other.to_vec()
    }
}

impl Eq for Packet {}

impl PartialEq<[u8]> for Packet {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len() && {
            let mut rest = other;
            self.fragments().all(|f| {
                let (head, tail) = rest.split_at(f.len());
                rest = tail;
                head == f
            })
        }
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("fragments", &self.fragment_count())
            .finish()
    }
}

impl Buf for Packet {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        self.first.as_ref().map_or(&[], Fragment::as_slice)
    }

    fn advance(&mut self, cnt: usize) {
        self.trim_front(cnt);
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, fragment) in dst.iter_mut().zip(self.fragments()) {
            *slot = IoSlice::new(fragment);
            n += 1;
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        self.split_to(len).into_bytes()
    }
}
