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
//! reach freed memory through an old waker. The inbox takes only the wakes of the incarnation
//! that owns it, so a wake of a reactor that is gone costs nothing: no memory, no wake of the
//! index's next reactor. (Incarnations have 10 bits: a waker kept across 1024 reuses of its
//! index would match again, and cost one spurious look, never a wrong task: the slot's
//! generation must match too.)

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
    // From now on the inbox takes this incarnation's wakes, and only those.
    registration.entry.remote.open(id.incarnation);
    Ok((id, registration.entry))
}

/// Gives a reactor's index back for reuse; its inbox refuses its wakes from now on.
pub(crate) fn unregister(id: ReactorId) {
    // Closed before the index is given back, so the close cannot hit the next reactor's.
    if let Some(entry) = REGISTRY.get(id.index) {
        entry.remote.close();
    }
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
        // Refused if the key's reactor is gone (a stale incarnation): a stale wake stores
        // nothing and wakes nobody.
        entry.remote.push(id.incarnation, key.0);
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

    /// These tests need the registry's indices to themselves (no other unit test makes a
    /// reactor): one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The waker of `reactor`'s `block_on` future.
    fn waker_of(reactor: &crate::Reactor) -> Waker {
        reactor.block_on(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(cx.waker().clone())
        }))
    }

    /// Wakes of a reactor that is gone used to pile up in its inbox (4 million of them: 31 MiB)
    /// until the next reactor at its index came, and that one kept the memory.
    #[test]
    fn wakes_of_a_dropped_reactor_leave_nothing_behind() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let reactor = crate::Reactor::new().unwrap();
        let stale = waker_of(&reactor);
        let index = key_of(stale.data()).reactor().index;
        std::mem::drop(reactor);
        for _ in 0..100_000 {
            stale.wake_by_ref();
        }
        let entry = REGISTRY.get(index).expect("the index was used");
        assert_eq!(
            entry.remote.held(),
            (0, 0),
            "(keys, capacity) held for nobody"
        );
        assert!(!entry.remote.has_pending(), "nothing announced to nobody");
    }

    /// Once a new reactor has the index, stale wakes (each from another thread, as the new
    /// reactor sleeps) used to ring its doorbell and make it run a turn for nothing.
    #[test]
    fn stale_wakes_do_not_wake_the_next_reactor_at_the_index() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};

        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let old = crate::Reactor::new().unwrap();
        let stale = waker_of(&old);
        std::mem::drop(old);
        let reactor = crate::Reactor::new().unwrap();
        let current: Arc<Mutex<Option<Waker>>> = Arc::default();
        let done = Arc::new(AtomicBool::new(false));
        let waker = {
            let (current, done) = (Arc::clone(&current), Arc::clone(&done));
            std::thread::spawn(move || {
                // Once the reactor has polled (and is about to sleep): stale wakes, then one
                // real wake that ends its `block_on`.
                let real = loop {
                    if let Some(w) = current.lock().unwrap().clone() {
                        break w;
                    }
                    std::thread::yield_now();
                };
                for _ in 0..100_000 {
                    stale.wake_by_ref();
                }
                done.store(true, Ordering::Release);
                real.wake();
                stale
            })
        };
        reactor.block_on(std::future::poll_fn(|cx| {
            *current.lock().unwrap() = Some(cx.waker().clone());
            if done.load(Ordering::Acquire) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }));
        let stale = waker.join().unwrap();
        let (old_id, new_id) = (
            key_of(stale.data()).reactor(),
            key_of(current.lock().unwrap().as_ref().unwrap().data()).reactor(),
        );
        assert_eq!(
            old_id.index, new_id.index,
            "the new reactor reuses the index"
        );
        assert_ne!(old_id.incarnation, new_id.incarnation);
        // It sleeps once, until the real wake (twice at most, if its pool's release period
        // ends meanwhile); every stale wake that reached it would have woken it again.
        let stats = reactor.stats();
        assert!(stats.sleeps <= 2, "woken by stale wakes: {stats:?}");
        assert_eq!(stats.remote_wakes, 1, "the real wake only: {stats:?}");
    }
}
