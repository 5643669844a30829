//! One shard's keys: a hash map of pooled keys and values with optional deadlines, expired
//! lazily on access and actively from a deadline heap.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Instant;

use ms_packet::Packet;

/// The longest byte string kept inline, inside the map's own slot.
pub const INLINE: usize = 30;

/// A binary-safe byte string: short ones (up to 30 bytes, most keys and many values) inline,
/// so a lookup touches no memory beyond the map's slot; longer ones in pooled memory (one
/// ms-packet buffer). Usable as a map key looked up by `&[u8]`.
#[derive(Debug)]
pub enum Bytes {
    /// Up to [`INLINE`] bytes, stored in place.
    Inline {
        /// How many of `data` are used.
        len: u8,
        /// The bytes.
        data: [u8; INLINE],
    },
    /// A longer string, in a pooled buffer.
    Pooled(Packet),
}

impl Bytes {
    /// A copy of `bytes`: inline if short, else pooled.
    pub fn copy(bytes: &[u8]) -> Bytes {
        if bytes.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..bytes.len()].copy_from_slice(bytes);
            Bytes::Inline {
                len: bytes.len() as u8,
                data,
            }
        } else {
            Bytes::Pooled(Packet::copy_from_slice(bytes))
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, data } => &data[..usize::from(*len)],
            // A packet made by `copy_from_slice` is one fragment.
            Bytes::Pooled(packet) => packet.fragments().next().unwrap_or(&[]),
        }
    }
}

impl Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Bytes {}

impl Hash for Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// A value and its deadline.
#[derive(Debug)]
pub struct Entry {
    /// The value.
    pub value: Bytes,
    /// When it expires, if ever.
    pub expires: Option<Instant>,
}

/// One shard's keys.
#[derive(Debug, Default)]
pub struct Store {
    map: HashMap<Bytes, Entry, foldhash::fast::RandomState>,
    /// Deadlines to visit, earliest first; an entry whose key has since changed its deadline
    /// (or gone) is skipped when popped.
    deadlines: BinaryHeap<Reverse<(Instant, Vec<u8>)>>,
    /// Keys removed because they expired.
    pub expired: u64,
}

impl Store {
    /// The live entry of `key` (an expired one is removed first).
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&mut Entry> {
        let expired = self
            .map
            .get(key)
            .is_some_and(|e| e.expires.is_some_and(|at| at <= now));
        if expired {
            self.map.remove(key);
            self.expired += 1;
            return None;
        }
        self.map.get_mut(key)
    }

    /// Sets `key` to `value` with `expires`.
    pub fn set(&mut self, key: &[u8], value: &[u8], expires: Option<Instant>) {
        let entry = Entry {
            value: Bytes::copy(value),
            expires,
        };
        match self.map.get_mut(key) {
            Some(old) => *old = entry,
            None => {
                self.map.insert(Bytes::copy(key), entry);
            }
        }
        if let Some(at) = expires {
            self.deadlines.push(Reverse((at, key.to_vec())));
        }
    }

    /// Sets or clears the deadline of a live key; returns whether the key exists.
    pub fn expire(&mut self, key: &[u8], at: Option<Instant>, now: Instant) -> bool {
        let Some(entry) = self.get(key, now) else {
            return false;
        };
        entry.expires = at;
        if let Some(at) = at {
            self.deadlines.push(Reverse((at, key.to_vec())));
        }
        true
    }

    /// Removes `key`; returns whether it was live.
    pub fn remove(&mut self, key: &[u8], now: Instant) -> bool {
        self.get(key, now).is_some() && self.map.remove(key).is_some()
    }

    /// Live and not yet collected keys (expired keys count until they are collected, as in
    /// Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys with a deadline.
    pub fn with_deadline(&self) -> usize {
        self.map.values().filter(|e| e.expires.is_some()).count()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
    }

    /// Removes every key whose deadline has passed by `now`; returns how many.
    pub fn collect_expired(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                break;
            };
            let current = self.map.get(key.as_slice()).and_then(|e| e.expires);
            if current == Some(at) {
                self.map.remove(key.as_slice());
                removed += 1;
            }
        }
        self.expired += removed as u64;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_is_lazy_and_active() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let mut store = Store::default();
        store.set(b"a", b"1", Some(later));
        store.set(b"b", b"2", Some(later));
        store.set(b"c", b"3", None);
        assert_eq!(store.get(b"a", now).unwrap().value.as_slice(), b"1");
        assert!(store.get(b"a", later).is_none(), "lazily expired on access");
        // `b` got a new deadline; its first one must not remove it.
        assert!(store.expire(b"b", Some(later + Duration::from_secs(5)), now));
        assert_eq!(store.collect_expired(later), 0);
        assert_eq!(store.len(), 2);
        assert_eq!(store.collect_expired(later + Duration::from_secs(5)), 1);
        assert_eq!(store.len(), 1);
        assert_eq!(store.expired, 2);
        assert!(store.remove(b"c", now));
        assert!(!store.remove(b"c", now));
    }

    #[test]
    fn short_and_long_strings_round_trip() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let copy = Bytes::copy(&bytes);
            assert_eq!(copy.as_slice(), bytes.as_slice());
            assert_eq!(matches!(copy, Bytes::Inline { .. }), len <= INLINE);
        }
    }

    #[test]
    fn keys_and_values_are_binary_safe() {
        let mut store = Store::default();
        let key = [0u8, 255, b'\r', b'\n'];
        store.set(&key, &[1, 0, 2], None);
        assert_eq!(
            store.get(&key, Instant::now()).unwrap().value.as_slice(),
            [1, 0, 2]
        );
        assert!(store.get(&key[..3], Instant::now()).is_none());
    }
}
