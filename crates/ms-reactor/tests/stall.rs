//! The live stall detector: a task stuck in one poll is reported while it is stuck, with its
//! thread's backtrace, once; a reactor with the detector off and one running short polls never
//! are. Nothing is timed: each spinner stops as soon as the report it waits for arrives (a 10 s
//! bound only guards against a hang), and the assertions count reports.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use ms_reactor::{Reactor, StallReport, StalledIn, Stats};

/// Every report, from the hook.
static REPORTS: Mutex<Vec<StallReport>> = Mutex::new(Vec::new());
/// One test at a time: each spins a core or two, and the machine may have only two.
static SERIAL: Mutex<()> = Mutex::new(());
/// How long a spinner waits for a report before it gives up (only a guard against hangs).
const GIVE_UP: Duration = Duration::from_secs(10);
const THRESHOLD: Duration = Duration::from_millis(25);

/// Sets the hook (once) and takes the test lock.
fn setup() -> MutexGuard<'static, ()> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        ms_reactor::set_stall_hook(Box::new(|report| {
            eprintln!("{report}");
            lock(&REPORTS).push(report.clone());
        }));
    });
    lock(&SERIAL)
}

fn lock<T>(mutex: &'static Mutex<T>) -> MutexGuard<'static, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The reports of the reactor on thread `thread` so far.
fn reports_of(thread: &str) -> Vec<StallReport> {
    lock(&REPORTS)
        .iter()
        .filter(|r| r.thread == thread)
        .cloned()
        .collect()
}

fn caught_live(thread: &str) -> bool {
    reports_of(thread).iter().any(|r| r.live)
}

/// Valgrind runs the test binaries in CI (`cargo xtask valgrind`, which sets no variable of its
/// own, but valgrind preloads its `vgpreload_*` libraries). There the detector works, but
/// symbolizing a backtrace (parsing this binary's debug info) on the emulated CPU takes longer
/// than [`GIVE_UP`], so these tests would fail on the guard, not on the detector.
fn under_valgrind() -> bool {
    std::env::var_os("LD_PRELOAD").is_some_and(|p| p.to_string_lossy().contains("vgpreload"))
}

/// Spins until `done` says so; true if it did before [`GIVE_UP`].
#[inline(never)]
fn spin_here_for_the_stall_test(done: &dyn Fn() -> bool) -> bool {
    let start = Instant::now();
    let mut spins: u64 = 0;
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > GIVE_UP {
            return false;
        }
        spins = std::hint::black_box(spins + 1);
        std::hint::spin_loop();
    }
}

/// Runs a reactor on a thread named `name`, whose only task spins (after `ready`, if any,
/// lets it) until `done`; returns whether `done` came before the guard, and the stats.
fn spin_on_thread(
    name: &'static str,
    detector: bool,
    ready: Option<&'static Barrier>,
    done: impl Fn() -> bool + Send + 'static,
) -> thread::JoinHandle<(bool, Stats)> {
    thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let reactor = Reactor::builder()
                .stall_threshold(THRESHOLD)
                .stall_detector(detector)
                .build()
                .unwrap();
            let task = reactor.spawn(async move {
                if let Some(ready) = ready {
                    ready.wait();
                }
                spin_here_for_the_stall_test(&done)
            });
            let done = reactor.block_on(task).unwrap();
            (done, reactor.stats())
        })
        .unwrap()
}

#[test]
fn a_spinning_task_is_reported_while_it_spins_with_its_backtrace_once() {
    let _serial = setup();
    if under_valgrind() {
        eprintln!("skipped under valgrind: symbolizing a backtrace there outlasts the 10 s guard");
        return;
    }
    const NAME: &str = "stall-spinner";
    let spinner = spin_on_thread(NAME, true, None, || caught_live(NAME));
    let (caught_while_spinning, stats) = spinner.join().unwrap();
    assert!(
        caught_while_spinning,
        "no live report within {GIVE_UP:?} of spinning"
    );

    let reports = reports_of(NAME);
    assert_eq!(
        reports.len(),
        1,
        "one report, not one more when the poll ended"
    );
    let report = &reports[0];
    assert!(report.live);
    assert_eq!(report.threshold, THRESHOLD);
    match report.stalled_in {
        StalledIn::Task { spawned_at } => assert_eq!(spawned_at.file(), file!()),
        other => panic!("stalled in {other:?}, not a task"),
    }
    let frames = report
        .backtrace
        .as_ref()
        .expect("a live report has a backtrace");
    assert!(
        frames.iter().any(|f| f
            .name
            .as_deref()
            .is_some_and(|n| n.contains("spin_here_for_the_stall_test"))),
        "the spinning function is on the captured stack: {report}"
    );

    assert_eq!(stats.stalls_caught_live, 1);
    assert_eq!(stats.stalls, 1, "the poll ended past the threshold too");
}

#[test]
fn a_reactor_with_the_detector_off_is_never_caught() {
    let _serial = setup();
    if under_valgrind() {
        eprintln!("skipped under valgrind: symbolizing a backtrace there outlasts the 10 s guard");
        return;
    }
    const OFF: &str = "stall-off";
    const WITNESS: &str = "stall-off-witness";
    static STARTED: Barrier = Barrier::new(2);
    static WITNESS_DONE: AtomicBool = AtomicBool::new(false);
    // The reactor without the detector spins from before the witness starts until the
    // detector has caught the witness: it was stuck at least as long.
    let off = spin_on_thread(OFF, false, Some(&STARTED), || {
        WITNESS_DONE.load(Ordering::Acquire)
    });
    STARTED.wait();
    let witness = spin_on_thread(WITNESS, true, None, || caught_live(WITNESS));
    let (witness_caught, _) = witness.join().unwrap();
    WITNESS_DONE.store(true, Ordering::Release);
    let (_, stats) = off.join().unwrap();
    assert!(witness_caught, "the detector was running");

    assert_eq!(stats.stalls_caught_live, 0);
    assert_eq!(stats.stalls, 1, "still counted when the poll ended");
    let reports = reports_of(OFF);
    assert_eq!(
        reports.len(),
        1,
        "reported when the poll ended: {reports:?}"
    );
    assert!(!reports[0].live);
    assert!(reports[0].backtrace.is_none());
}

#[test]
fn short_polls_are_never_reported() {
    let _serial = setup();
    if under_valgrind() {
        eprintln!("skipped under valgrind: symbolizing a backtrace there outlasts the 10 s guard");
        return;
    }
    const SHORT: &str = "stall-short";
    const WITNESS: &str = "stall-short-witness";
    static WITNESS_DONE: AtomicBool = AtomicBool::new(false);
    // Many short polls while the detector watches (it caught the witness meanwhile, so it
    // looked at this reactor every half threshold). A generous threshold: a short poll that
    // the OS preempts on a busy machine is still short.
    let short = thread::Builder::new()
        .name(SHORT.into())
        .spawn(|| {
            let reactor = Reactor::builder()
                .stall_threshold(Duration::from_millis(500))
                .build()
                .unwrap();
            let start = Instant::now();
            reactor.block_on(async {
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        ms_reactor::spawn(async move {
                            while !WITNESS_DONE.load(Ordering::Acquire) && start.elapsed() < GIVE_UP
                            {
                                ms_reactor::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
            reactor.stats()
        })
        .unwrap();
    let witness = spin_on_thread(WITNESS, true, None, || caught_live(WITNESS));
    let (witness_caught, _) = witness.join().unwrap();
    WITNESS_DONE.store(true, Ordering::Release);
    let stats = short.join().unwrap();
    assert!(witness_caught, "the detector was running");

    assert!(stats.tasks_polled > 4, "the tasks yielded: {stats:?}");
    assert_eq!(stats.stalls_caught_live, 0);
    assert_eq!(stats.stalls, 0);
    assert_eq!(reports_of(SHORT).len(), 0);
}
