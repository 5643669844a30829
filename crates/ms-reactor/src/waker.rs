//! Wakers: `Send + Sync` handles that name a task by a packed 64-bit key and carry no count.
//!
//! # Why no count
//!
//! `std::task::Waker` may be cloned, dropped and woken on any thread, so a waker that shared
//! ownership of a task would need an atomic count, paid on every clone in the hot path. Ours
//! owns nothing: its data word *is* the task's key, so clone and drop are free and cannot race.
//! A wake looks the task up by key; a stale key (the task finished, or its slot was reused:
//! the generation differs) is ignored.
//!
//! # Key layout (64 bits; 64-bit targets only)
//!
//! | bits   | field                                                      |
//! |--------|------------------------------------------------------------|
//! | 0..24  | task slot in its reactor's table                           |
//! | 24..44 | the slot's generation, bumped each time the slot is reused |
//! | 44..54 | the reactor's index in the global registry                 |
//! | 54..64 | the reactor's incarnation: bumped each time an index is reused |
//!
//! # Where a wake goes
//!
//! On the reactor's own thread while it runs, straight into its run queue (no atomics). From
//! anywhere else, through the registry to the reactor's [`Remote`](crate::remote::Remote)
//! inbox, which rings its eventfd only if it sleeps. Registry entries are never freed (an
//! index is reused by a later reactor, with a new incarnation), so a foreign thread can never
//! reach freed memory through an old waker.

use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::registry::Registry;
use crate::remote::Remote;
use crate::sys::EventFd;

const _: () = assert!(
    usize::BITS == 64,
    "ms-reactor packs task keys into a waker's data pointer"
);

const SLOT_BITS: u32 = 24;
const GEN_BITS: u32 = 20;
const INDEX_BITS: u32 = 10;
const INCARNATION_BITS: u32 = 10;

/// The most reactors alive at once in a process.
pub(crate) const MAX_REACTORS: usize = 1 << INDEX_BITS;
/// The most tasks alive at once on one reactor.
pub(crate) const MAX_TASKS: usize = 1 << SLOT_BITS;

/// A task's name: which reactor, which slot, which use of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(crate) u64);

impl Key {
    pub(crate) fn new(reactor: ReactorId, slot: usize, generation: u32) -> Self {
        debug_assert!(slot < MAX_TASKS);
        let generation = u64::from(generation) & ((1 << GEN_BITS) - 1);
        Self(
            slot as u64
                | generation << SLOT_BITS
                | u64::from(reactor.index) << (SLOT_BITS + GEN_BITS)
                | u64::from(reactor.incarnation) << (SLOT_BITS + GEN_BITS + INDEX_BITS),
        )
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 & ((1 << SLOT_BITS) - 1)) as usize
    }

    /// The generation bits (the slot's generation, truncated to its field).
    pub(crate) fn generation(self) -> u32 {
        ((self.0 >> SLOT_BITS) & ((1 << GEN_BITS) - 1)) as u32
    }

    pub(crate) fn reactor(self) -> ReactorId {
        ReactorId {
            index: ((self.0 >> (SLOT_BITS + GEN_BITS)) & ((1 << INDEX_BITS) - 1)) as u16,
            incarnation: (self.0 >> (SLOT_BITS + GEN_BITS + INDEX_BITS)) as u16,
        }
    }

    /// Whether `generation` (a slot's full counter) matches this key's bits.
    pub(crate) fn matches(self, generation: u32) -> bool {
        self.generation() == generation & ((1 << GEN_BITS) - 1)
    }
}

/// A reactor's place in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ReactorId {
    pub(crate) index: u16,
    pub(crate) incarnation: u16,
}

/// What the registry keeps per index: the inbox of the reactor using it. Reused by the
/// index's next reactor, never freed.
pub(crate) struct Entry {
    pub(crate) remote: Remote<EventFd>,
}

#[cfg(not(loom))]
static REGISTRY: Registry<Entry, MAX_REACTORS> = Registry::new();

#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTRY: Registry<Entry, MAX_REACTORS> = Registry::new();
}

/// Takes a registry index for a new reactor whose doorbell is `doorbell`.
///
/// # Errors
///
/// When `MAX_REACTORS` reactors are alive at once, or `doorbell` fails.
pub(crate) fn register(
    doorbell: impl FnOnce() -> std::io::Result<EventFd>,
) -> std::io::Result<(ReactorId, &'static Entry)> {
    let registration = REGISTRY.register(|| {
        Ok(Entry {
            remote: Remote::new(doorbell()?),
        })
    })?;
    let id = ReactorId {
        index: registration.index,
        incarnation: registration.incarnation & ((1 << INCARNATION_BITS) - 1),
    };
    Ok((id, registration.entry))
}

/// Gives a reactor's index back for reuse.
pub(crate) fn unregister(id: ReactorId) {
    REGISTRY.unregister(id.index);
}

/// Makes the waker of task `key`.
pub(crate) fn waker(key: Key) -> Waker {
    // SAFETY: the vtable's functions treat the data word as a plain integer key and never
    // dereference it, so any value is fine and the waker is trivially Send + Sync.
    unsafe { Waker::from_raw(raw(key)) }
}

fn raw(key: Key) -> RawWaker {
    RawWaker::new(std::ptr::without_provenance(key.0 as usize), &VTABLE)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

fn key_of(data: *const ()) -> Key {
    Key(data.addr() as u64)
}

unsafe fn clone(data: *const ()) -> RawWaker {
    raw(key_of(data))
}

unsafe fn wake(data: *const ()) {
    wake_key(key_of(data));
}

unsafe fn drop(_: *const ()) {}

/// Schedules task `key`: locally if its reactor runs on this thread, else through its inbox.
pub(crate) fn wake_key(key: Key) {
    if crate::core::wake_local(key) {
        return;
    }
    let id = key.reactor();
    if let Some(entry) = REGISTRY.get(id.index) {
        // A stale incarnation is filtered by the reactor when it drains; pushing it is harmless.
        entry.remote.push(key.0);
    }
}

impl crate::remote::Doorbell for EventFd {
    fn ring(&self) {
        // Failing to ring leaves no safe fallback; report it loudly rather than lose wakes
        // silently (an eventfd write fails only on a closed or invalid fd).
        if let Err(e) = self.notify() {
            eprintln!("ms-reactor: cannot ring a reactor's eventfd: {e}");
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_every_field() {
        let id = ReactorId {
            index: 1023,
            incarnation: 1023,
        };
        let key = Key::new(id, MAX_TASKS - 1, (1 << GEN_BITS) - 1);
        assert_eq!(key.slot(), MAX_TASKS - 1);
        assert_eq!(key.reactor(), id);
        assert!(key.matches((1 << GEN_BITS) - 1));
        assert!(
            key.matches((1 << GEN_BITS) - 1 + (1 << GEN_BITS)),
            "compared modulo its bits"
        );
        assert!(!key.matches(0));
        let small = Key::new(
            ReactorId {
                index: 3,
                incarnation: 5,
            },
            7,
            9,
        );
        assert_eq!((small.slot(), small.generation()), (7, 9));
        assert_eq!(
            small.reactor(),
            ReactorId {
                index: 3,
                incarnation: 5
            }
        );
    }

    #[test]
    fn wakers_are_plain_keys() {
        let key = Key::new(
            ReactorId {
                index: 2,
                incarnation: 1,
            },
            42,
            3,
        );
        let w = waker(key);
        let w2 = w.clone();
        assert!(w.will_wake(&w2));
        assert_eq!(key_of(w2.data()), key);
    }
}
