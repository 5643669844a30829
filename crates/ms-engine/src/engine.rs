//! [`Builder`]: starts one pinned thread per shard, each with its own reactor, runs the same
//! future on every shard, and returns when all of them are done.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::cpu;
use crate::lifecycle::{ExitBarrier, StartGate, StopFlag};
use ms_reactor::panic_message;

/// What every shard of one engine shares: the stop flag and the exit barrier.
struct Shared {
    /// This run's number, unique in the process (see [`Home`]).
    id: u64,
    count: usize,
    stop: StopFlag,
    exit: ExitBarrier,
}

impl Shared {
    /// One more shard has finished its future; the last one releases the barrier.
    fn arrive(&self) {
        self.exit.arrive();
    }

    /// The exit barrier: resolves once every shard has finished its future. Meanwhile this
    /// shard's reactor keeps running, so its mesh still answers the shards that have not (a
    /// `submit_to` to a shard that is done gets its reply, never a hang).
    async fn all_finished(&self) {
        std::future::poll_fn(|cx| self.exit.poll_all_finished(cx)).await;
    }

    fn stop(&self) {
        self.stop.stop();
    }
}

impl crate::signals::Stop for Shared {
    fn stop(&self) {
        Shared::stop(self);
    }
}

/// This thread's shard, while it runs.
struct ShardContext {
    id: usize,
    shared: Arc<Shared>,
}

/// Numbers engine runs; never reused.
static NEXT_ENGINE: AtomicU64 = AtomicU64::new(1);

/// A shard thread's identity: which engine run, which shard. Engine runs are numbered once
/// and start a fresh thread per shard, so one `Home` names one thread for the whole life of
/// the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Home {
    pub(crate) engine: u64,
    pub(crate) shard: usize,
}

thread_local! {
    static SHARD: RefCell<Option<ShardContext>> = const { RefCell::new(None) };
    /// Set when a shard thread starts and kept until it exits (unlike `SHARD`, which ends
    /// with the run), so a value owned by this thread is recognised here even in teardown.
    static HOME: Cell<Option<Home>> = const { Cell::new(None) };
}

/// The shard this thread is (or was), if it is an engine's shard thread.
pub(crate) fn current_home() -> Option<Home> {
    HOME.with(Cell::get)
}

fn with_shard<R>(f: impl FnOnce(&ShardContext) -> R) -> Option<R> {
    SHARD.with(|s| s.borrow().as_ref().map(f))
}

/// The index of the shard running on this thread, in `0..shard_count()`.
///
/// # Panics
///
/// Outside an engine's shard thread (see [`try_shard_id`]).
pub fn shard_id() -> usize {
    try_shard_id().expect("ms_engine::shard_id called outside an engine shard")
}

/// The index of the shard running on this thread, or `None` outside an engine.
pub fn try_shard_id() -> Option<usize> {
    with_shard(|s| s.id)
}

/// The number of shards of the engine running on this thread.
///
/// # Panics
///
/// Outside an engine's shard thread.
pub fn shard_count() -> usize {
    with_shard(|s| s.shared.count).expect("ms_engine::shard_count called outside an engine shard")
}

/// Asks every shard of this engine to stop: [`stopped`] resolves on all of them. Shards end
/// when their futures return, so in-flight work finishes first.
///
/// # Panics
///
/// Outside an engine's shard thread.
pub fn stop() {
    let shared = with_shard(|s| Arc::clone(&s.shared))
        .expect("ms_engine::stop called outside an engine shard");
    shared.stop();
}

/// Resolves once [`stop`] has been called on any shard of this engine.
///
/// # Panics
///
/// When polled outside an engine's shard thread.
pub async fn stopped() {
    let (id, shared) = with_shard(|s| (s.id, Arc::clone(&s.shared)))
        .expect("ms_engine::stopped awaited outside an engine shard");
    std::future::poll_fn(|cx| shared.stop.poll_stopped(id, cx)).await;
}

/// Why an engine run failed.
#[derive(Debug)]
pub enum EngineError {
    /// The process may run on no CPU (an empty affinity mask), or none was given.
    NoCpus,
    /// A shard could not be pinned to its CPU.
    Pin {
        /// The shard.
        shard: usize,
        /// The CPU it was to run on.
        cpu: usize,
        /// `sched_setaffinity`'s error.
        source: io::Error,
    },
    /// A shard's reactor could not be made (e.g. out of file descriptors).
    Reactor {
        /// The shard.
        shard: usize,
        /// The error.
        source: io::Error,
    },
    /// The SIGINT/SIGTERM handler could not be installed.
    Signals(io::Error),
    /// A shard's thread could not be started (the shards started before it ran nothing).
    Spawn {
        /// The shard.
        shard: usize,
        /// The error of `std::thread::Builder::spawn`.
        source: io::Error,
    },
    /// A shard's future panicked (the other shards were asked to stop).
    Panicked {
        /// The shard.
        shard: usize,
        /// The panic message.
        message: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCpus => f.pad("no CPU to run shards on"),
            Self::Pin { shard, cpu, source } => {
                write!(f, "cannot pin shard {shard} to CPU {cpu}: {source}")
            }
            Self::Reactor { shard, source } => {
                write!(f, "cannot start the reactor of shard {shard}: {source}")
            }
            Self::Signals(source) => write!(f, "cannot handle SIGINT/SIGTERM: {source}"),
            Self::Spawn { shard, source } => {
                write!(f, "cannot start the thread of shard {shard}: {source}")
            }
            Self::Panicked { shard, message } => write!(f, "shard {shard} panicked: {message}"),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Pin { source, .. }
            | Self::Reactor { source, .. }
            | Self::Spawn { source, .. }
            | Self::Signals(source) => Some(source),
            _ => None,
        }
    }
}

/// Settings of an engine run; see [`Engine::builder`](crate::Engine::builder).
#[derive(Debug, Clone, Default)]
pub struct Builder {
    shards: Option<usize>,
    cores: Option<Vec<usize>>,
    pin: Option<bool>,
    busy_poll: Duration,
    reply_poll: Option<Duration>,
    ignore_signals: bool,
    time_quota: Option<Duration>,
    stall_threshold: Option<Duration>,
    stall_detector: Option<bool>,
}

/// How long a shard awaiting replies busy-polls before it sleeps, unless set otherwise: long
/// enough to cover waking an idle target shard (tens of microseconds).
pub const DEFAULT_REPLY_POLL: Duration = Duration::from_micros(50);

impl Builder {
    /// Runs `shards` shards (default: one per CPU of [`cores`](Self::cores); without `cores`,
    /// one per CPU the process may use: its affinity mask, or fewer under a CPU quota, see
    /// [`cpu::DefaultShards`], which a quota-limited run reports on stderr).
    pub fn shards(mut self, shards: usize) -> Builder {
        self.shards = Some(shards);
        self
    }

    /// The CPUs shard `i` runs on: `cores[i % cores.len()]` (default: the CPUs of the calling
    /// thread's affinity mask).
    pub fn cores(mut self, cores: Vec<usize>) -> Builder {
        self.cores = Some(cores);
        self
    }

    /// Whether to pin each shard to its CPU (default: yes). A pinning failure is an error.
    pub fn pin(mut self, pin: bool) -> Builder {
        self.pin = Some(pin);
        self
    }

    /// Leaves SIGINT and SIGTERM alone (by default they stop the engine in order: `stopped()`
    /// resolves on every shard, in-flight work finishes, `run` returns).
    ///
    /// Either way, handlers the program installed for them keep running: the engine's action
    /// is chained with them (through `signal-hook-registry`), never put in their place. A
    /// process whose engines all ignore signals never has the action installed.
    pub fn ignore_signals(mut self) -> Builder {
        self.ignore_signals = true;
        self
    }

    /// Each shard reactor's time quota per turn: how long it runs tasks (and mesh messages)
    /// before it looks at I/O and timers again (default: the reactor's, 0.5 ms; see
    /// [`ms_reactor::Builder::time_quota`]).
    pub fn time_quota(mut self, quota: Duration) -> Builder {
        self.time_quota = Some(quota);
        self
    }

    /// A poll that holds a shard longer than this is reported as a stall (default: the
    /// reactor's, 25 ms; see [`ms_reactor::Builder::stall_threshold`]).
    pub fn stall_threshold(mut self, threshold: Duration) -> Builder {
        self.stall_threshold = Some(threshold);
        self
    }

    /// Whether each shard's reactor reports a poll stuck past the stall threshold while it is
    /// stuck, with the thread's backtrace (default: yes; see
    /// [`ms_reactor::Builder::stall_detector`]).
    pub fn stall_detector(mut self, on: bool) -> Builder {
        self.stall_detector = Some(on);
        self
    }

    /// How long an idle shard's reactor busy-polls before it sleeps (default: zero).
    pub fn busy_poll(mut self, duration: Duration) -> Builder {
        self.busy_poll = duration;
        self
    }

    /// How long a shard that awaits replies from other shards ([`submit_to`](crate::submit_to)
    /// and the helpers built on it) keeps polling for them before its reactor sleeps (default:
    /// [`DEFAULT_REPLY_POLL`]; zero turns it off). The window starts when the shard runs out of
    /// work, and starts again after any message it receives or request it sends.
    ///
    /// A reply then lands on a shard that is awake, and the round trip to an idle target pays
    /// one wake (the target's) instead of two. The cost is CPU: a waiting shard spins for up
    /// to this long instead of sleeping, each time it runs out of work with replies due. A
    /// reply that takes long (work that waits on the target) thus costs up to one window per
    /// message the shard receives meanwhile; the window is bounded, so a shard never spins
    /// for long without messages.
    pub fn reply_poll(mut self, duration: Duration) -> Builder {
        self.reply_poll = Some(duration);
        self
    }

    /// Runs `make()` on every shard, each on its own pinned thread and reactor, and returns
    /// when all of them have returned.
    ///
    /// Every shard is pinned and has its reactor before any runs `make`; if one cannot, none
    /// runs it and the error is returned. If one shard's future panics, the others are asked
    /// to [`stop`] and the first error is returned once all have ended.
    ///
    /// # Errors
    ///
    /// See [`EngineError`].
    pub fn run<F, Fut>(self, make: F) -> Result<(), EngineError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (cores, default_count) = match self.cores {
            Some(cores) => {
                let count = cores.len();
                (cores, count)
            }
            None => {
                let cores = cpu::allowed_cpus().map_err(|_| EngineError::NoCpus)?;
                let default = cpu::DefaultShards::now().map_err(|_| EngineError::NoCpus)?;
                if self.shards.is_none() && default.limited_by_quota() {
                    eprintln!("ms-engine: {default}");
                }
                (cores, default.count)
            }
        };
        if cores.is_empty() {
            return Err(EngineError::NoCpus);
        }
        let count = self.shards.unwrap_or(default_count).max(1);
        let pin = self.pin.unwrap_or(true);
        let shared = Arc::new(Shared {
            id: NEXT_ENGINE.fetch_add(1, Ordering::Relaxed),
            count,
            stop: StopFlag::new(count),
            exit: ExitBarrier::new(count),
        });
        if !self.ignore_signals {
            let engine: Arc<dyn crate::signals::Stop> = Arc::clone(&shared) as _;
            crate::signals::register(Arc::downgrade(&engine)).map_err(EngineError::Signals)?;
        }
        let make = Arc::new(make);
        let (ends, signals) = crate::mesh::build(count);
        let mut ends: Vec<Option<crate::mesh::Ends>> = ends.into_iter().map(Some).collect();
        let gate = Arc::new(StartGate::new(count));
        let busy_poll = self.busy_poll;
        let (time_quota, stall_threshold, stall_detector) =
            (self.time_quota, self.stall_threshold, self.stall_detector);
        let reply_poll = self.reply_poll.unwrap_or(DEFAULT_REPLY_POLL);
        let mut threads = Vec::with_capacity(count);
        let mut spawn_error = None;
        for shard in 0..count {
            let cpu = cores[shard % cores.len()];
            let (shared, make, shard_gate) =
                (Arc::clone(&shared), Arc::clone(&make), Arc::clone(&gate));
            let mesh_ends = ends[shard].take().expect("one set of ends per shard");
            let signals = Arc::clone(&signals);
            let spawned = tests::injected_spawn_failure(shard)
                .map_or_else(|| Ok(thread::Builder::new()), Err)
                .and_then(|builder| {
                    builder.name(format!("ms-shard-{shard}")).spawn(
                        move || -> Result<(), EngineError> {
                            let setup = (|| {
                                if pin {
                                    cpu::pin_current_thread(cpu).map_err(|source| {
                                        EngineError::Pin { shard, cpu, source }
                                    })?;
                                }
                                let mut reactor =
                                    ms_reactor::Reactor::builder().busy_poll(busy_poll);
                                if let Some(quota) = time_quota {
                                    reactor = reactor.time_quota(quota);
                                }
                                if let Some(threshold) = stall_threshold {
                                    reactor = reactor.stall_threshold(threshold);
                                }
                                if let Some(on) = stall_detector {
                                    reactor = reactor.stall_detector(on);
                                }
                                reactor
                                    .build()
                                    .map_err(|source| EngineError::Reactor { shard, source })
                            })();
                            let all_ready = shard_gate.arrive(setup.is_ok());
                            let reactor = setup?;
                            if !all_ready {
                                return Ok(()); // another shard failed to start: run nothing
                            }
                            HOME.with(|h| {
                                h.set(Some(Home {
                                    engine: shared.id,
                                    shard,
                                }))
                            });
                            SHARD.with(|s| {
                                *s.borrow_mut() = Some(ShardContext {
                                    id: shard,
                                    shared: Arc::clone(&shared),
                                })
                            });
                            // Everything that runs user code (the future, then the reactor's teardown,
                            // which drops its tasks) runs inside the catch, with the shard context
                            // still set.
                            let arrived = std::cell::Cell::new(false);
                            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                reactor.block_on(async {
                                    crate::mesh::start(
                                        shared.id, shard, mesh_ends, signals, reply_poll,
                                    );
                                    make().await;
                                    arrived.set(true);
                                    shared.arrive();
                                    shared.all_finished().await;
                                    // Services never stopped go now, on their shard, while the
                                    // reactor still runs.
                                    crate::sharded::drop_all();
                                });
                                drop(reactor);
                                crate::mesh::finish();
                            }));
                            if outcome.is_err() {
                                // The other shards must not wait for this one at the barrier, and
                                // what it holds goes now, on its thread, not in thread-local
                                // destructors (where sending a `Foreign` home would abort).
                                if !arrived.get() {
                                    shared.arrive();
                                }
                                let _ = std::panic::catch_unwind(crate::sharded::drop_all);
                                let _ = std::panic::catch_unwind(crate::mesh::finish);
                            }
                            SHARD.with(|s| *s.borrow_mut() = None);
                            outcome.map_err(|payload| {
                                shared.stop();
                                EngineError::Panicked {
                                    shard,
                                    message: panic_message(&*payload),
                                }
                            })
                        },
                    )
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(source) => {
                    // The shards started so far must not wait for this one: they run
                    // nothing, and end.
                    gate.abort();
                    spawn_error = Some(EngineError::Spawn { shard, source });
                    break;
                }
            }
        }
        let mut first_error = spawn_error;
        for (shard, thread) in threads.into_iter().enumerate() {
            let result = thread.join().unwrap_or_else(|payload| {
                shared.stop();
                Err(EngineError::Panicked {
                    shard,
                    message: panic_message(&*payload),
                })
            });
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(not(all(test, not(loom))))]
mod tests {
    /// Never: only the unit tests inject a failure.
    pub(super) fn injected_spawn_failure(_shard: usize) -> Option<std::io::Error> {
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// The shard whose thread `run` on this thread fails to spawn.
        static FAIL_SPAWN_OF: Cell<Option<usize>> = const { Cell::new(None) };
    }

    pub(super) fn injected_spawn_failure(shard: usize) -> Option<io::Error> {
        (FAIL_SPAWN_OF.get() == Some(shard)).then(|| io::Error::other("injected"))
    }

    #[test]
    fn a_shard_thread_that_cannot_start_strands_no_other() {
        let ran = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&ran);
        FAIL_SPAWN_OF.set(Some(2));
        let result = crate::Engine::builder()
            .shards(3)
            .pin(false)
            .ignore_signals()
            .run(move || {
                count.fetch_add(1, Ordering::SeqCst);
                async {}
            });
        FAIL_SPAWN_OF.set(None);
        // Shards 0 and 1 started, passed the aborted gate and ran nothing; `run` returned.
        assert!(
            matches!(result, Err(EngineError::Spawn { shard: 2, .. })),
            "{result:?}"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
