//! The SMP mesh: two ms-spsc lanes per ordered pair of shards, one for requests and one for
//! replies, the only road between cores.
//!
//! The lanes are [stamped](ms_spsc::stamped): a job (56 bytes on 64-bit targets) shares its
//! slot's cache line with the stamp that says it is there, so a message crosses from core to
//! core as one line, and a polling shard waits on the lines the next message will land in. A
//! request sent while its lane is empty, and its reply, usually go through the lanes' mailboxes:
//! the same line each time, which crosses faster than a new slot.
//!
//! # Protocol
//!
//! A message is a job (a `Send` closure) that runs on the target shard. Its [`Class`] picks the
//! lane: a request (work sent with [`submit_to`](crate::submit_to) or
//! [`send_to`](crate::send_to), or a [`Foreign`](crate::Foreign) going home to be dropped) or
//! a reply (a `submit_to`'s result coming back). Replies have lanes and backlogs of their own,
//! and the poller runs them first, so a reply never waits behind requests: not in its
//! sender's backlog, not in a lane, not in its target's poll. Messages of one class from one
//! shard to another run in the order they were sent; a reply may overtake requests sent
//! before it. Only a shard with replies due looks at its reply lanes while it polls (a reply
//! carries its [`ReplyDue`], so no other shard can have one coming), which keeps a serving
//! shard's busy-poll spin as short as with one lane per pair.
//!
//! Each shard owns the producers of its outgoing lanes and, in its poller (an
//! [`ms_reactor::Poller`], which the reactor runs on every turn and every busy-poll spin), the
//! consumers of its incoming ones. Per-shard state lives in the thread-local `LOCAL`, touched
//! only in short borrows that never run user code.
//!
//! - **Send** (`send`): the first message into a lane since its target's last ring goes
//!   straight into the lane (a lone request or reply is not held back); later ones are appended
//!   to this shard's backlog for that lane (unbounded, one per lane), so a sender never blocks,
//!   even to send a reply while its lanes are full: no cross-shard deadlock. The target is
//!   marked *dirty*.
//! - **Publish** (batching): the poller moves each backlog into its lane (`push_iter`) at the
//!   end of each round of jobs (so after the shard's tasks have run, in the same reactor
//!   turn). What does not fit stays queued (`lane_full` counts it once).
//! - **Ring**: after publishing, the dirty targets are rung: one `fence(SeqCst)` for the
//!   batch, then a wake only for a target whose poller is parked (see
//!   [`doorbell`](crate::doorbell)). 1024 sends in a row cost one fence and at most one wake
//!   per target.
//! - **Poll**: run the jobs of every reply lane (if replies are due; with half of the budget
//!   if requests wait), then of every request lane (at most `JOB_BUDGET` per poll in all);
//!   flush backlogs, replies first; ring. A shard that is awake or busy-polling sees a
//!   message as soon as it lands, with no wake at all. Before
//!   the reactor sleeps (`try_sleep`): ring, park (`parked = true`, fence), look at every lane
//!   once more, and refuse to sleep if anything came. The doorbell holds
//!   [`ms_reactor::reactor_waker`]: a sender that finds the poller parked wakes the shard's
//!   loop, not a task. While replies are due ([`ReplyDue`]), the poller first asks the reactor
//!   to keep polling ([`ms_reactor::Poller::busy_until`]) for up to `reply_poll`, counted from
//!   when the shard ran out of work after its last message received or request sent. While a
//!   backlog remains, the sleep is bounded (`BACKLOG_RETRY`), since nothing signals that a
//!   full lane has room again.
//!
//! A panic in a job is caught and reported; the poller runs on.
//!
//! # Teardown, and shards that fail
//!
//! A shard's poller is dropped with its reactor, at the end of the run or when the shard's
//! future panics. It drops its incoming lanes first (their producers then see them
//! abandoned), forgets its doorbell's waker, and *departs* (`Signals::depart`): it counts the
//! departure and rings every parked peer. Each peer's poller, at its next poll (or before it
//! sleeps), takes back what it queued for the departed shard, in the lanes
//! ([`Producer::take_back`]) and in its backlogs, drops it on its own thread, and closes those
//! lanes; a later send to that shard is refused and dropped at once, as is a send into a lane
//! already seen abandoned. A `submit_to` among them resolves as `Cancelled` right away
//! (dropping its request drops the reply's promise at home): nothing waits on a shard that
//! is gone. Then `finish` flushes and rings what it can and drops the shard's outgoing lanes.
//! Jobs are `Send`, so dropping them on the sender is sound; a
//! [`Foreign`](crate::Foreign) inside one is never dropped off its home thread (it leaks
//! instead; see its docs). A panic in a job's drop is caught, reported and counted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ms_spsc::CachePadded;
use ms_spsc::stamped::{Consumer, Producer};

use crate::doorbell::{Departures, Doorbell, ring_all};
use crate::stats::MeshStats;

pub(crate) use crate::job::Job;

pub(crate) mod cancel;
mod poller;

use poller::Poller;

/// Slots of each lane, with up to [`SHARDS_AT_FULL_CAPACITY`] shards.
pub(crate) const LANE_CAPACITY: usize = 1024;
/// The most shards whose lanes all get [`LANE_CAPACITY`] slots; with more, each shard's
/// incoming lanes share `LANE_CAPACITY * (SHARDS_AT_FULL_CAPACITY - 1)` slots (at least
/// [`MIN_LANE_CAPACITY`] each), so a shard's lanes take about 2 MiB whatever the count,
/// instead of growing with it (at 1024 slots, 64 shards would touch about 500 MiB at start).
const SHARDS_AT_FULL_CAPACITY: usize = 16;
/// The fewest slots of a lane.
const MIN_LANE_CAPACITY: usize = 64;

/// Slots of each lane of an engine of `count` shards (a power of two).
fn lane_capacity(count: usize) -> usize {
    let peers = count.saturating_sub(1).max(1);
    let share = LANE_CAPACITY * (SHARDS_AT_FULL_CAPACITY - 1) / peers;
    let capacity = share.clamp(MIN_LANE_CAPACITY, LANE_CAPACITY);
    // Down to a power of two: the queue would round up.
    1 << capacity.ilog2()
}

/// What a message is, which picks its lane (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Work for the target (it may send more messages, replies included), or a
    /// [`Foreign`](crate::Foreign) going home to be dropped.
    Request,
    /// The result of a [`submit_to`](crate::submit_to) coming back: it never waits behind
    /// requests. It carries its [`ReplyDue`], so only a shard with replies due has any in its
    /// lanes.
    Reply,
}

impl Class {
    /// Every class, replies first (the order in which backlogs are flushed).
    const ALL: [Class; 2] = [Class::Reply, Class::Request];
}

/// Classes of message, hence lanes per ordered pair of shards.
const CLASSES: usize = Class::ALL.len();

/// The index of the lane to shard `to` for messages of `class`, in a shard's outgoing lanes.
fn lane_of(to: usize, class: Class) -> usize {
    to * CLASSES + class as usize
}

/// The target shard of outgoing lane `lane`.
fn target_of(lane: usize) -> usize {
    lane / CLASSES
}

/// Jobs the poller runs per poll before it yields to the shard's other tasks.
const JOB_BUDGET: usize = 1024;
/// How soon the poller retries a backlog (a full lane signals nothing when it has room).
const BACKLOG_RETRY: Duration = Duration::from_micros(50);

/// Every shard's doorbell, shared by all shards of one engine.
pub(crate) struct Signals {
    doorbells: Vec<CachePadded<Doorbell>>,
    /// How many shards' incoming lanes are gone (see [`Signals::depart`]).
    departures: CachePadded<Departures>,
}

impl Signals {
    /// Shard `shard`'s incoming lanes are gone (its consumers dropped, so the lanes say they
    /// are abandoned): tells every other shard, which then takes back what it queued for it
    /// (see [`Departures`] for why none misses it).
    fn depart(&self, shard: usize) {
        let others = self.doorbells.iter().enumerate();
        self.departures
            .announce(others.filter(|&(i, _)| i != shard).map(|(_, d)| &**d));
    }

    /// How many shards have departed so far.
    fn departures(&self) -> u64 {
        self.departures.count()
    }
}

/// One shard's ends of the mesh, before its thread starts.
///
/// Each end sits in its own cache line: the ends are allocated together, on the thread that
/// builds the mesh, and each side writes its own end's index on every push or drain. Two
/// shards' ends sharing a line would bounce it between the cores on every message.
pub(crate) struct Ends {
    /// By [`lane_of`]; `None` for the lanes to itself.
    outgoing: Vec<CachePadded<Option<Producer<Job>>>>,
    /// From every other shard, by sender.
    incoming: Incoming,
}

/// A shard's incoming lanes: the poller runs replies first.
struct Incoming {
    replies: Vec<CachePadded<InLane>>,
    requests: Vec<CachePadded<InLane>>,
}

impl Incoming {
    fn is_empty(&self) -> bool {
        all_empty(&self.replies) && all_empty(&self.requests)
    }
}

/// Whether nothing waits in any of `lanes` (two loads per lane).
fn all_empty(lanes: &[CachePadded<InLane>]) -> bool {
    lanes.iter().all(|lane| lane.consumer.is_empty())
}

/// One incoming lane, and the shard that sends on it.
struct InLane {
    from: usize,
    consumer: Consumer<Job>,
}

/// Makes the lanes of `count` shards: `ends[i]` is shard `i`'s. Each lane has
/// [`lane_capacity`]`(count)` slots.
pub(crate) fn build(count: usize) -> (Vec<Ends>, Arc<Signals>) {
    let mut ends: Vec<Ends> = (0..count)
        .map(|_| Ends {
            outgoing: (0..count * CLASSES)
                .map(|_| CachePadded::new(None))
                .collect(),
            incoming: Incoming {
                replies: Vec::new(),
                requests: Vec::new(),
            },
        })
        .collect();
    for from in 0..count {
        for to in (0..count).filter(|&to| to != from) {
            for class in Class::ALL {
                let (tx, rx) = ms_spsc::stamped::channel(lane_capacity(count));
                *ends[from].outgoing[lane_of(to, class)] = Some(tx);
                let incoming = &mut ends[to].incoming;
                let lane = CachePadded::new(InLane { from, consumer: rx });
                match class {
                    Class::Request => incoming.requests.push(lane),
                    Class::Reply => incoming.replies.push(lane),
                }
            }
        }
    }
    let signals = Arc::new(Signals {
        doorbells: (0..count)
            .map(|_| CachePadded::new(Doorbell::new()))
            .collect(),
        departures: CachePadded::new(Departures::new()),
    });
    (ends, signals)
}

/// A shard's sending side and counters, in its thread.
struct Local {
    engine: u64,
    /// By [`lane_of`].
    outgoing: Vec<CachePadded<Option<Producer<Job>>>>,
    /// Jobs queued per outgoing lane, published to it by the poller in batches.
    backlog: Vec<VecDeque<Job>>,
    /// How many of each backlog's jobs already found their lane full once (counted in
    /// `lane_full`); they are its oldest.
    waiting: Vec<usize>,
    /// Per outgoing lane: whether a job went straight into it since its target was last rung
    /// (the rest of that batch waits to be published together).
    sent_direct: Vec<bool>,
    signals: Arc<Signals>,
    /// Requests sent that await a reply, ever (a new one restarts the reply-poll window).
    requests: u64,
    /// Targets sent to since their doorbell was last rung, each listed once.
    to_ring: Vec<usize>,
    /// `dirty[t]`: whether `t` is in `to_ring`.
    dirty: Vec<bool>,
    stats: MeshStats,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Installs shard `shard`'s mesh (of engine `engine`) on this thread and spawns its poller on
/// the running reactor.
pub(crate) fn start(
    engine: u64,
    shard: usize,
    ends: Ends,
    signals: Arc<Signals>,
    reply_poll: Duration,
) {
    let lanes = ends.outgoing.len();
    let count = lanes / CLASSES;
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            engine,
            outgoing: ends.outgoing,
            backlog: (0..lanes).map(|_| VecDeque::new()).collect(),
            waiting: vec![0; lanes],
            sent_direct: vec![false; lanes],
            signals: Arc::clone(&signals),
            to_ring: Vec::with_capacity(count),
            dirty: vec![false; count],
            requests: 0,
            stats: MeshStats::default(),
        })
    });
    // Senders wake this shard's loop itself: the poller is not a task.
    signals.doorbells[shard].publish(ms_reactor::reactor_waker());
    ms_reactor::add_poller(Poller::new(shard, ends.incoming, signals, reply_poll));
}

/// Rings what is pending, then removes this thread's mesh (its lanes are dropped; peers see
/// them abandoned). The state is taken out before it is dropped, so drops that try to send
/// find no mesh.
pub(crate) fn finish() {
    let local = LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        if let Some(local) = local.as_mut() {
            local.flush_all();
            local.ring();
        }
        local.take()
    });
    drop(local);
}

/// Sends `job`, of `class`, to shard `to` of this thread's engine.
///
/// # Panics
///
/// Outside an engine shard, or if `to` is this shard.
///
/// A job for a shard that has ended is dropped here, at once (after the mesh's borrow ends:
/// its drop may send).
pub(crate) fn send(to: usize, class: Class, job: Job) {
    let refused = LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let local = local.as_mut().expect("the mesh runs on engine shards only");
        local.push(lane_of(to, class), job).err()
    });
    drop_caught(refused);
}

/// Drops `jobs` (none may be borrowing the mesh), each inside a catch: a panic in a job's
/// drop is reported, and the rest are still dropped.
pub(crate) fn drop_caught(jobs: impl IntoIterator<Item = Job>) {
    for job in jobs {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(job))) {
            contained(
                "a message for a shard that ended panicked as it was dropped",
                payload,
            );
        }
    }
}

/// Sends `f`, of `class`, to shard `to` of engine `engine` if this thread is another shard of
/// that engine with a live mesh and a lane to a target that is still there; otherwise hands
/// `f` back (nothing is allocated then).
pub(crate) fn try_send<F: FnOnce() + Send + 'static>(
    engine: u64,
    to: usize,
    class: Class,
    f: F,
) -> Result<(), F> {
    // `f` stays out here until it is pushed, so that every path that does not send hands it
    // back (never drops it here). `try_with`: this may run in a thread-local destructor at
    // thread exit.
    let mut f = Some(f);
    let pushed = LOCAL.try_with(|l| {
        let mut local = l.try_borrow_mut().ok()?;
        let local = local.as_mut()?;
        let lane = lane_of(to, class);
        let reachable = local.engine == engine
            && local
                .outgoing
                .get(lane)
                .and_then(|lane| lane.as_ref())
                .is_some_and(|lane| !lane.is_abandoned());
        if !reachable {
            return None;
        }
        let job = Job::new(f.take()?);
        Some(local.push(lane, job).err())
    });
    match pushed {
        // The target ended between the check and the push (a race): the job is dropped
        // here, which is sound (it is `Send`); a `Foreign` inside it leaks.
        Ok(Some(refused)) => {
            drop_caught(refused);
            Ok(())
        }
        _ => Err(f.take().expect("not sent, so still here")),
    }
}

/// This shard's counters.
///
/// # Panics
///
/// Outside an engine shard.
pub(crate) fn stats() -> MeshStats {
    LOCAL.with(|l| {
        l.borrow()
            .as_ref()
            .expect("ms_engine::mesh_stats called outside an engine shard")
            .stats
    })
}

impl Local {
    /// Sends `job` on outgoing lane `lane`: straight into it if it is the first since its
    /// target was last rung, else queued for the poller to publish with the rest of the batch.
    /// Either way, the target is marked to be rung. Hands the job back if the target has
    /// ended (the caller drops it, outside the borrow).
    fn push(&mut self, lane: usize, job: Job) -> Result<(), Job> {
        // The first message into a lane in a batch goes out at once (a lone request or reply
        // is not held until the end of the turn); the rest of the batch waits to be published
        // together. A lane seen abandoned refuses it; one abandoned later is emptied when its
        // target's departure is seen (`take_back_undeliverable`).
        let first = !self.sent_direct[lane] && self.backlog[lane].is_empty();
        let live = match self.outgoing[lane].as_ref() {
            Some(producer) => !first || !producer.is_abandoned(),
            None => false,
        };
        if !live {
            self.stats.undeliverable += 1;
            return Err(job);
        }
        self.stats.sent += 1;
        self.mark(target_of(lane));
        let job = if first {
            self.sent_direct[lane] = true;
            let producer = self.outgoing[lane].as_mut().expect("checked live");
            match producer.try_push(job) {
                Ok(()) => return Ok(()),
                Err(full) => full.into_inner(),
            }
        } else {
            job
        };
        self.backlog[lane].push_back(job);
        self.stats.backlog += 1;
        self.stats.backlog_peak = self.stats.backlog_peak.max(self.stats.backlog);
        Ok(())
    }

    /// Takes back everything this shard queued for shards that have ended (in their lanes
    /// and in its backlogs) and closes those lanes, so later sends to them are refused.
    /// Returns the jobs, for the caller to drop outside the borrow.
    fn take_back_undeliverable(&mut self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for lane in 0..self.outgoing.len() {
            if !self.outgoing[lane]
                .as_ref()
                .is_some_and(|producer| producer.is_abandoned())
            {
                continue;
            }
            let mut producer = self.outgoing[lane].take().expect("checked above");
            jobs.extend(std::iter::from_fn(|| producer.take_back()));
            self.stats.backlog -= self.backlog[lane].len() as u64;
            jobs.extend(self.backlog[lane].drain(..));
            self.waiting[lane] = 0;
        }
        self.stats.undeliverable += jobs.len() as u64;
        jobs
    }

    /// Notes that `to` needs its doorbell rung (by the poller, later this reactor turn).
    fn mark(&mut self, to: usize) {
        if !self.dirty[to] {
            self.dirty[to] = true;
            self.to_ring.push(to);
        }
    }

    /// Moves what fits of the backlog of outgoing lane `lane` into it; returns whether any
    /// remains.
    fn flush(&mut self, lane: usize) -> bool {
        let Some(producer) = self.outgoing[lane].as_mut() else {
            return false;
        };
        let backlog = &mut self.backlog[lane];
        let pushed = producer.push_iter(&mut std::iter::from_fn(|| backlog.pop_front()));
        self.stats.backlog -= pushed as u64;
        let left = backlog.len();
        let counted = self.waiting[lane].saturating_sub(pushed);
        self.stats.lane_full += (left - counted) as u64;
        self.waiting[lane] = left;
        left > 0
    }

    /// Flushes every backlog, replies first (marking the targets that got jobs); returns
    /// whether any job is still waiting for room.
    fn flush_all(&mut self) -> bool {
        let mut remaining = false;
        for class in Class::ALL {
            for to in 0..self.backlog.len() / CLASSES {
                let lane = lane_of(to, class);
                if !self.backlog[lane].is_empty() {
                    remaining |= self.flush(lane);
                    self.mark(to);
                }
            }
        }
        remaining
    }

    /// Rings every dirty target (one fence for all of them).
    fn ring(&mut self) {
        if self.to_ring.is_empty() {
            return;
        }
        let signals = &self.signals;
        self.stats.wakes += ring_all(self.to_ring.iter().map(|&to| &*signals.doorbells[to]));
        for to in self.to_ring.drain(..) {
            self.dirty[to] = false;
            for class in Class::ALL {
                self.sent_direct[lane_of(to, class)] = false;
            }
        }
    }
}

/// Counts, on this shard, a request dropped unrun: its caller had given up on it
/// (`expired: false`) or its deadline had passed (`expired: true`).
pub(crate) fn count_unrun(expired: bool) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            if expired {
                local.stats.expired += 1;
            } else {
                local.stats.cancelled += 1;
            }
        }
    });
}

/// Reports a panic the mesh caught in user code (a job run or dropped), counts it in this
/// shard's [`MeshStats::panics`], and drops its payload, itself inside a catch: a payload whose
/// own drop panics is leaked instead.
pub(crate) fn contained(what: &str, payload: Box<dyn std::any::Any + Send>) {
    let shard = crate::try_shard_id().map_or_else(|| "?".to_owned(), |s| s.to_string());
    eprintln!(
        "ms-engine: shard {shard}: {what}: {}",
        ms_reactor::panic_message(&*payload)
    );
    // `try_with`: this may run in a thread-local destructor at thread exit.
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut local) = l.try_borrow_mut() {
            if let Some(local) = local.as_mut() {
                local.stats.panics += 1;
            }
        }
    });
    ms_reactor::drop_payload(payload);
}

/// A reply this shard awaits, from when the request is sent until the reply's promise is
/// fulfilled or dropped (on this shard either way: it travels as a [`Foreign`]). While any is
/// due, the shard busy-polls for a while before it sleeps (see [`Poller::busy_until`]).
///
/// [`Foreign`]: crate::Foreign
pub(crate) struct ReplyDue(());

impl ReplyDue {
    /// Counts a reply due on this shard.
    ///
    /// # Panics
    ///
    /// Outside an engine shard.
    pub(crate) fn new() -> Self {
        LOCAL.with(|l| {
            let mut local = l.borrow_mut();
            let local = local
                .as_mut()
                .expect("submit_to runs on engine shards only");
            local.stats.replies_due += 1;
            local.requests += 1;
        });
        ReplyDue(())
    }
}

impl Drop for ReplyDue {
    fn drop(&mut self) {
        // `try_with`: this may run in a thread-local destructor at thread exit.
        let _ = LOCAL.try_with(|l| {
            if let Ok(mut local) = l.try_borrow_mut() {
                if let Some(local) = local.as_mut() {
                    local.stats.replies_due = local.stats.replies_due.saturating_sub(1);
                }
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Bytes of lane slots an engine of `count` shards allocates (and touches) at start.
    fn lane_bytes(count: usize) -> usize {
        let slot = 64; // a stamped slot of a 56-byte job
        count * (count - 1) * CLASSES * lane_capacity(count) * slot
    }

    #[test]
    fn lanes_shrink_as_shards_grow_so_memory_does_not_go_with_the_square() {
        assert_eq!(lane_capacity(1), LANE_CAPACITY);
        assert_eq!(lane_capacity(2), LANE_CAPACITY);
        assert_eq!(lane_capacity(16), LANE_CAPACITY);
        assert_eq!(lane_capacity(17), 512);
        assert_eq!(lane_capacity(64), 128);
        assert_eq!(lane_capacity(1024), MIN_LANE_CAPACITY);
        for count in [2, 16, 17, 64, 128, 256] {
            assert!(lane_capacity(count).is_power_of_two());
            // Per shard, about 2 MiB at most (at 1024 slots always, 64 shards took 8 MiB
            // each: 528 MiB in all).
            assert!(lane_bytes(count) / count <= 2 << 20, "{count} shards");
        }
        assert_eq!(lane_bytes(64) >> 20, 63);
    }
}
