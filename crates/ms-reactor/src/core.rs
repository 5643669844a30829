//! [`Core`]: one reactor's state and its turn loop.
//!
//! # Who touches what
//!
//! A core belongs to one thread. While [`Core::block_on`] runs, the thread-local `CURRENT`
//! points at it, so `spawn`, timers and wakers reach it without a handle. Its state sits in
//! `Cell`s and `RefCell`s, and no borrow is ever held across user code: a task is polled in
//! place through a pointer taken under the table's borrow and released before the poll (the
//! slot's reference keeps the task alive; its `Polling` state keeps everything else off it),
//! and anything dropped (a finished task, a waker, a timer's waker) is dropped after its borrow
//! ends, because drops run user code that may wake or spawn.
//!
//! # A turn
//!
//! 1. Poll the `block_on` future if it was woken.
//! 2. Run queued tasks in FIFO order, at most `TASK_BUDGET` of them, and stop early once the
//!    turn has used its time quota (checked every 16 polls), so a busy run queue cannot
//!    starve I/O or timers.
//! 3. Take the wakes other threads left in the inbox.
//! 4. Run the [pollers](crate::Poller).
//! 5. Fire due timers.
//! 6. Call `epoll_wait`: with a zero timeout if work is queued, else until the next timer
//!    (after asking the pollers, and the sleeping-flag handshake of
//!    [`Remote`](crate::remote::Remote)), optionally after busy-polling the inbox, the pollers
//!    and epoll for a while first.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::contain;
use crate::coop;
use crate::io::Io;
use crate::join::JoinHandle;
use crate::poller::{Poller, Sleep};
use crate::remote::Remote;
use crate::stall::{self, Watch};
use crate::stats::{Counters, Stats, add};
use crate::sys::{EDGE_READ, Epoll, EventFd, coarse_now};
use crate::task::{self, State, TaskRef};
use crate::timers::{TimerId, Timers};
use crate::waker::{self, Entry, Key, MAX_TASKS, ReactorId};

/// Tasks run per turn before I/O and timers are checked again.
pub(crate) const TASK_BUDGET: usize = 256;
/// With work queued and no I/O seen last time, epoll is looked at once every this many turns.
const IO_EVERY_BUSY_TURNS: u32 = 4;
/// The slot number of the `block_on` future's waker (never a task's).
const MAIN_SLOT: usize = MAX_TASKS - 1;
/// The slot number of [`reactor_waker`](crate::reactor_waker)'s key: waking it wakes no task,
/// only the loop.
const LOOP_SLOT: usize = MAX_TASKS - 2;
/// While busy-polling, epoll is looked at once every this many spins (the inbox and the
/// pollers on every spin; the spins are counted across busy-poll periods).
const EPOLL_EVERY_SPINS: u32 = 256;
/// While busy-polling, the clock is read (to end the period) once every this many spins.
const CLOCK_EVERY_SPINS: u32 = 64;
/// The epoll token of the doorbell.
const DOORBELL_TOKEN: u64 = u64::MAX;

/// How often a running core gives idle pool memory back (see [`Core::release_idle_memory`]).
const RELEASE_PERIOD: Duration = Duration::from_secs(1);

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
    /// The cores alive on this thread (a `JoinHandle` aborts through its task's core even when
    /// another one runs); while there is one, the thread's pool holds empty chunks.
    static CORES: RefCell<Vec<(ReactorId, Weak<Core>)>> = const { RefCell::new(Vec::new()) };
    /// When (on the coarse clock) this thread's idle pool memory is next given back, shared by
    /// the thread's cores so that each period is a whole one.
    static NEXT_RELEASE: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The clock, read at most once per turn, and only if something needs it.
#[derive(Default)]
struct LazyNow(Cell<Option<Instant>>);

impl LazyNow {
    fn get(&self) -> Instant {
        if let Some(now) = self.0.get() {
            return now;
        }
        let now = Instant::now();
        self.0.set(Some(now));
        now
    }
}

/// One spawned task's slot.
struct Slot {
    /// The task living here, if any.
    task: Option<TaskRef>,
    /// Bumped when the slot is freed, so old keys stop matching.
    generation: u32,
    /// Whether its key is in the run queue.
    queued: bool,
}

#[derive(Default)]
struct Tasks {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

/// Configuration a core is made with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) time_quota: Duration,
    pub(crate) stall_threshold: Duration,
    pub(crate) busy_poll: Duration,
    /// Whether the live stall detector watches this core.
    pub(crate) stall_detector: bool,
}

/// See the module docs.
pub(crate) struct Core {
    id: ReactorId,
    entry: &'static Entry,
    config: Config,
    epoll: Epoll,
    events: RefCell<Vec<libc::epoll_event>>,
    tasks: RefCell<Tasks>,
    run_queue: RefCell<VecDeque<Key>>,
    main_woken: Cell<bool>,
    /// Turns in a row that had work queued and skipped epoll (see `poll_io`).
    skipped_io: Cell<u32>,
    /// Whether the last `epoll_wait` returned no event.
    idle_io: Cell<bool>,
    /// Busy-poll spins since the last `epoll_wait` (across busy-poll periods, so that short
    /// ones cannot keep postponing I/O).
    spins_since_epoll: Cell<u32>,
    timers: RefCell<Timers>,
    inbox: RefCell<Vec<u64>>,
    /// Scratch space for wakers collected under a borrow and woken after it (reused, so a
    /// turn does not allocate).
    wake_scratch: RefCell<Vec<Waker>>,
    io: Io,
    /// Borrowed while they run; pollers added meanwhile wait in `added_pollers`.
    pollers: RefCell<Vec<Box<dyn Poller>>>,
    added_pollers: RefCell<Vec<Box<dyn Poller>>>,
    counters: Counters,
    stall: Watch,
    me: Weak<Core>,
}

impl Core {
    pub(crate) fn new(config: Config) -> std::io::Result<Rc<Core>> {
        let epoll = Epoll::new()?;
        // The inbox comes empty and refuses the wakes of the index's previous reactors; a ring
        // one of them left (a push in flight as it closed) is drained here.
        let (id, entry) = waker::register(EventFd::new)?;
        let _ = entry.remote.doorbell().drain();
        if let Err(e) = epoll.add(
            std::os::fd::AsRawFd::as_raw_fd(entry.remote.doorbell()),
            DOORBELL_TOKEN,
            EDGE_READ,
        ) {
            waker::unregister(id);
            return Err(e);
        }
        let core = Rc::new_cyclic(|me| Core {
            id,
            entry,
            config,
            epoll,
            events: RefCell::new(Vec::with_capacity(256)),
            tasks: RefCell::default(),
            run_queue: RefCell::new(VecDeque::with_capacity(1024)),
            main_woken: Cell::new(false),
            skipped_io: Cell::new(0),
            idle_io: Cell::new(false),
            spins_since_epoll: Cell::new(0),
            timers: RefCell::default(),
            inbox: RefCell::default(),
            wake_scratch: RefCell::new(Vec::with_capacity(64)),
            io: RefCell::default(),
            pollers: RefCell::default(),
            added_pollers: RefCell::default(),
            counters: Counters::default(),
            stall: Watch::new(config.stall_threshold, config.stall_detector),
            me: me.clone(),
        });
        let first = CORES.with_borrow_mut(|cores| {
            cores.push((id, Rc::downgrade(&core)));
            cores.len() == 1
        });
        if first {
            // Tasks and buffers come and go in bursts: keep the pool's empty chunks for the next
            // burst, and give back once a period those that no burst needed.
            ms_alloc::set_hold_empty_chunks(true);
        }
        Ok(core)
    }

    /// The core of `id` on this thread, if it is alive.
    pub(crate) fn on_this_thread(id: ReactorId) -> Option<Rc<Core>> {
        CORES.with_borrow(|cores| {
            cores
                .iter()
                .find(|(core, _)| *core == id)
                .and_then(|(_, core)| core.upgrade())
        })
    }

    /// A weak handle to this core, for things that outlive a poll (timers, join handles).
    pub(crate) fn weak(&self) -> Weak<Core> {
        self.me.clone()
    }

    fn remote(&self) -> &Remote<EventFd> {
        &self.entry.remote
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            stalls_caught_live: self.stall.caught_live(),
            ..self.counters.snapshot()
        }
    }

    /// The core running on this thread, if any.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: `CURRENT` is non-null only while `block_on` runs on this thread, and that
        // call holds `&Core` for as long as the pointer is set (the guard clears it).
        f(unsafe { ptr.as_ref() })
    }

    // ===== spawning and waking =====

    /// Spawns `future`, spawned `at` (the user's call site: passed in, because
    /// `#[track_caller]` does not reach through the closure of [`Core::with_current`]); see
    /// [`crate::spawn`].
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        at: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let mut tasks = self.tasks.borrow_mut();
        let index = match tasks.free.pop() {
            Some(index) => index,
            None => {
                assert!(
                    tasks.slots.len() < LOOP_SLOT,
                    "more than {LOOP_SLOT} tasks alive on one reactor"
                );
                tasks.slots.push(Slot {
                    task: None,
                    generation: 0,
                    queued: false,
                });
                tasks.slots.len() - 1
            }
        };
        tasks.live += 1;
        let slot = &mut tasks.slots[index];
        let key = Key::new(self.id, index, slot.generation);
        // No user code runs here (moving the future is a copy), so holding the borrow is fine.
        let (task, output) = task::new(future, key, at);
        slot.task = Some(task);
        slot.queued = true;
        drop(tasks);
        self.run_queue.borrow_mut().push_back(key);
        add(&self.counters.tasks_spawned, 1);
        JoinHandle { task: output }
    }

    /// Whether `key` names a task of this core.
    pub(crate) fn owns(&self, key: Key) -> bool {
        key.reactor() == self.id
    }

    /// Queues task `key` if it is alive and not queued yet.
    fn schedule(&self, key: Key) -> bool {
        match key.slot() {
            MAIN_SLOT => {
                self.main_woken.set(true);
                return true;
            }
            // The wake itself was the point: the loop is running.
            LOOP_SLOT => return true,
            _ => {}
        }
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.slots.get_mut(key.slot()) else {
            return false;
        };
        if slot.task.is_none() || !key.matches(slot.generation) || slot.queued {
            return false;
        }
        slot.queued = true;
        drop(tasks);
        self.run_queue.borrow_mut().push_back(key);
        true
    }

    /// Aborts task `key` of this core; see [`JoinHandle::abort`].
    pub(crate) fn abort(&self, key: Key) {
        let task = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.slots.get_mut(key.slot()) else {
                return;
            };
            let Some(task) = slot.task.as_ref().filter(|_| key.matches(slot.generation)) else {
                return;
            };
            if task.header().state() == State::Polling {
                // It is being polled: it is cancelled when that poll returns.
                task.header().set_aborted();
                return;
            }
            Self::free_slot(&mut tasks, key.slot())
        };
        // Outside the borrow: dropping the future runs user code.
        task.cancel();
    }

    /// Empties slot `index` and returns its task, to be dropped outside the borrow.
    fn free_slot(tasks: &mut Tasks, index: usize) -> TaskRef {
        let slot = &mut tasks.slots[index];
        let task = slot.task.take().expect("freeing an empty slot");
        slot.queued = false;
        slot.generation = slot.generation.wrapping_add(1);
        tasks.free.push(index);
        tasks.live -= 1;
        task
    }

    /// Number of tasks alive.
    pub(crate) fn live_tasks(&self) -> usize {
        self.tasks.borrow().live
    }

    // ===== running =====

    /// Polls task `key` once, if it is alive; returns where it was spawned if it ran.
    fn run(&self, key: Key) -> Option<&'static Location<'static>> {
        let task = {
            let mut tasks = self.tasks.borrow_mut();
            let slot = tasks.slots.get_mut(key.slot())?;
            if !key.matches(slot.generation) {
                return None;
            }
            let task = slot.task.as_ref()?;
            slot.queued = false;
            task.as_ptr()
        };
        // SAFETY: the slot's reference keeps the task alive (see below).
        let spawned_at = unsafe { task.as_ref() }.spawned_at();
        let waker = waker::waker(key);
        self.stall.enter(stall::TASK, Some(spawned_at));
        let poll = {
            let _budget = coop::start(self.config.time_quota);
            // SAFETY: the slot's reference keeps the task alive through the poll: only `abort`
            // and `run` empty a slot, and `abort` leaves a task being polled in place (it is
            // `Polling`).
            unsafe { task::poll(task, &mut Context::from_waker(&waker)) }
        };
        self.stall.leave();
        add(&self.counters.tasks_polled, 1);
        if poll.is_ready() {
            let task = Self::free_slot(&mut self.tasks.borrow_mut(), key.slot());
            drop(task); // outside the borrow: the last reference may drop the output
        }
        Some(spawned_at)
    }

    /// Runs queued tasks until the queue is empty, the budget is spent or the quota is used.
    ///
    /// Every poll is timed with the coarse clock (for the stall detector); the quota is checked
    /// with the precise clock every 16 polls.
    fn run_tasks(&self, turn_started: Instant) {
        if self.run_queue.borrow().is_empty() {
            return;
        }
        let mut last = coarse_now();
        for ran in 0..TASK_BUDGET {
            let Some(key) = self.run_queue.borrow_mut().pop_front() else {
                return;
            };
            let spawned_at = self.run(key);
            let now = coarse_now();
            if let Some(at) = spawned_at {
                self.check_stall(now.saturating_sub(last), at);
            }
            last = now;
            if ran % 16 == 15 && turn_started.elapsed() >= self.config.time_quota {
                return;
            }
        }
    }

    /// Reports a poll that held the thread past the threshold, at most once a second, unless
    /// the live detector reported it already.
    fn check_stall(&self, took: Duration, at: &'static Location<'static>) {
        if took < self.config.stall_threshold {
            return;
        }
        add(&self.counters.stalls, 1);
        if let Some(report) = self.stall.ended_report(took, at) {
            stall::emit(&report);
        }
    }

    /// Moves wakes from other threads into the run queue.
    fn drain_inbox(&self) {
        if !self.remote().has_pending() {
            return;
        }
        let mut inbox = self.inbox.take();
        self.remote().drain_into(&mut inbox);
        let mut woken = 0;
        for &raw in &inbox {
            let key = Key(raw);
            if self.owns(key) && self.schedule(key) {
                woken += 1;
            }
        }
        inbox.clear();
        self.inbox.replace(inbox);
        add(&self.counters.remote_wakes, woken);
    }

    /// Fires due timers and wakes their tasks.
    fn fire_timers(&self, now: Instant) {
        let mut wakers = self.wake_scratch.take();
        let fired = self.timers.borrow_mut().fire(now, &mut wakers);
        if fired > 0 {
            add(&self.counters.timers_fired, fired as u64);
        }
        self.wake_all(wakers);
    }

    // ===== pollers =====

    pub(crate) fn add_poller(&self, poller: Box<dyn Poller>) {
        match self.pollers.try_borrow_mut() {
            Ok(mut pollers) => pollers.push(poller),
            // A poller is adding it while they run.
            Err(_) => self.added_pollers.borrow_mut().push(poller),
        }
    }

    pub(crate) fn reactor_waker(&self) -> Waker {
        waker::waker(Key::new(self.id, LOOP_SLOT, 0))
    }

    /// Runs `f` on every poller (pollers added meanwhile join the list after it); `none`
    /// without a poller (then nothing is borrowed mutably).
    fn with_pollers<R>(&self, none: R, f: impl FnOnce(&mut [Box<dyn Poller>]) -> R) -> R {
        if self.pollers.borrow().is_empty() {
            return none;
        }
        let mut pollers = self.pollers.borrow_mut();
        let result = f(&mut pollers);
        let mut added = self.added_pollers.borrow_mut();
        if !added.is_empty() {
            pollers.append(&mut added);
        }
        result
    }

    /// Polls every poller once; returns whether any found work.
    fn run_pollers(&self) -> bool {
        self.with_pollers(false, |pollers| {
            pollers.iter_mut().fold(false, |busy, poller| {
                self.stall.enter(stall::POLLER, None);
                let worked = {
                    // A poller's poll has a quota and a budget too: one that runs work (the
                    // engine's mesh) stops when `need_preempt` says so.
                    let _budget = coop::start(self.config.time_quota);
                    poller.poll()
                };
                self.stall.leave();
                worked | busy
            })
        })
    }

    /// Asks every poller whether the loop may sleep: `None` if one refused (those asked before
    /// it were told [`Poller::woke`]), else the earliest deadline any of them set.
    fn pollers_try_sleep(&self) -> Option<Option<Instant>> {
        self.with_pollers(Some(None), |pollers| {
            let mut deadline: Option<Instant> = None;
            for (asked, poller) in pollers.iter_mut().enumerate() {
                match poller.try_sleep() {
                    Sleep::Allowed => {}
                    Sleep::Until(t) => deadline = Some(deadline.map_or(t, |d| d.min(t))),
                    Sleep::Refused => {
                        pollers[..asked].iter_mut().for_each(|p| p.woke());
                        return None;
                    }
                }
            }
            Some(deadline)
        })
    }

    /// The latest instant until which a poller wants the loop to keep polling (see
    /// [`Poller::busy_until`]), if any does.
    fn pollers_busy_until(&self, now: Instant) -> Option<Instant> {
        self.with_pollers(None, |pollers| {
            pollers.iter_mut().filter_map(|p| p.busy_until(now)).max()
        })
    }

    /// Until when to busy-poll from `now`: the reactor's own window (`busy_poll`, if `own`)
    /// or the latest a poller asks for, whichever ends later, and never past the next timer.
    /// `None` if neither wants any.
    fn busy_poll_end(&self, now: Instant, own: bool) -> Option<Instant> {
        let own = (own && !self.config.busy_poll.is_zero())
            .then(|| now.checked_add(self.config.busy_poll).unwrap_or(now));
        let end = own.max(self.pollers_busy_until(now))?;
        Some(match self.timers.borrow().next_deadline() {
            Some(deadline) => end.min(deadline),
            None => end,
        })
    }

    /// Tells every poller the loop runs again.
    fn pollers_woke(&self) {
        self.with_pollers((), |pollers| pollers.iter_mut().for_each(|p| p.woke()));
    }

    /// Once a period, gives back the pool's empty chunks that the period did not need.
    fn release_idle_memory(&self) {
        let now = coarse_now();
        let next = NEXT_RELEASE.get();
        if now >= next {
            if next != Duration::ZERO {
                ms_alloc::release_idle_chunks();
            }
            NEXT_RELEASE.set(now + RELEASE_PERIOD);
        }
    }

    /// While the pool holds empty chunks, a sleeping core wakes to give back the idle ones.
    fn release_deadline(&self) -> Option<Instant> {
        (ms_alloc::held_empty_chunks() > 0)
            .then(|| Instant::now() + NEXT_RELEASE.get().saturating_sub(coarse_now()))
    }

    /// Wakes (outside every borrow) and gives the scratch vector back.
    fn wake_all(&self, mut wakers: Vec<Waker>) {
        for waker in wakers.drain(..) {
            contain::wake(waker);
        }
        self.wake_scratch.replace(wakers);
    }

    fn has_work(&self) -> bool {
        self.main_woken.get() || !self.run_queue.borrow().is_empty()
    }

    /// Waits for I/O: not at all if work is queued, else until the next timer.
    fn poll_io(&self, now: &LazyNow) -> std::io::Result<()> {
        if self.has_work() {
            // Work is queued and the last look at epoll found nothing: look again only every
            // few turns (each runs at most `TASK_BUDGET` tasks or the time quota), so I/O is
            // still seen within a bounded number of task polls, without a system call per
            // turn while the work is not I/O (cross-core messages, say). Busy I/O keeps a
            // look per turn.
            let skipped = self.skipped_io.get();
            if self.idle_io.get() && skipped + 1 < IO_EVERY_BUSY_TURNS {
                self.skipped_io.set(skipped + 1);
                return Ok(());
            }
        }
        self.skipped_io.set(0);
        let mut timeout = if self.has_work() {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(now.get()))
        };
        // Busy-poll: look for I/O and wakes without sleeping for a while first (never past the
        // next timer), if the reactor is set to, or a poller expects work soon.
        // A poller's wish is asked with a fresh clock (the turn's may be old by now, after its
        // tasks ran); this is the path to sleep, where one clock read is cheap.
        let busy = timeout != Some(Duration::ZERO)
            && (!self.config.busy_poll.is_zero()
                || !self.pollers.borrow().is_empty() && {
                    let now = Instant::now();
                    self.pollers_busy_until(now).is_some_and(|end| end > now)
                });
        if busy {
            // The reactor's own period starts at the first look at the clock (a few spins in):
            // most busy periods end before it, and reading the clock costs more than a spin.
            let mut until: Option<Instant> = None;
            // The inbox and the pollers are looked at on every spin (a load or two each), epoll
            // (a system call) every `EPOLL_EVERY_SPINS` and the clock every
            // `CLOCK_EVERY_SPINS`.
            let mut spins: u32 = 0;
            let mut worked = false;
            loop {
                if self.remote().has_pending() {
                    return Ok(());
                }
                // Pollers' work that woke no task (a cross-core job answered at once, say)
                // keeps the loop spinning, ready for the next message; the idle period that
                // ends the spinning starts again.
                if self.run_pollers() {
                    if self.has_work() {
                        return Ok(());
                    }
                    worked = true;
                }
                let since_epoll = self.spins_since_epoll.get() + 1;
                self.spins_since_epoll.set(since_epoll);
                if since_epoll >= EPOLL_EVERY_SPINS && self.wait_once(Some(Duration::ZERO))? > 0 {
                    return Ok(());
                }
                spins = spins.wrapping_add(1);
                if spins % CLOCK_EVERY_SPINS == 0 {
                    let now = Instant::now();
                    if worked || until.is_none() {
                        worked = false;
                        until = self.busy_poll_end(now, true);
                    } else if until.is_some_and(|end| now >= end) {
                        // The window is over, but a poller may want more (its own window
                        // does not restart without work).
                        until = self.busy_poll_end(now, false);
                    }
                    if until.is_none_or(|end| now >= end) {
                        break;
                    }
                }
                std::hint::spin_loop();
            }
            timeout = self
                .timers
                .borrow()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
        }
        let asked_pollers = timeout != Some(Duration::ZERO);
        if asked_pollers {
            // Each poller arranges to be woken and looks once more (it may refuse, or bound
            // the sleep).
            let Some(deadline) = self.pollers_try_sleep() else {
                return Ok(());
            };
            for deadline in [deadline, self.release_deadline()].into_iter().flatten() {
                let until = deadline.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(until, |t| t.min(until)));
            }
            if timeout != Some(Duration::ZERO) && !self.remote().prepare_to_sleep() {
                // A wake from another thread is pending: take it now, without a syscall. (The
                // turns it starts have work queued, so they poll I/O with a zero timeout.)
                self.pollers_woke();
                return Ok(());
            }
        }
        let sleeping = timeout != Some(Duration::ZERO);
        let result = self.wait_once(timeout);
        if sleeping {
            self.remote().woke();
            add(&self.counters.sleeps, 1);
        }
        if asked_pollers {
            self.pollers_woke();
        }
        result.map(drop)
    }

    /// One `epoll_wait`, dispatching what it returns; returns the number of events.
    fn wait_once(&self, timeout: Option<Duration>) -> std::io::Result<usize> {
        let mut events = self.events.take();
        let result = self.epoll.wait(&mut events, timeout);
        add(&self.counters.epoll_waits, 1);
        let n = events.len();
        self.idle_io.set(n == 0);
        self.spins_since_epoll.set(0);
        let mut wakers = self.wake_scratch.take();
        let mut io_events = 0;
        for event in &events {
            let (token, bits) = (event.u64, event.events);
            if token == DOORBELL_TOKEN {
                if let Err(e) = self.remote().doorbell().drain() {
                    // Reading an eventfd fails only if it is broken; keep dispatching the
                    // other events rather than lose them.
                    eprintln!("ms-reactor: cannot drain the doorbell: {e}");
                }
            } else {
                io_events += 1;
                self.io.borrow_mut().dispatch(token, bits, &mut wakers);
            }
        }
        self.events.replace(events);
        add(&self.counters.io_events, io_events);
        self.wake_all(wakers);
        result.map(|_| n)
    }

    pub(crate) fn io(&self) -> &Io {
        &self.io
    }

    pub(crate) fn epoll(&self) -> &Epoll {
        &self.epoll
    }

    /// Runs `main` to completion, with everything spawned on this core.
    pub(crate) fn block_on<F: Future>(&self, main: F) -> F::Output {
        struct Current(*const Core);
        impl Drop for Current {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        // Check before setting: a refused nested call must leave the running core in place
        // (its panic may be caught by the outer reactor's task, which then runs on).
        assert!(
            CURRENT.with(Cell::get).is_null(),
            "block_on called inside a running reactor: nested event loops would starve it"
        );
        let previous = CURRENT.with(|c| c.replace(self));
        let _restore = Current(previous);
        let _stall = self.stall.running();
        let mut main = pin!(main);
        let main_waker: Waker = waker::waker(Key::new(self.id, MAIN_SLOT, 0));
        self.main_woken.set(true);
        loop {
            if self.main_woken.replace(false) {
                self.stall.enter(stall::MAIN, None);
                let poll = {
                    let _budget = coop::start(self.config.time_quota);
                    main.as_mut().poll(&mut Context::from_waker(&main_waker))
                };
                self.stall.leave();
                if let Poll::Ready(output) = poll {
                    return output;
                }
            }
            // The turn's start time serves the timers too: it can only fire them later, never
            // early, and a turn is short (the time quota).
            let now = LazyNow::default();
            if !self.run_queue.borrow().is_empty() {
                self.run_tasks(now.get());
            }
            self.drain_inbox();
            self.run_pollers();
            if self.timers.borrow().next_deadline().is_some() {
                self.fire_timers(now.get());
            }
            self.release_idle_memory();
            if let Err(e) = self.poll_io(&now) {
                // epoll_wait fails only on programming errors (a bad fd or buffer); say so and
                // keep the loop alive rather than spin on the error.
                eprintln!("ms-reactor: epoll_wait failed: {e}");
            }
            self.drain_inbox();
        }
    }

    // ===== timers =====

    pub(crate) fn timers(&self) -> &RefCell<Timers> {
        &self.timers
    }

    pub(crate) fn remove_timer(&self, id: TimerId) {
        let waker = self.timers.borrow_mut().remove(id);
        drop(waker); // outside the borrow
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Give the index back first, so a panicking task drop below cannot leak it; wakes
        // raised while the tasks drop are refused by the closed inbox.
        waker::unregister(self.id);
        let last = CORES
            .try_with(|cores| {
                let mut cores = cores.borrow_mut();
                cores.retain(|(core, _)| *core != self.id);
                cores.is_empty()
            })
            .unwrap_or(true);
        if last {
            ms_alloc::set_hold_empty_chunks(false);
        }
        // Cancel every task (their handles resolve to Cancelled), outside the borrow.
        let tasks: Vec<TaskRef> = {
            let mut tasks = self.tasks.borrow_mut();
            tasks
                .slots
                .iter_mut()
                .filter_map(|s| s.task.take())
                .collect()
        };
        for task in &tasks {
            task.cancel();
        }
        drop(tasks);
        // A poller's drop is user code: one that panics must not unwind out of this drop.
        let pollers = self
            .pollers
            .take()
            .into_iter()
            .chain(self.added_pollers.take());
        for poller in pollers {
            contain::run("a poller's drop", move || drop(poller));
        }
    }
}

impl Core {
    /// Counts a task's panic on the core running on this thread.
    pub(crate) fn count_panic() {
        Core::with_current(|core| {
            if let Some(core) = core {
                add(&core.counters.tasks_panicked, 1);
            }
        });
    }
}

/// Wakes task `key` through the core running on this thread, if it is that task's reactor.
pub(crate) fn wake_local(key: Key) -> bool {
    Core::with_current(|core| match core {
        Some(core) if core.owns(key) => {
            if core.schedule(key) {
                add(&core.counters.local_wakes, 1);
            }
            true
        }
        _ => false,
    })
}

/// The message of a caught panic: its payload if that is a string, a placeholder otherwise.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
/// assert_eq!(ms_reactor::panic_message(&*payload), "boom");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
