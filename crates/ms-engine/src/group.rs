//! [`ServiceGroup`]: a cap on the requests in flight from each shard to each other shard
//! (Seastar's `smp_service_group`), and the shard-local semaphores that enforce it.
//!
//! Each shard keeps, per group and per target, a semaphore of `max_in_flight` units. A
//! [`submit_to_with`](crate::submit_to_with) in the group takes a unit before it sends its
//! request (waiting, asynchronously and in turn, while none is free) and gives it back when
//! the reply is home (the unit travels home with the reply's promise, so it is released on
//! this shard however the request ends). Replies take no unit and never wait, so work that
//! submits more work in another group (or the same one) cannot deadlock the mesh: a request
//! waiting for a unit holds nothing another request needs to finish.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

/// A cap on the [`submit_to_with`](crate::submit_to_with) requests in flight from each shard
/// to each other shard. Requests in the group past the cap wait on their sender, asynchronously
/// and in order, for one in flight to be answered; so a flood of requests costs bounded memory
/// in the mesh ([`MeshStats::backlog`](crate::MeshStats::backlog) stays within the cap), and
/// a slow target slows its senders instead of letting them queue without end.
///
/// The handle is `Copy`, `Send` and `Sync`: make one anywhere (before the engine, or on a
/// shard) and use it on every shard. Each group has its own units; work on a target may
/// submit in any group without risk of deadlock (replies never wait for units).
///
/// # Examples
///
/// ```
/// use ms_engine::{ServiceGroup, SubmitOptions};
///
/// let group = ServiceGroup::new(64);
/// ms_engine::Engine::builder().shards(2).pin(false).run(move || async move {
///     if ms_engine::shard_id() == 0 {
///         let options = SubmitOptions::new().group(group);
///         let replies: Vec<_> = (0..1000)
///             .map(|i| ms_reactor::spawn(ms_engine::submit_to_with(1, options, move || async move { i })))
///             .collect();
///         let mut sum = 0;
///         for reply in replies {
///             sum += reply.await.unwrap().unwrap();
///         }
///         assert_eq!(sum, 999 * 1000 / 2);
///         assert!(ms_engine::mesh_stats().backlog_peak <= 64);
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceGroup {
    id: u64,
    max_in_flight: usize,
}

/// Numbers service groups; never reused.
static NEXT_GROUP: AtomicU64 = AtomicU64::new(1);

impl ServiceGroup {
    /// A group that lets each shard have at most `max_in_flight` requests in flight to each
    /// other shard (at least one).
    pub fn new(max_in_flight: usize) -> ServiceGroup {
        ServiceGroup {
            id: NEXT_GROUP.fetch_add(1, Ordering::Relaxed),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// The cap per pair of shards.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Takes a unit of this group for a request from this shard to `target`, waiting in turn
    /// while none is free.
    pub(crate) fn acquire(self, target: usize) -> Acquire {
        let semaphore = SEMAPHORES.with(|all| {
            Rc::clone(
                all.borrow_mut()
                    .entry((self.id, target))
                    .or_insert_with(|| Semaphore::new(self.max_in_flight)),
            )
        });
        Acquire {
            semaphore,
            waiter: None,
        }
    }
}

thread_local! {
    /// This shard's semaphores, by group and target.
    static SEMAPHORES: RefCell<HashMap<(u64, usize), Rc<Semaphore>>> = RefCell::new(HashMap::new());
}

/// Units of one group from this shard to one target, and the requests waiting for one.
#[derive(Debug)]
struct Semaphore {
    available: Cell<usize>,
    waiting: RefCell<VecDeque<Rc<Waiter>>>,
}

/// A request waiting for a unit.
#[derive(Debug, Default)]
struct Waiter {
    /// A unit was handed to it.
    granted: Cell<bool>,
    /// It gave up (its future was dropped): skipped when a unit is handed on.
    gone: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Semaphore {
    fn new(units: usize) -> Rc<Self> {
        Rc::new(Self {
            available: Cell::new(units),
            waiting: RefCell::new(VecDeque::new()),
        })
    }

    /// A unit comes back: to the first waiter still there, or to the pool.
    fn release(&self) {
        loop {
            let next = self.waiting.borrow_mut().pop_front();
            match next {
                Some(waiter) if waiter.gone.get() => continue,
                Some(waiter) => {
                    waiter.granted.set(true);
                    let waker = waiter.waker.borrow_mut().take();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    return;
                }
                None => {
                    self.available.set(self.available.get() + 1);
                    return;
                }
            }
        }
    }
}

/// A unit of a group, held on the sending shard until the reply is home.
#[derive(Debug)]
pub(crate) struct Permit {
    semaphore: Rc<Semaphore>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

/// The future of [`ServiceGroup::acquire`].
#[derive(Debug)]
pub(crate) struct Acquire {
    semaphore: Rc<Semaphore>,
    waiter: Option<Rc<Waiter>>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        match &this.waiter {
            None => {
                let free = this.semaphore.available.get();
                // In turn: a unit is taken at once only if nobody waits.
                if free > 0 && this.semaphore.waiting.borrow().is_empty() {
                    this.semaphore.available.set(free - 1);
                    return Poll::Ready(Permit {
                        semaphore: Rc::clone(&this.semaphore),
                    });
                }
                let waiter = Rc::new(Waiter::default());
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                this.semaphore
                    .waiting
                    .borrow_mut()
                    .push_back(Rc::clone(&waiter));
                this.waiter = Some(waiter);
                Poll::Pending
            }
            Some(waiter) if waiter.granted.get() => {
                this.waiter = None;
                Poll::Ready(Permit {
                    semaphore: Rc::clone(&this.semaphore),
                })
            }
            Some(waiter) => {
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if waiter.granted.get() {
                // Handed a unit it will not use: on to the next.
                self.semaphore.release();
            } else {
                waiter.gone.set(true);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn poll(acquire: &mut Acquire) -> Poll<Permit> {
        Pin::new(acquire).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn units_are_handed_out_in_turn_and_come_back() {
        let group = ServiceGroup::new(1);
        let mut first = group.acquire(1);
        let Poll::Ready(unit) = poll(&mut first) else {
            panic!("a free unit is taken at once");
        };
        let (mut second, mut third) = (group.acquire(1), group.acquire(1));
        assert!(poll(&mut second).is_pending());
        assert!(poll(&mut third).is_pending());
        // Another target has units of its own.
        assert!(poll(&mut group.acquire(2)).is_ready());
        drop(unit);
        assert!(poll(&mut third).is_pending(), "the second came first");
        let Poll::Ready(unit) = poll(&mut second) else {
            panic!("the unit went to the second");
        };
        drop(second);
        drop(unit);
        assert!(poll(&mut third).is_ready());
    }

    #[test]
    fn a_waiter_that_gives_up_passes_its_unit_on() {
        let group = ServiceGroup::new(1);
        let Poll::Ready(unit) = poll(&mut group.acquire(1)) else {
            panic!("free");
        };
        let (mut gone, mut next) = (group.acquire(1), group.acquire(1));
        assert!(poll(&mut gone).is_pending());
        assert!(poll(&mut next).is_pending());
        drop(gone); // before it was granted: skipped
        drop(unit);
        let Poll::Ready(unit) = poll(&mut next) else {
            panic!("the unit skipped the waiter that left");
        };
        let mut last = group.acquire(1);
        assert!(poll(&mut last).is_pending());
        let mut granted_then_dropped = group.acquire(1);
        assert!(poll(&mut granted_then_dropped).is_pending());
        drop(unit); // granted to `last`
        drop(last); // which leaves without taking it: on to the next
        assert!(poll(&mut granted_then_dropped).is_ready());
    }
}
