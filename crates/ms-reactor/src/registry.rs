//! [`Registry`]: the process-wide table through which a waker woken on any thread finds its
//! reactor's inbox.
//!
//! # Protocol
//!
//! - An index is handed out under the `free` lock, with a new *incarnation* each time, so keys of
//!   a reactor that is gone never match its successor at the same index.
//! - The first user of an index creates its entry, leaks it (it is never freed while the
//!   registry lives) and publishes it with a Release store of the slot's pointer. Later users of
//!   the index reuse the entry.
//! - Any thread looks an entry up with an Acquire load: it sees null (the index was never used:
//!   the wake is for nobody) or a pointer to an entry whose construction happened before, so
//!   every field it reads is initialised.
//!
//! Entries are never freed while the registry lives, so a waker kept on a foreign thread can
//! never reach freed memory. The loom models at the bottom check publication and reuse.

use std::io;
use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicPtr, Mutex, Ordering};

/// Indices free for reuse, the next never-used one, and each used index's incarnation.
#[derive(Default)]
struct Free {
    released: Vec<u16>,
    next: u16,
    incarnations: Vec<u16>,
}

/// A table of up to `N` entries; see the module docs.
pub(crate) struct Registry<E, const N: usize> {
    slots: [AtomicPtr<E>; N],
    free: Mutex<Free>,
    /// Owns the entries: `Send`/`Sync` only when sharing and dropping them across threads is
    /// (raw atomic pointers alone would claim it for any `E`).
    _owns: PhantomData<Box<E>>,
}

/// What [`Registry::register`] hands out.
#[derive(Debug)]
pub(crate) struct Registration<'a, E> {
    pub(crate) index: u16,
    /// Bumped each time the index is handed out (wrapping).
    pub(crate) incarnation: u16,
    pub(crate) entry: &'a E,
}

impl<E, const N: usize> Registry<E, N> {
    /// An empty registry.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        const { assert!(N <= u16::MAX as usize) };
        Self {
            slots: [const { AtomicPtr::new(ptr::null_mut()) }; N],
            free: Mutex::new(Free {
                released: Vec::new(),
                next: 0,
                incarnations: Vec::new(),
            }),
            _owns: PhantomData,
        }
    }

    /// An empty registry (loom's atomics cannot be made in a `const fn`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            free: Mutex::new(Free::default()),
            _owns: PhantomData,
        }
    }

    /// Takes a free index; `make` creates its entry if the index was never used.
    ///
    /// # Errors
    ///
    /// When `N` indices are taken, or `make` fails (the index is then free again).
    pub(crate) fn register(
        &self,
        make: impl FnOnce() -> io::Result<E>,
    ) -> io::Result<Registration<'_, E>> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let index = match free.released.pop() {
            Some(index) => index,
            None if usize::from(free.next) < N => {
                free.next += 1;
                free.incarnations.push(0);
                free.next - 1
            }
            None => {
                return Err(io::Error::other(format!(
                    "more than {N} reactors alive at once"
                )));
            }
        };
        let slot = &self.slots[usize::from(index)];
        // Relaxed: only this function stores, under the lock we hold.
        let mut entry = slot.load(Ordering::Relaxed);
        if entry.is_null() {
            match make() {
                Ok(made) => entry = Box::into_raw(Box::new(made)),
                Err(e) => {
                    // Out of fds, say: give the index back so failures cannot use them all up.
                    free.released.push(index);
                    return Err(e);
                }
            }
            // Release: publishes the entry's construction to `get` (Acquire).
            slot.store(entry, Ordering::Release);
        }
        let incarnation = &mut free.incarnations[usize::from(index)];
        *incarnation = incarnation.wrapping_add(1);
        Ok(Registration {
            index,
            incarnation: *incarnation,
            // SAFETY: entries are freed only when the registry is dropped, which the borrow of
            // `self` outlives.
            entry: unsafe { &*entry },
        })
    }

    /// Gives `index` back for reuse; its entry stays.
    pub(crate) fn unregister(&self, index: u16) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        debug_assert!(!free.released.contains(&index), "index given back twice");
        free.released.push(index);
    }

    /// The entry of `index`, if it was ever used.
    pub(crate) fn get(&self, index: u16) -> Option<&E> {
        let ptr = self.slots.get(usize::from(index))?.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was published (Release) after its entry was built, and
        // entries live as long as the registry.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }
}

impl<E, const N: usize> Drop for Registry<E, N> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let ptr = slot.load(Ordering::Acquire);
            if !ptr.is_null() {
                // SAFETY: made by `Box::into_raw` in `register`; `&mut self` proves nothing
                // borrows it any more.
                drop(unsafe { Box::from_raw(ptr) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn indices_are_reused_with_a_new_incarnation_and_the_same_entry() {
        let registry: Registry<String, 2> = Registry::new();
        let mut made = 0;
        let mut make = || {
            made += 1;
            Ok(format!("entry {made}"))
        };
        let a = registry.register(&mut make).unwrap();
        let b = registry.register(&mut make).unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        let full = registry.register(&mut make).unwrap_err();
        assert!(full.to_string().contains("more than 2"), "{full}");
        let first_entry: *const String = a.entry;
        let (a_index, a_incarnation) = (a.index, a.incarnation);
        registry.unregister(a_index);
        let again = registry.register(&mut make).unwrap();
        assert_eq!(again.index, a_index);
        assert_eq!(again.incarnation, a_incarnation.wrapping_add(1));
        assert!(ptr::eq(again.entry, first_entry), "the entry is reused");
        assert_eq!(made, 2);
        assert_eq!(registry.get(1).map(String::as_str), Some("entry 2"));
        assert_eq!(registry.get(5), None);
    }

    #[test]
    fn a_failed_make_gives_the_index_back() {
        let registry: Registry<u8, 1> = Registry::new();
        assert!(
            registry
                .register(|| Err(io::Error::other("no fds")))
                .is_err()
        );
        assert_eq!(registry.get(0), None);
        let ok = registry.register(|| Ok(3)).unwrap();
        assert_eq!((ok.index, *ok.entry), (0, 3));
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! A reactor registering (and publishing its entry) races with foreign wakers looking the
    //! index up. loom's `UnsafeCell` reports a read of the entry that does not happen after its
    //! construction; weakening the Release store or the Acquire load fails these models.

    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;

    /// An entry whose construction loom tracks.
    struct Probe(UnsafeCell<u32>);

    // SAFETY: the cell is written only at construction and read afterwards, as registry
    // entries are; the models check exactly that those reads happen after the construction.
    unsafe impl Sync for Probe {}

    fn probe(value: u32) -> io::Result<Probe> {
        Ok(Probe(UnsafeCell::new(value)))
    }

    fn read(entry: &Probe) -> u32 {
        entry.0.with(|v| {
            // SAFETY: nothing writes the cell after construction.
            unsafe { *v }
        })
    }

    #[test]
    fn a_looked_up_entry_is_fully_built() {
        loom::model(|| {
            let registry: Arc<Registry<Probe, 2>> = Arc::new(Registry::new());
            let waker = {
                let registry = Arc::clone(&registry);
                thread::spawn(move || registry.get(0).map(read))
            };
            let own = registry.register(|| probe(42)).unwrap();
            assert_eq!((own.index, read(own.entry)), (0, 42));
            let seen = waker.join().unwrap();
            assert!(matches!(seen, None | Some(42)), "{seen:?}");
        });
    }

    #[test]
    fn racing_registrations_never_share_an_incarnation_and_reuse_entries() {
        loom::model(|| {
            let registry: Arc<Registry<Probe, 2>> = Arc::new(Registry::new());
            // The other thread registers and gives its index back, racing with this one, which
            // may then reuse it (no join orders them: only the lock).
            let other = {
                let registry = Arc::clone(&registry);
                thread::spawn(move || {
                    let r = registry.register(|| probe(1)).unwrap();
                    let seen = (r.index, r.incarnation, read(r.entry));
                    registry.unregister(r.index);
                    seen
                })
            };
            let mine = registry.register(|| probe(2)).unwrap();
            let (index, incarnation, value) = (mine.index, mine.incarnation, read(mine.entry));
            // A foreign waker's lookup of the other index, racing with its registration.
            if let Some(entry) = registry.get(1 - index) {
                assert_eq!(read(entry), 1);
            }
            let (their_index, their_incarnation, their_value) = other.join().unwrap();
            if index == their_index {
                // One came after the other gave the index back: a new incarnation, and the
                // entry the first one built.
                assert_ne!(incarnation, their_incarnation);
                assert_eq!(value, their_value);
            } else {
                assert_eq!((value, their_value), (2, 1));
            }
        });
    }
}
