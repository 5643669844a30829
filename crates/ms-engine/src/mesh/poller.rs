//! The mesh's poller: runs the jobs that arrive in a shard's lanes, publishes and rings what the
//! shard sent, and tells the reactor when it may sleep (see the [module docs](super)).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ms_spsc::CachePadded;

use super::{
    BACKLOG_RETRY, Class, InLane, Incoming, JOB_BUDGET, Job, LOCAL, Signals, all_empty, lane_of,
};

/// The mesh poller of one shard (a reactor poller, not a task); see the [module docs](super).
pub(super) struct Poller {
    shard: usize,
    incoming: Incoming,
    /// The incoming reply and request lanes the next round starts at.
    next_reply: usize,
    next_request: usize,
    signals: Arc<Signals>,
    /// Whether jobs for a full lane were still waiting after the last round.
    backlogged: bool,
    /// Whether the next poll looks at the reply lanes even with no reply due: `try_sleep`
    /// found a lane not empty (a safety net: by the `ReplyDue` rule, a reply lane with a job
    /// in it means a reply is due).
    replies_seen: bool,
    /// How long to keep polling for replies due.
    window: ReplyWindow,
    /// The departures of other shards this poller has acted on (see `Signals::depart`).
    departures_seen: u64,
    /// Whether the next poll runs requests before replies (the time quota cut the replies
    /// short while requests waited).
    requests_first: bool,
}

impl Poller {
    /// The poller of shard `shard`, over its `incoming` lanes, polling up to `reply_poll` for
    /// replies due.
    pub(super) fn new(
        shard: usize,
        incoming: Incoming,
        signals: Arc<Signals>,
        reply_poll: Duration,
    ) -> Self {
        Self {
            shard,
            incoming,
            next_reply: 0,
            next_request: 0,
            signals,
            backlogged: false,
            replies_seen: false,
            window: ReplyWindow::new(reply_poll),
            departures_seen: 0,
            requests_first: false,
        }
    }
}

/// When a shard with replies due stops polling for them: `reply_poll` after it ran out of
/// work, counted again after each message received or request sent.
#[derive(Debug)]
struct ReplyWindow {
    /// How long to busy-poll for replies due (zero: not at all).
    reply_poll: Duration,
    /// When the reactor first ran out of work with replies due and no message or request
    /// since.
    since: Option<Instant>,
    /// The request count when the window was last asked about.
    requests_seen: u64,
}

impl ReplyWindow {
    fn new(reply_poll: Duration) -> Self {
        Self {
            reply_poll,
            since: None,
            requests_seen: 0,
        }
    }

    /// A message arrived: the next window starts when the shard runs out of work again.
    fn restart(&mut self) {
        self.since = None;
    }

    /// The end of the window at `now`, with `due` replies due and `requests` sent ever;
    /// `None` if the shard should not poll for replies.
    fn end(&mut self, now: Instant, due: u64, requests: u64) -> Option<Instant> {
        if requests != self.requests_seen {
            self.requests_seen = requests;
            self.since = None; // a new request: a new window
        }
        if due == 0 || self.reply_poll.is_zero() {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        // A window too long to represent is as good as a day's.
        since
            .checked_add(self.reply_poll)
            .or_else(|| since.checked_add(Duration::from_secs(86_400)))
    }
}

/// Runs the jobs waiting in `lanes`, at most `budget` of them, stopping early once the
/// reactor's time quota is used ([`ms_reactor::need_preempt`], asked after each job); returns
/// how many ran and whether the quota stopped it.
///
/// The lanes are visited starting at `*first`, which then moves on by one, so that a sender
/// keeping one lane full cannot starve the others (of the same class: the poller splits the
/// budget between the classes) of the budget.
fn run_jobs(
    lanes: &mut [CachePadded<InLane>],
    first: &mut usize,
    budget: &mut usize,
) -> (usize, bool) {
    let mut ran = 0;
    let count = lanes.len();
    if count == 0 {
        return (0, false);
    }
    // No `%`: a division costs more than the rest of an idle look at a lane.
    let start = if *first < count { *first } else { 0 };
    *first = if start + 1 < count { start + 1 } else { 0 };
    let (before, after) = lanes.split_at_mut(start);
    for lane in after.iter_mut().chain(before.iter_mut()) {
        let ready = lane.consumer.ready(*budget);
        if ready == 0 {
            continue;
        }
        // Counted before they run, so a job that reads the counters sees itself. Jobs run
        // without any borrow held: they may send, spawn, or drop values that send.
        received_from(lane.from, ready);
        for done in 1..=ready {
            let job = lane.consumer.try_pop().expect("counted ready");
            run_job(job);
            // The reactor's time quota bounds a poll's jobs as it bounds a turn's tasks.
            if ms_reactor::need_preempt() {
                ran += done;
                *budget -= done;
                uncount_received(ready - done);
                return (ran, true);
            }
        }
        ran += ready;
        *budget -= ready;
    }
    (ran, false)
}

/// Takes back `n` jobs counted as received that the poller left for its next poll (they are
/// counted again then).
fn uncount_received(n: usize) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.stats.received -= n as u64;
        }
    });
}

/// Runs one job, catching (reporting and counting) a panic so the poller lives on.
fn run_job(job: Job) {
    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| job.run())) {
        super::contained("a job sent to this shard panicked", payload);
    }
}

/// Counts `n` jobs from shard `from` about to run, and starts loading what the next message
/// back to `from` will need: `from` has popped since this shard last sent to it (it answered,
/// or it sent work that an answer may follow), so each of this shard's lanes to it with
/// messages outstanding has a new consumer position, whose load would otherwise hold up that
/// message (see [`Producer::prefetch_head`]).
fn received_from(from: usize, n: usize) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            local.stats.received += n as u64;
            for class in Class::ALL {
                if let Some(lane) = local.outgoing[lane_of(from, class)].as_ref() {
                    lane.prefetch_head();
                }
            }
        }
    });
}

/// Takes back what this shard queued for shards that have ended and drops it here (a
/// `submit_to` among it resolves as cancelled). Returns whether there was any.
fn take_back_undeliverable() -> bool {
    let jobs = LOCAL.with(|l| {
        l.borrow_mut()
            .as_mut()
            .map(super::Local::take_back_undeliverable)
    });
    let Some(jobs) = jobs else {
        return false;
    };
    let any = !jobs.is_empty();
    super::drop_caught(jobs); // outside the borrow: a drop may send
    any
}

/// Closes a round of jobs: flushes backlogs and rings every dirty target. Returns whether a
/// backlog remains.
fn end_round() -> bool {
    LOCAL.with(|l| {
        let mut local = l.borrow_mut();
        let Some(local) = local.as_mut() else {
            return false;
        };
        let backlogged = local.flush_all();
        local.ring();
        backlogged
    })
}

impl ms_reactor::Poller for Poller {
    fn poll(&mut self) -> bool {
        // A shard has ended since the last look: take back what was queued for it.
        let departures = self.signals.departures();
        let mut took_back = false;
        if departures != self.departures_seen {
            self.departures_seen = departures;
            took_back = take_back_undeliverable();
        }
        // Only a shard awaiting replies can have any (each travels with its `ReplyDue`), so
        // the others skip their reply lanes.
        let (replies_due, nothing_to_ring) = LOCAL.with(|l| {
            l.borrow().as_ref().map_or((false, true), |l| {
                (l.stats.replies_due > 0, l.to_ring.is_empty())
            })
        });
        let incoming = &mut self.incoming;
        let look_at_replies = replies_due || std::mem::take(&mut self.replies_seen);
        let replies = look_at_replies && !all_empty(&incoming.replies);
        let requests = !all_empty(&incoming.requests);
        // The common case while busy-polling: nothing came, nothing to send.
        if !replies && !requests && !self.backlogged && nothing_to_ring {
            return took_back;
        }
        // Replies first: they end work already done, and never wait behind requests. With
        // requests waiting, replies get half the budget, so that a flood of replies (a shard
        // keeping thousands of requests in flight) cannot starve them.
        // The time quota may end the poll after either class: when it cuts the replies short
        // with requests waiting, the next poll runs the requests first, so that neither class
        // can keep the other from ever running.
        let mut ran = 0;
        let mut preempted = false;
        let requests_first = std::mem::take(&mut self.requests_first) && requests;
        if requests_first {
            let mut budget = JOB_BUDGET / 2;
            let run = run_jobs(&mut incoming.requests, &mut self.next_request, &mut budget);
            (ran, preempted) = (ran + run.0, run.1);
        }
        if replies && !preempted {
            let mut budget = if requests { JOB_BUDGET / 2 } else { JOB_BUDGET };
            let run = run_jobs(&mut incoming.replies, &mut self.next_reply, &mut budget);
            (ran, preempted) = (ran + run.0, run.1);
            self.requests_first = requests && preempted;
        }
        if requests && !requests_first && !preempted {
            let mut budget = JOB_BUDGET - ran;
            ran += run_jobs(&mut incoming.requests, &mut self.next_request, &mut budget).0;
        }
        // Running again (a no-op unless parked): senders need not ring.
        self.signals.doorbells[self.shard].unpark();
        if ran > 0 {
            self.window.restart(); // messages flow: a new wait starts from here
        }
        // Rings what the jobs sent, and what the shard's tasks sent this turn.
        self.backlogged = end_round();
        ran > 0 || took_back
    }

    fn try_sleep(&mut self) -> ms_reactor::Sleep {
        self.backlogged = end_round();
        self.signals.doorbells[self.shard].park();
        // A departure is looked for after parking too: `Signals::depart` rings after it
        // counts, so either it sees this shard parked and wakes it, or this sees the count.
        if !self.incoming.is_empty() || self.signals.departures() != self.departures_seen {
            self.signals.doorbells[self.shard].unpark();
            // Were it a reply with none due, the next poll must still run it.
            self.replies_seen = true;
            return ms_reactor::Sleep::Refused;
        }
        if self.backlogged {
            // Nothing signals that a full lane has room again: look again soon.
            return ms_reactor::Sleep::Until(std::time::Instant::now() + BACKLOG_RETRY);
        }
        ms_reactor::Sleep::Allowed
    }

    fn woke(&mut self) {
        self.signals.doorbells[self.shard].unpark();
    }

    /// With replies due, keeps the shard polling for up to `reply_poll` after it ran out of
    /// work (counted from the last message received or request sent), so that the reply
    /// finds it awake.
    fn busy_until(&mut self, now: Instant) -> Option<Instant> {
        let (due, requests) = LOCAL.with(|l| {
            l.borrow()
                .as_ref()
                .map_or((0, 0), |l| (l.stats.replies_due, l.requests))
        });
        self.window.end(now, due, requests)
    }
}

impl Drop for Poller {
    /// The shard ends: its incoming lanes go first (so they say abandoned), then the other
    /// shards are told, and take back what they queued for it.
    fn drop(&mut self) {
        drop(std::mem::replace(
            &mut self.incoming,
            Incoming {
                replies: Vec::new(),
                requests: Vec::new(),
            },
        ));
        self.signals.doorbells[self.shard].retire();
        self.signals.depart(self.shard);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const POLL: Duration = Duration::from_micros(50);

    #[test]
    fn the_reply_window_runs_from_the_first_idle_moment() {
        let t0 = Instant::now();
        let mut window = ReplyWindow::new(POLL);
        assert_eq!(window.end(t0, 1, 1), Some(t0 + POLL));
        // Asked again later (the window ended, say): the same end.
        assert_eq!(window.end(t0 + POLL * 2, 1, 1), Some(t0 + POLL));
    }

    #[test]
    fn a_message_or_a_new_request_starts_a_new_window() {
        let t0 = Instant::now();
        let later = t0 + POLL * 3;
        let mut window = ReplyWindow::new(POLL);
        assert_eq!(window.end(t0, 1, 1), Some(t0 + POLL));
        window.restart();
        assert_eq!(window.end(later, 1, 1), Some(later + POLL));
        // The first reply is still due, and a second request went out.
        let later = later + POLL * 3;
        assert_eq!(window.end(later, 2, 2), Some(later + POLL));
    }

    #[test]
    fn no_window_without_replies_due_or_when_turned_off() {
        let t0 = Instant::now();
        assert_eq!(ReplyWindow::new(POLL).end(t0, 0, 5), None);
        assert_eq!(ReplyWindow::new(Duration::ZERO).end(t0, 1, 1), None);
        // Too long to represent: clamped, still polling.
        assert!(ReplyWindow::new(Duration::MAX).end(t0, 1, 1).is_some());
    }
}
