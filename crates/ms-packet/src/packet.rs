//! [`Packet`]: a byte string made of fragments of shared buffers.
//!
//! # Representation
//!
//! Four words: the first [`Fragment`] inline, and a pointer to a [`Spill`] holding the
//! fragments after it, null for a packet of zero or one fragment. So sharing, slicing,
//! splitting and dropping a one-fragment packet (the common case) touch one reference count
//! and nothing else, and are inline with their slow paths out of line.
//!
//! Invariants:
//!
//! - `first` is [`Fragment::EMPTY`] exactly when the packet is empty, and then there is no
//!   spill.
//! - A spill's `rest` is never empty (the spill goes when it would be), holds no empty
//!   fragment, and its `len` is the packet's length: the sum of `first`'s and `rest`'s.
//! - Without a spill the packet's length is `first`'s.

use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Bound, RangeBounds};

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::Buffer;
use crate::fragment::Fragment;

/// A byte string made of a short list of fragments, each a view into a refcounted buffer
/// (pooled, a [`Bytes`], or static data). The first fragment lives inline; more spill into a
/// boxed list, so a one-fragment packet (the common case) is four words and never touches the
/// heap to be shared, sliced or split.
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
    /// The first fragment; [`Fragment::EMPTY`] exactly when the packet is empty.
    first: Fragment,
    /// The fragments after the first, when there are any; `None` for a packet of zero or one
    /// fragment, so those are the three words of `first` plus a null pointer. Dropped by
    /// `Packet`'s `Drop` (out of line, so that dropping a one-fragment packet is inline and
    /// makes no call).
    spill: ManuallyDrop<Option<Box<Spill>>>,
    _not_send: PhantomData<*const ()>,
}

/// The out-of-line part of a packet of two or more fragments.
#[derive(Clone)]
struct Spill {
    /// The fragments after the first; never empty (the spill goes when it would be).
    rest: VecDeque<Fragment>,
    /// The sum of all the fragments' lengths, `first` included.
    len: usize,
}

// ===== impl Packet: making packets =====

impl Packet {
    /// An empty packet. It allocates nothing.
    pub const fn new() -> Self {
        Self::from_first(Fragment::EMPTY)
    }

    /// A packet of the one fragment `first` (empty only if `first` is [`Fragment::EMPTY`]).
    #[inline]
    const fn from_first(first: Fragment) -> Self {
        Self {
            first,
            spill: ManuallyDrop::new(None),
            _not_send: PhantomData,
        }
    }

    /// A packet over `'static` data, copying nothing.
    pub fn from_static(data: &'static [u8]) -> Self {
        if data.is_empty() {
            Self::new()
        } else {
            Self::from_first(Fragment::from_static(data))
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
        Self::from_first(unsafe { Fragment::pooled(buffer, 0, data.len()) })
    }

    /// Appends a non-empty fragment, merging it into the last one if it continues it.
    pub(crate) fn push_fragment(&mut self, fragment: Fragment) {
        debug_assert!(!fragment.is_empty());
        let len = self
            .len()
            .checked_add(fragment.len())
            .expect("packet length overflows usize");
        match &mut *self.spill {
            None if self.first.is_empty() => self.first = fragment,
            None if self.first.continues_into(&fragment) => self.first.absorb(fragment),
            None => {
                *self.spill = Some(Box::new(Spill {
                    rest: VecDeque::from([fragment]),
                    len,
                }));
            }
            Some(spill) => {
                let last = spill.rest.back_mut().expect("a spill is never empty");
                if last.continues_into(&fragment) {
                    last.absorb(fragment);
                } else {
                    spill.rest.push_back(fragment);
                }
                spill.len = len;
            }
        }
    }

    /// Removes and returns the first fragment.
    fn pop_front(&mut self) -> Option<Fragment> {
        if self.first.is_empty() {
            return None;
        }
        let next = match &mut *self.spill {
            None => Fragment::EMPTY,
            Some(spill) => {
                let next = spill.rest.pop_front().expect("a spill is never empty");
                spill.len -= self.first.len();
                if spill.rest.is_empty() {
                    *self.spill = None;
                }
                next
            }
        };
        Some(std::mem::replace(&mut self.first, next))
    }

    /// Removes and returns the last fragment.
    fn pop_back(&mut self) -> Option<Fragment> {
        match &mut *self.spill {
            None if self.first.is_empty() => None,
            None => Some(std::mem::replace(&mut self.first, Fragment::EMPTY)),
            Some(spill) => {
                let last = spill.rest.pop_back().expect("a spill is never empty");
                spill.len -= last.len();
                if spill.rest.is_empty() {
                    *self.spill = None;
                }
                Some(last)
            }
        }
    }

    /// Drops the first `n` bytes of the first fragment (`n < ` its length).
    fn trim_first(&mut self, n: usize) {
        self.first.trim_front(n);
        if let Some(spill) = &mut *self.spill {
            spill.len -= n;
        }
    }

    /// The fragments, in order.
    fn iter(&self) -> impl Iterator<Item = &Fragment> + '_ {
        let first = (!self.first.is_empty()).then_some(&self.first);
        first
            .into_iter()
            .chain(self.spill.iter().flat_map(|spill| &spill.rest))
    }
}

// ===== impl Packet: inspecting =====

impl Packet {
    /// The number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match &*self.spill {
            None => self.first.len(),
            Some(spill) => spill.len,
        }
    }

    /// Whether there are no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// The number of fragments (0 for an empty packet).
    pub fn fragment_count(&self) -> usize {
        match &*self.spill {
            None => usize::from(!self.first.is_empty()),
            Some(spill) => 1 + spill.rest.len(),
        }
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
        let mut out = Vec::with_capacity(self.len());
        for fragment in self.fragments() {
            out.extend_from_slice(fragment);
        }
        out
    }
}

// ===== impl Packet: zero-copy operations =====

impl Packet {
    /// Another packet over the same bytes; nothing is copied. Same as `clone`.
    #[inline]
    pub fn share(&self) -> Packet {
        // The (rare) spill first, so nothing else is live across its call.
        let spill = self.spill.as_deref().map(share_spill);
        Packet {
            first: self.first.clone(),
            spill: ManuallyDrop::new(spill),
            _not_send: PhantomData,
        }
    }

    /// A packet over the bytes in `range`; nothing is copied.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds or decreasing.
    #[inline]
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Packet {
        match &*self.spill {
            None => {
                // One fragment (or none): the slice is a piece of it.
                let (start, end) = checked_range(&range, self.first.len());
                if start == end {
                    Packet::new()
                } else {
                    Packet::from_first(self.first.subrange(start, end - start))
                }
            }
            Some(spill) => {
                let (start, end) = checked_range(&range, spill.len);
                if start == end {
                    Packet::new()
                } else {
                    self.slice_spilled(start, end)
                }
            }
        }
    }

    /// [`slice`](Self::slice) of a packet of several fragments, for a valid non-empty range.
    #[inline(never)]
    fn slice_spilled(&self, start: usize, end: usize) -> Packet {
        let mut out = Packet::new();
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
    #[inline]
    #[track_caller]
    pub fn split_to(&mut self, n: usize) -> Packet {
        match &*self.spill {
            None => {
                // One fragment (or none): split inside it, or take it whole.
                let len = self.first.len();
                if n > len {
                    split_to_out_of_bounds(n, len);
                }
                if n == 0 {
                    Packet::new()
                } else if n == len {
                    Packet::from_first(std::mem::replace(&mut self.first, Fragment::EMPTY))
                } else {
                    let head = self.first.subrange(0, n);
                    self.first.trim_front(n);
                    Packet::from_first(head)
                }
            }
            Some(spill) => {
                if n > spill.len {
                    split_to_out_of_bounds(n, spill.len);
                }
                if n == 0 {
                    Packet::new()
                } else if n == spill.len {
                    std::mem::take(self)
                } else {
                    // By value, so `self` need not live in memory on the fast paths.
                    let (front, rest) = Self::split_to_spilled(std::mem::take(self), n);
                    *self = rest;
                    front
                }
            }
        }
    }

    /// [`split_to`](Self::split_to) of a packet of several fragments, for `0 < n < len`: the
    /// front and the rest.
    #[inline(never)]
    fn split_to_spilled(mut self, n: usize) -> (Packet, Packet) {
        let mut front = Packet::new();
        let mut left = n;
        while left > 0 {
            let first_len = self.first.len();
            if first_len <= left {
                left -= first_len;
                let whole = self.pop_front().expect("len counts the fragments");
                front.push_fragment(whole);
            } else {
                front.push_fragment(self.first.subrange(0, left));
                self.trim_first(left);
                left = 0;
            }
        }
        (front, self)
    }

    /// Splits off and returns the bytes from `at` on; `self` keeps the first `at`. Nothing is
    /// copied.
    ///
    /// # Panics
    ///
    /// If `at > len`.
    #[track_caller]
    pub fn split_off(&mut self, at: usize) -> Packet {
        let len = self.len();
        assert!(at <= len, "split_off {at} of a packet of {len} bytes");
        let tail = self.slice(at..);
        self.trim_back(len - at);
        tail
    }

    /// Drops the first `n` bytes.
    ///
    /// # Panics
    ///
    /// If `n > len`.
    #[track_caller]
    pub fn trim_front(&mut self, n: usize) {
        let len = self.len();
        assert!(n <= len, "trim_front {n} of a packet of {len} bytes");
        let mut left = n;
        while left > 0 {
            let first_len = self.first.len();
            if first_len <= left {
                left -= first_len;
                self.pop_front();
            } else {
                self.trim_first(left);
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
        let len = self.len();
        assert!(n <= len, "trim_back {n} of a packet of {len} bytes");
        let mut left = n;
        while left > 0 {
            let last = match &mut *self.spill {
                Some(spill) => spill.rest.back_mut().expect("a spill is never empty"),
                None => &mut self.first,
            };
            let last_len = last.len();
            if last_len <= left {
                left -= last_len;
                self.pop_back();
            } else {
                last.truncate(last_len - left);
                if let Some(spill) = &mut *self.spill {
                    spill.len -= left;
                }
                left = 0;
            }
        }
    }

    /// Appends `other`'s fragments; nothing is copied. A fragment that continues the last one
    /// in the same buffer is merged into it.
    pub fn append(&mut self, mut other: Packet) {
        if self.is_empty() {
            *self = other;
            return;
        }
        let spill = other.spill.take();
        let first = std::mem::replace(&mut other.first, Fragment::EMPTY);
        if first.is_empty() {
            return;
        }
        self.push_fragment(first);
        if let Some(spill) = spill {
            for fragment in spill.rest {
                self.push_fragment(fragment);
            }
        }
    }
}

/// The bounds of `range` in a packet of `len` bytes.
///
/// # Panics
///
/// If the range is out of bounds or decreasing.
#[inline]
#[track_caller]
fn checked_range(range: &impl RangeBounds<usize>, len: usize) -> (usize, usize) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1).expect("range start overflows"),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1).expect("range end overflows"),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    if start > end || end > len {
        slice_out_of_bounds(start, end, len);
    }
    (start, end)
}

#[cold]
#[inline(never)]
#[track_caller]
fn slice_out_of_bounds(start: usize, end: usize, len: usize) -> ! {
    panic!("slice {start}..{end} out of bounds of a packet of {len} bytes")
}

#[cold]
#[inline(never)]
#[track_caller]
fn split_to_out_of_bounds(n: usize, len: usize) -> ! {
    panic!("split_to {n} of a packet of {len} bytes")
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
        if self.spill.is_some() {
            let len = self.len();
            let mut buffer = Buffer::with_capacity(len);
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
            let whole = unsafe { Fragment::pooled(buffer, 0, len) };
            *self.spill = None;
            self.first = whole;
        }
        self.first.as_slice()
    }

    /// Converts to [`Bytes`]. A packet of one fragment that came from a `Bytes` converts
    /// without copying; anything else (pooled buffers are per-core, `Bytes` may cross threads)
    /// is copied.
    pub fn into_bytes(self) -> Bytes {
        if self.spill.is_none() {
            if let Some(bytes) = self.first.foreign_bytes() {
                return bytes.slice_ref(self.first.as_slice());
            }
        }
        let mut out = BytesMut::with_capacity(self.len());
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

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        // `spill` is `ManuallyDrop`: drop it here, out of line and only when there is one, so
        // the common case makes no call. `first` drops itself after.
        if self.spill.is_some() {
            drop_spill(&mut self.spill);
        }
    }
}

/// Shares a packet's spilled fragments (out of line: most packets have one fragment).
#[inline(never)]
fn share_spill(spill: &Spill) -> Box<Spill> {
    Box::new(spill.clone())
}

/// Drops a packet's spilled fragments (out of line: most packets have one fragment), leaving
/// `None`, which needs no drop.
#[inline(never)]
fn drop_spill(spill: &mut Option<Box<Spill>>) {
    *spill = None;
}

impl Clone for Packet {
    #[inline]
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
            Self::from_first(Fragment::bytes(bytes))
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
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

impl Eq for Packet {}

impl PartialEq<[u8]> for Packet {
    fn eq(&self, other: &[u8]) -> bool {
        self.len() == other.len() && {
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
            .field("len", &self.len())
            .field("fragments", &self.fragment_count())
            .finish()
    }
}

impl Buf for Packet {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.first.as_slice()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PacketWriter;
    use proptest::prelude::*;

    const _: () = assert!(size_of::<Packet>() == 4 * size_of::<usize>());

    impl Packet {
        /// Asserts the representation invariants (see the module docs).
        fn check(&self) {
            match &*self.spill {
                None => assert_eq!(self.len(), self.first.len()),
                Some(spill) => {
                    assert!(
                        !self.first.is_empty(),
                        "a spilled packet has a first fragment"
                    );
                    assert!(!spill.rest.is_empty(), "a spill is never empty");
                    assert!(spill.rest.iter().all(|f| !f.is_empty()));
                    let sum: usize = spill.rest.iter().map(Fragment::len).sum();
                    assert_eq!(spill.len, self.first.len() + sum);
                }
            }
            assert_eq!(self.is_empty(), self.fragment_count() == 0);
            assert_eq!(self.fragments().map(<[u8]>::len).sum::<usize>(), self.len());
        }
    }

    /// `a`, `b` and `c` in three fragments of different buffers.
    fn three(a: &[u8], b: &[u8], c: &[u8]) -> Packet {
        let mut p = Packet::copy_from_slice(a);
        p.append(Packet::copy_from_slice(b));
        p.append(Packet::copy_from_slice(c));
        assert_eq!(p.fragment_count(), 3);
        p.check();
        p
    }

    #[test]
    fn one_fragment_packets_do_not_spill() {
        let mut p = Packet::copy_from_slice(b"0123456789");
        assert!(p.spill.is_none());
        let s = p.slice(2..5);
        let head = p.split_to(3);
        for q in [&p, &s, &head] {
            assert!(q.spill.is_none());
            q.check();
        }
        assert_eq!(s, *b"234".as_slice());
        assert_eq!(head, *b"012".as_slice());
        assert_eq!(p, *b"3456789".as_slice());
    }

    #[test]
    fn the_spill_goes_when_one_fragment_is_left() {
        let mut p = three(b"ab", b"cd", b"ef");
        p.trim_back(2);
        p.check();
        assert!(p.spill.is_some());
        p.trim_front(2);
        p.check();
        assert!(p.spill.is_none(), "back to one fragment");
        assert_eq!(p, *b"cd".as_slice());
        p.trim_front(2);
        p.check();
        assert!(p.first.is_empty() && p.spill.is_none());
    }

    #[test]
    fn split_to_of_a_spilled_packet_keeps_both_sides_valid() {
        for n in 0..=6 {
            let mut p = three(b"ab", b"cd", b"ef");
            let front = p.split_to(n);
            front.check();
            p.check();
            assert_eq!(front.to_vec(), &b"abcdef"[..n]);
            assert_eq!(p.to_vec(), &b"abcdef"[n..]);
        }
    }

    #[test]
    fn slices_of_a_spilled_packet_spill_only_across_fragments() {
        let p = three(b"ab", b"cd", b"ef");
        for start in 0..=6 {
            for end in start..=6 {
                let s = p.slice(start..end);
                s.check();
                assert_eq!(s.to_vec(), &b"abcdef"[start..end]);
                let crossed = (start..end).map(|i| i / 2).collect::<Vec<_>>();
                let fragments = crossed
                    .first()
                    .map_or(0, |a| crossed.last().unwrap() - a + 1);
                assert_eq!(s.fragment_count(), fragments, "{start}..{end}");
            }
        }
    }

    #[test]
    fn dropping_a_spilled_share_leaves_the_original_intact() {
        let p = three(b"ab", b"cd", b"ef");
        let q = p.share();
        q.check();
        drop(q);
        p.check();
        assert_eq!(p.to_vec(), b"abcdef");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(Vec<u8>, usize),
        Share(usize),
        Slice(usize, usize, usize),
        SplitTo(usize, usize),
        SplitOff(usize, usize),
        TrimFront(usize, usize),
        TrimBack(usize, usize),
        Append(usize, usize),
        Linearize(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let i = any::<usize>;
        prop_oneof![
            (proptest::collection::vec(any::<u8>(), 0..24), 1usize..8)
                .prop_map(|(v, c)| Op::Push(v, c)),
            i().prop_map(Op::Share),
            (i(), i(), i()).prop_map(|(a, b, c)| Op::Slice(a, b, c)),
            (i(), i()).prop_map(|(a, b)| Op::SplitTo(a, b)),
            (i(), i()).prop_map(|(a, b)| Op::SplitOff(a, b)),
            (i(), i()).prop_map(|(a, b)| Op::TrimFront(a, b)),
            (i(), i()).prop_map(|(a, b)| Op::TrimBack(a, b)),
            (i(), i()).prop_map(|(a, b)| Op::Append(a, b)),
            i().prop_map(Op::Linearize),
        ]
    }

    proptest! {
        /// Random operations keep the representation invariants (the integration test's
        /// model checks the bytes; this checks the private structure).
        #[test]
        fn operations_keep_the_invariants(ops in proptest::collection::vec(op(), 1..40)) {
            let mut ps = vec![Packet::new()];
            for op in ops {
                let n = ps.len();
                match op {
                    Op::Push(data, chunk) => {
                        let mut w = PacketWriter::with_chunk_size(chunk);
                        w.extend_from_slice(&data);
                        ps.push(w.into_packet());
                    }
                    Op::Share(i) => ps.push(ps[i % n].share()),
                    Op::Slice(i, a, b) => {
                        let len = ps[i % n].len();
                        let (a, b) = (a % (len + 1), b % (len + 1));
                        ps.push(ps[i % n].slice(a.min(b)..a.max(b)));
                    }
                    Op::SplitTo(i, k) => {
                        let k = k % (ps[i % n].len() + 1);
                        let front = ps[i % n].split_to(k);
                        ps.push(front);
                    }
                    Op::SplitOff(i, k) => {
                        let k = k % (ps[i % n].len() + 1);
                        let tail = ps[i % n].split_off(k);
                        ps.push(tail);
                    }
                    Op::TrimFront(i, k) => {
                        let k = k % (ps[i % n].len() + 1);
                        ps[i % n].trim_front(k);
                    }
                    Op::TrimBack(i, k) => {
                        let k = k % (ps[i % n].len() + 1);
                        ps[i % n].trim_back(k);
                    }
                    Op::Append(i, j) => {
                        if ps[i % n].len() + ps[j % n].len() <= 1 << 12 {
                            let other = ps[j % n].share();
                            ps[i % n].append(other);
                        }
                    }
                    Op::Linearize(i) => {
                        ps[i % n].linearize();
                    }
                }
                for p in &ps {
                    p.check();
                }
            }
        }
    }
}
