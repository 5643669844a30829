//! Cancelling a request whose caller has gone: dropping a [`submit_to`](crate::submit_to)
//! future before its reply came back marks the request, and the target, which looks at the
//! mark before it starts the work, drops it instead.
//!
//! # Slots
//!
//! A mark is a slot (an `AtomicU64` in a process-wide table that only grows) and a
//! generation. The caller takes a free slot (its thread's free list, FIFO) with the slot's
//! next generation; the request carries both (8 bytes); a caller that gives up stores the
//! generation into the slot; the target cancels the request if the slot holds its
//! generation. Only the [`Ticket`] of a request stores its generation, and each use of a slot
//! has a new one, so a request is never cancelled by another's ticket, however late a store
//! or a load comes: a stale store holds an older generation. A caller that gives up as the
//! target starts may race it, and the work then runs anyway (cancellation is best-effort).
//!
//! The caller never writes a slot unless it cancels, so the table's lines stay shared between
//! the cores on the common path: the target's look is a load that hits its cache.
//!
//! Slots are given back to the thread's free list when the ticket is done (reply received, or
//! cancelled), to the end of it, so a slot is reused only after every other free slot; a
//! thread that exits gives its list to a process-wide spare list. Generations are `u32` and
//! skip zero (a slot's initial value): a mark could only be mistaken after 2^32 uses of one
//! slot while its request waits.
//!
//! The orderings are Relaxed: the mark carries no data, only the fact of the store, and the
//! table's chunks are published (Release) before any mark into them exists, which reaches the
//! target inside its request (the lane's Release/Acquire).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Slots per chunk of the table.
const CHUNK: usize = 1024;
/// Chunks of the table at most (4M slots: requests in flight from all threads at once).
const CHUNKS: usize = 4096;

type Chunk = [AtomicU64; CHUNK];

/// The table: chunks allocated on demand, never freed (reused through the free lists).
static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];
/// Chunks allocated so far.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
/// Slots (and their next generation) given back by threads that exited.
static SPARE: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

/// A thread's free slots, with their next generation; given to `SPARE` when the thread exits.
struct FreeList(VecDeque<(u32, u32)>);

impl Drop for FreeList {
    fn drop(&mut self) {
        SPARE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(self.0.drain(..));
    }
}

thread_local! {
    static FREE: RefCell<FreeList> = const { RefCell::new(FreeList(VecDeque::new())) };
}

/// The slot of index `index`, whose chunk exists (a mark or ticket names it).
fn slot(index: u32) -> &'static AtomicU64 {
    let index = index as usize;
    // Acquire: pairs with the Release store that published the chunk.
    let chunk = TABLE[index / CHUNK].load(Ordering::Acquire);
    // SAFETY: a mark or ticket exists only for a slot of a published chunk (`refill`), and
    // chunks are never freed, so the pointer is valid for 'static; the slots are atomics.
    unsafe { &(*chunk)[index % CHUNK] }
}

/// Fills `free` from the spare list or with a new chunk; returns whether it has a slot now.
fn refill(free: &mut VecDeque<(u32, u32)>) -> bool {
    {
        let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
        let take = spare.len().min(CHUNK);
        let from = spare.len() - take;
        free.extend(spare.drain(from..));
    }
    if !free.is_empty() {
        return true;
    }
    let chunk = ALLOCATED.fetch_add(1, Ordering::Relaxed);
    if chunk >= CHUNKS {
        return false;
    }
    let new: Box<Chunk> = Box::new([const { AtomicU64::new(0) }; CHUNK]);
    TABLE[chunk].store(Box::into_raw(new), Ordering::Release);
    let first = (chunk * CHUNK) as u32;
    free.extend((first..first + CHUNK as u32).map(|index| (index, 1)));
    true
}

/// What a request carries to its target: whether its caller gave up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// `u32::MAX`: no slot (the table was full); never cancelled.
    index: u32,
    generation: u32,
}

// A request's captures stay within a lane slot's inline storage.
const _: () = assert!(size_of::<Mark>() == 8);

impl Mark {
    const NONE: Mark = Mark {
        index: u32::MAX,
        generation: 0,
    };

    /// Whether the caller has dropped the request's future (on the target, before starting
    /// the work).
    pub(crate) fn is_cancelled(self) -> bool {
        self.index != u32::MAX
            && slot(self.index).load(Ordering::Relaxed) == u64::from(self.generation)
    }
}

/// The caller's side of a mark: cancels the request when dropped, unless [`done`] first.
///
/// [`done`]: Ticket::done
#[derive(Debug)]
pub(crate) struct Ticket {
    mark: Mark,
}

impl Ticket {
    /// A fresh mark from this thread's free list.
    pub(crate) fn new() -> Ticket {
        let next = FREE
            .try_with(|free| {
                let free = &mut free.borrow_mut().0;
                if free.is_empty() && !refill(free) {
                    return None;
                }
                free.pop_front()
            })
            .ok()
            .flatten();
        let mark = next.map_or(Mark::NONE, |(index, generation)| Mark { index, generation });
        Ticket { mark }
    }

    /// The mark to send with the request.
    pub(crate) fn mark(&self) -> Mark {
        self.mark
    }

    /// The reply came back: nothing to cancel.
    pub(crate) fn done(mut self) {
        self.give_back();
    }

    /// Gives the slot back to this thread's free list (to its end), with its next generation.
    fn give_back(&mut self) {
        let mark = std::mem::replace(&mut self.mark, Mark::NONE);
        if mark.index == u32::MAX {
            return;
        }
        let next = mark.generation.checked_add(1).unwrap_or(1);
        // `try_with`: at thread exit the slot is lost, which costs 8 bytes.
        let _ = FREE.try_with(|free| free.borrow_mut().0.push_back((mark.index, next)));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.mark.index == u32::MAX {
            return;
        }
        slot(self.mark.index).store(u64::from(self.mark.generation), Ordering::Relaxed);
        self.give_back();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_a_dropped_ticket_cancels_its_own_request() {
        let first = Ticket::new();
        let mark = first.mark();
        assert!(!mark.is_cancelled());
        drop(first);
        assert!(mark.is_cancelled());
        // The slot is reused later, with a new generation: the new request is not cancelled,
        // and the old mark still is (its store stays until the next cancel of the slot).
        let tickets: Vec<Ticket> = (0..CHUNK * 2).map(|_| Ticket::new()).collect();
        let reused = tickets
            .iter()
            .find(|t| t.mark().index == mark.index)
            .expect("the slot came round again");
        assert_ne!(reused.mark().generation, mark.generation);
        assert!(!reused.mark().is_cancelled());
        for ticket in tickets {
            ticket.done();
        }
        assert!(mark.is_cancelled(), "done() stores nothing");
    }
}
