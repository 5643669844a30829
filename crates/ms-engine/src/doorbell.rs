//! [`Doorbell`]: how a shard wakes another shard's mesh poller, with no lock while the poller
//! is busy.
//!
//! # Protocol
//!
//! Fields (one doorbell per shard, cache-padded apart):
//! - `parked`: set by the poller just before it waits for messages; cleared by the one sender
//!   that wakes it, or by the poller itself when it runs again or finds work after all.
//! - `waker`: the poller task's waker, under a lock. The poller stores it only when it changes
//!   (in practice once); a sender takes the lock only after it saw `parked`: the slow path.
//!
//! Sender (`ring_all`, after pushing its messages into the lanes): `fence(SeqCst)`; then for
//! each target it pushed to: if `parked`, compare-exchange it to false and, if this sender
//! cleared it, wake the stored waker. One fence covers a whole batch of pushes to any number of targets.
//!
//! Poller (`park`): swap `parked` to true (Release, after publishing the waker); `fence(SeqCst)`;
//! then the caller looks at its lanes once more and, if anything came, [`unpark`]s and runs it
//! instead of waiting.
//!
//! The fences make this Dekker's handshake: of "sender pushes (stores a slot's stamp), then
//! loads `parked`" and "poller stores `parked`, then loads the lanes' next stamps", at least one
//! load sees the other side's store. So either the poller sees the message and runs it, or the
//! sender sees the poller parked and wakes it: a message sent as the poller parks is never
//! stranded. (loom models `fence(SeqCst)` but not SeqCst loads and stores, hence explicit
//! fences.) The loom models at the bottom of this file check it with real ms-spsc lanes.
//!
//! [`unpark`]: Doorbell::unpark

use std::fmt;
use std::task::Waker;

use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, fence};

/// One shard's doorbell; see the module docs.
pub(crate) struct Doorbell {
    parked: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    pub(crate) fn new() -> Self {
        Self {
            parked: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    /// Poller: makes `waker` the one senders wake. Call it before [`park`](Self::park) whenever
    /// the task's waker changed.
    pub(crate) fn publish(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(waker);
    }

    /// Poller, as it goes for good: forgets the waker, so that no sender wakes a reactor that
    /// has ended.
    pub(crate) fn retire(&self) {
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(waker); // outside the lock
    }

    /// Poller: announces that it is about to wait. The caller must then look at its lanes once
    /// more, and [`unpark`](Self::unpark) if anything is there.
    pub(crate) fn park(&self) {
        // Release: a sender whose compare-exchange reads this also sees the published waker
        // (the lock orders it as well; this keeps the pairing explicit). A swap rather than a
        // plain store: a read-modify-write follows every earlier write of `parked` in loom's
        // model too (loom orders a plain store only partially against other threads'
        // read-modify-writes, and would report lost wake-ups that cannot happen). Parking is
        // the idle path, so the locked instruction costs nothing that matters.
        self.parked.swap(true, Ordering::Release);
        // Pairs with the fence in `ring_all` (Dekker: see the module docs).
        fence(Ordering::SeqCst);
    }

    /// Poller: it runs (again); senders need not wake it.
    pub(crate) fn unpark(&self) {
        if self.parked.load(Ordering::Relaxed) {
            self.parked.store(false, Ordering::Relaxed);
        }
    }

    /// Sender, after the fence of [`ring_all`]: wakes the poller if it is parked and no other
    /// sender has woken it since. Returns whether this call woke it.
    fn wake_if_parked(&self) -> bool {
        // The plain load keeps the busy path (poller running) free of read-modify-writes; the
        // compare-exchange lets exactly one sender clear the flag, and writes nothing when
        // another already has. AcqRel: pairs with the Release swap in `park`.
        if !self.parked.load(Ordering::Relaxed)
            || self
                .parked
                .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(waker) = waker {
            waker.wake(); // outside the lock
        }
        true
    }
}

/// Sender: after pushing messages to the lanes of `targets`, wakes those whose poller is
/// parked. Returns how many it woke.
pub(crate) fn ring_all<'a>(targets: impl IntoIterator<Item = &'a Doorbell>) -> u64 {
    // Pairs with the fence in `Doorbell::park` (Dekker: see the module docs): every push made
    // before this point is visible to a poller that parks after it.
    fence(Ordering::SeqCst);
    targets
        .into_iter()
        .map(|doorbell| u64::from(doorbell.wake_if_parked()))
        .sum()
}

/// How many shards have departed (their incoming lanes are gone), for the pollers of the
/// others to notice with the doorbell's handshake.
///
/// A departing shard counts itself, then rings every other doorbell ([`ring_all`], whose
/// `fence(SeqCst)` follows the count); a poller compares the count with the last one it acted
/// on at each poll and again after it [`park`](Doorbell::park)s (whose fence precedes that
/// look). So either the departing shard sees the poller parked and wakes it, or the poller sees
/// the new count before it sleeps: a departure is never missed. The loom model
/// `a_departure_is_never_missed` below checks it.
pub(crate) struct Departures(AtomicU64);

impl Departures {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// The departing shard: counts itself, then rings `others`.
    pub(crate) fn announce<'a>(&self, others: impl IntoIterator<Item = &'a Doorbell>) {
        // Release: a poller that loads the new count (Acquire) then sees what the departing
        // shard did before (its lanes dropped, so they say abandoned).
        self.0.fetch_add(1, Ordering::Release);
        ring_all(others);
    }

    /// How many shards have departed so far.
    pub(crate) fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Departures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Departures").field(&self.count()).finish()
    }
}

impl fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doorbell")
            .field("parked", &self.parked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Every interleaving (up to `LOOM_MAX_PREEMPTIONS` preemptions, default 3) of senders
    //! pushing into real ms-spsc stamped lanes (the mesh's, built against loom) and ringing,
    //! against a poller that drains its lanes, parks, looks again, and waits until its waker is
    //! woken. A lost wake-up leaves the poller spinning in its wait forever, which loom reports
    //! as a model that never ends.

    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;
    use ms_spsc::stamped::{self, Consumer, Producer};

    /// A waker that counts its wakes (a read-modify-write, like the reactor's real foreign
    /// wake; loom orders a plain store against the poller's swaps only partially).
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::Release);
        }
    }

    /// The poller's loop: drain every lane; when `want` messages came, stop; otherwise park,
    /// look again, and "wait" until woken.
    fn run_poller(doorbell: &Doorbell, lanes: &mut [Consumer<u32>], want: usize) -> Vec<u32> {
        let wakes = std::sync::Arc::new(Wakes(AtomicUsize::new(0)));
        doorbell.publish(Waker::from(std::sync::Arc::clone(&wakes)));
        let mut got = Vec::new();
        loop {
            doorbell.unpark();
            for lane in lanes.iter_mut() {
                while let Ok(message) = lane.try_pop() {
                    got.push(message);
                }
            }
            if got.len() >= want {
                return got;
            }
            doorbell.park();
            if lanes.iter().any(|lane| !lane.is_empty()) {
                continue;
            }
            while wakes.0.swap(0, Ordering::Acquire) == 0 {
                thread::yield_now();
            }
        }
    }

    /// Runs `f` under loom with at most `LOOM_MAX_PREEMPTIONS` preemptions, 3 when it is unset:
    /// the search without a bound does not end in useful time (3 takes seconds, 4 minutes).
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound.get_or_insert(3);
        builder.check(f);
    }

    /// A sender: pushes `messages` into its lane, then rings once for the batch.
    fn send(doorbell: &Doorbell, lane: &mut Producer<u32>, messages: &[u32]) {
        for &message in messages {
            lane.try_push(message).expect("the model's lanes have room");
        }
        ring_all([doorbell]);
    }

    #[test]
    fn no_lost_wakeup_when_the_poller_parks() {
        model(|| {
            let doorbell = Arc::new(Doorbell::new());
            let (mut tx, rx) = stamped::channel(2);
            let sender = {
                let doorbell = Arc::clone(&doorbell);
                thread::spawn(move || send(&doorbell, &mut tx, &[7]))
            };
            assert_eq!(run_poller(&doorbell, &mut [rx], 1), [7]);
            sender.join().unwrap();
        });
    }

    #[test]
    fn one_ring_covers_a_batch_of_sends() {
        model(|| {
            let doorbell = Arc::new(Doorbell::new());
            let (mut tx, rx) = stamped::channel(2);
            let sender = {
                let doorbell = Arc::clone(&doorbell);
                thread::spawn(move || send(&doorbell, &mut tx, &[1, 2]))
            };
            assert_eq!(run_poller(&doorbell, &mut [rx], 2), [1, 2]);
            sender.join().unwrap();
        });
    }

    #[test]
    fn a_departure_is_never_missed() {
        // A shard departs (drops a lane, counts itself, rings) while the poller of another
        // looks for departures, parks, looks again and waits: it must wake and see the lane
        // abandoned.
        model(|| {
            let doorbell = Arc::new(Doorbell::new());
            let departures = Arc::new(Departures::new());
            let (tx, rx) = stamped::channel::<u32>(1);
            let departing = {
                let (doorbell, departures) = (Arc::clone(&doorbell), Arc::clone(&departures));
                thread::spawn(move || {
                    drop(rx);
                    departures.announce([&*doorbell]);
                })
            };
            let wakes = std::sync::Arc::new(Wakes(AtomicUsize::new(0)));
            doorbell.publish(Waker::from(std::sync::Arc::clone(&wakes)));
            loop {
                doorbell.unpark();
                if departures.count() != 0 {
                    break;
                }
                doorbell.park();
                if departures.count() != 0 {
                    break;
                }
                while wakes.0.swap(0, Ordering::Acquire) == 0 {
                    thread::yield_now();
                }
            }
            assert!(
                tx.is_abandoned(),
                "the departure is seen with its lane gone"
            );
            departing.join().unwrap();
        });
    }

    #[test]
    fn two_senders_are_never_stranded() {
        model(|| {
            let doorbell = Arc::new(Doorbell::new());
            let mut lanes = Vec::new();
            let senders: Vec<_> = [1, 2]
                .into_iter()
                .map(|message| {
                    let (mut tx, rx) = stamped::channel(1);
                    lanes.push(rx);
                    let doorbell = Arc::clone(&doorbell);
                    thread::spawn(move || send(&doorbell, &mut tx, &[message]))
                })
                .collect();
            let mut got = run_poller(&doorbell, &mut lanes, 2);
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
            for sender in senders {
                sender.join().unwrap();
            }
        });
    }
}
