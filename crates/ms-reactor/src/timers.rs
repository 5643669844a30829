//! [`Timers`]: a binary min-heap of deadlines with O(log n) cancellation.
//!
//! Each timer has an entry in a slab (`entries`) that records its deadline, its waker and its
//! position in the heap; the heap holds entry indices. Cancelling removes the entry from the
//! heap at once (by position), so nothing stale accumulates however many timeouts are set and
//! cancelled. Ties fire in the order the timers were set (each has a sequence number).
//!
//! The reactor fires every timer whose deadline is not after "now", and sleeps in `epoll_wait`
//! until the earliest deadline, rounded up to whole milliseconds: a timer never fires early.

use std::task::Waker;
use std::time::Instant;

/// A timer's handle: its entry and the entry's sequence number (which tells a reused entry
/// from the one this handle set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId {
    index: usize,
    seq: u64,
}

#[derive(Debug)]
struct Entry {
    deadline: Instant,
    /// 0 when the entry is free.
    seq: u64,
    waker: Option<Waker>,
    /// Position in `heap`, or `usize::MAX` once fired (or free).
    pos: usize,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    entries: Vec<Entry>,
    free: Vec<usize>,
    heap: Vec<usize>,
    next_seq: u64,
}

const FIRED: usize = usize::MAX;

impl Timers {
    /// Sets a timer for `deadline` that wakes `waker`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerId {
        self.next_seq += 1;
        let seq = self.next_seq;
        let entry = Entry {
            deadline,
            seq,
            waker: Some(waker),
            pos: self.heap.len(),
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.entries[index] = entry;
                index
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.heap.push(index);
        self.sift_up(self.heap.len() - 1);
        TimerId { index, seq }
    }

    fn live(&self, id: TimerId) -> Option<&Entry> {
        self.entries.get(id.index).filter(|e| e.seq == id.seq)
    }

    /// Whether `id` has fired (false for a cancelled or unknown timer).
    pub(crate) fn has_fired(&self, id: TimerId) -> bool {
        self.live(id).is_some_and(|e| e.pos == FIRED)
    }

    /// Whether timer `id`'s waker would wake `waker`'s task already.
    pub(crate) fn has_waker(&self, id: TimerId, waker: &Waker) -> bool {
        self.live(id)
            .and_then(|e| e.waker.as_ref())
            .is_some_and(|w| w.will_wake(waker))
    }

    /// Replaces the waker of a timer; returns the old one (or `waker` itself for an unknown
    /// timer) for the caller to drop outside any borrow: a waker's drop is user code, and so
    /// is its clone, which the caller makes before borrowing.
    pub(crate) fn replace_waker(&mut self, id: TimerId, waker: Waker) -> Option<Waker> {
        match self.entries.get_mut(id.index).filter(|e| e.seq == id.seq) {
            Some(entry) => entry.waker.replace(waker),
            None => Some(waker),
        }
    }

    /// Moves a timer to a new deadline (and re-arms it if it had fired).
    pub(crate) fn reset(&mut self, id: TimerId, deadline: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(id.index).filter(|e| e.seq == id.seq) else {
            return false;
        };
        entry.deadline = deadline;
        if entry.pos == FIRED {
            entry.pos = self.heap.len();
            self.heap.push(id.index);
            self.sift_up(self.heap.len() - 1);
        } else {
            let pos = entry.pos;
            self.sift_up(pos);
            let pos = self.entries[id.index].pos;
            self.sift_down(pos);
        }
        true
    }

    /// Cancels a timer (fired or not) and frees its entry; returns its waker, to be dropped by
    /// the caller outside any borrow (a waker's drop may run user code).
    pub(crate) fn remove(&mut self, id: TimerId) -> Option<Waker> {
        let entry = self.entries.get_mut(id.index).filter(|e| e.seq == id.seq)?;
        let pos = entry.pos;
        entry.seq = 0;
        let waker = entry.waker.take();
        if pos != FIRED {
            self.remove_at(pos);
        }
        self.entries[id.index].pos = FIRED;
        self.free.push(id.index);
        waker
    }

    /// The earliest deadline, if any timer is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|&i| self.entries[i].deadline)
    }

    /// Fires every timer due at `now`, in deadline order, pushing their wakers to `out`.
    pub(crate) fn fire(&mut self, now: Instant, out: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        while let Some(&top) = self.heap.first() {
            if self.entries[top].deadline > now {
                break;
            }
            self.remove_at(0);
            let entry = &mut self.entries[top];
            entry.pos = FIRED;
            if let Some(waker) = entry.waker.take() {
                out.push(waker);
            }
            fired += 1;
        }
        fired
    }

    /// Number of pending (unfired) timers.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn pending(&self) -> usize {
        self.heap.len()
    }

    fn key(&self, pos: usize) -> (Instant, u64) {
        let entry = &self.entries[self.heap[pos]];
        (entry.deadline, entry.seq)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a]].pos = a;
        self.entries[self.heap[b]].pos = b;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.key(pos) >= self.key(parent) {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let (left, right) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if left < self.heap.len() && self.key(left) < self.key(least) {
                least = left;
            }
            if right < self.heap.len() && self.key(right) < self.key(least) {
                least = right;
            }
            if least == pos {
                return;
            }
            self.swap(pos, least);
            pos = least;
        }
    }

    fn remove_at(&mut self, pos: usize) {
        let last = self.heap.len() - 1;
        if pos != last {
            self.swap(pos, last);
        }
        self.heap.pop();
        if pos < self.heap.len() {
            let moved = self.heap[pos];
            self.sift_up(pos);
            let pos = self.entries[moved].pos;
            self.sift_down(pos);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn fires_in_deadline_order_then_insertion_order_and_never_early() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let ms = Duration::from_millis;
        let ids: Vec<_> = [5, 1, 3, 1, 9, 0]
            .iter()
            .map(|&d| timers.insert(t0 + ms(d), noop()))
            .collect();
        let mut out = Vec::new();
        assert_eq!(timers.fire(t0 + ms(0), &mut out), 1);
        assert!(timers.has_fired(ids[5]));
        assert_eq!(timers.fire(t0 + ms(2), &mut out), 2);
        assert!(timers.has_fired(ids[1]) && timers.has_fired(ids[3]));
        assert!(!timers.has_fired(ids[2]), "due at 3 ms, not at 2 ms");
        assert_eq!(timers.next_deadline(), Some(t0 + ms(3)));
        assert_eq!(timers.fire(t0 + ms(100), &mut out), 3);
        assert_eq!(out.len(), 6);
        assert_eq!(timers.pending(), 0);
    }

    #[test]
    fn cancelled_timers_never_fire_and_leave_nothing_behind() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let ids: Vec<_> = (0..100)
            .map(|i| timers.insert(t0 + Duration::from_millis(i), noop()))
            .collect();
        for id in ids.iter().step_by(2) {
            assert!(timers.remove(*id).is_some());
        }
        assert_eq!(timers.pending(), 50);
        let mut out = Vec::new();
        assert_eq!(timers.fire(t0 + Duration::from_secs(1), &mut out), 50);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(timers.has_fired(*id), i % 2 == 1, "timer {i}");
        }
        // Entries are reused, and an old handle does not touch the new timer.
        let new = timers.insert(t0, noop());
        assert!(!timers.has_fired(ids[0]));
        assert!(timers.remove(ids[0]).is_none());
        assert_eq!(timers.pending(), 1);
        assert!(timers.remove(new).is_some());
    }

    #[test]
    fn reset_moves_a_timer_and_rearms_a_fired_one() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let a = timers.insert(t0 + Duration::from_millis(10), noop());
        let b = timers.insert(t0 + Duration::from_millis(20), noop());
        assert!(timers.reset(b, t0 + Duration::from_millis(1)));
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(1)));
        let mut out = Vec::new();
        timers.fire(t0 + Duration::from_millis(5), &mut out);
        assert!(timers.has_fired(b) && !timers.has_fired(a));
        assert!(timers.reset(b, t0 + Duration::from_millis(30)));
        assert!(!timers.has_fired(b), "re-armed");
        assert_eq!(timers.fire(t0 + Duration::from_millis(40), &mut out), 2);
    }

    #[test]
    fn the_heap_matches_a_sorted_model_under_random_operations() {
        // A fixed-seed xorshift drives inserts, removes and fires against a Vec model.
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut model: Vec<(u64, TimerId)> = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for _ in 0..20_000 {
            match next() % 4 {
                0 | 1 => {
                    let at = now + next() % 1000;
                    let id = timers.insert(t0 + Duration::from_micros(at), noop());
                    model.push((at, id));
                }
                2 if !model.is_empty() => {
                    let i = (next() as usize) % model.len();
                    let (_, id) = model.swap_remove(i);
                    assert!(timers.remove(id).is_some());
                }
                _ => {
                    now += next() % 300;
                    let mut out = Vec::new();
                    let fired = timers.fire(t0 + Duration::from_micros(now), &mut out);
                    let due = model.iter().filter(|(at, _)| *at <= now).count();
                    assert_eq!(fired, due);
                    model.retain(|(at, id)| {
                        let done = *at <= now;
                        assert_eq!(timers.has_fired(*id), done);
                        if done {
                            timers.remove(*id);
                        }
                        !done
                    });
                }
            }
            assert_eq!(timers.pending(), model.len());
            let earliest = model.iter().map(|(at, _)| *at).min();
            assert_eq!(
                timers.next_deadline(),
                earliest.map(|at| t0 + Duration::from_micros(at))
            );
        }
    }
}
