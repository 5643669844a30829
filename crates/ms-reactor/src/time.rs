//! Time: [`sleep`], [`sleep_until`], the resettable [`Timer`] they return, [`timeout`] and
//! [`interval`]. All of them use the timers of the reactor running on this thread.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Weak;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::core::Core;
use crate::timers::TimerId;

/// A future that completes at its deadline; made by [`sleep`] or [`sleep_until`].
///
/// It never completes early (the reactor sleeps to the next deadline rounded up to whole
/// milliseconds). [`reset`](Timer::reset) moves the deadline, even after it fired; dropping
/// the timer cancels it, and a cancelled timer never fires.
///
/// Timers must be polled inside a running reactor ([`Reactor::block_on`](crate::Reactor::block_on)).
#[must_use = "a timer does nothing unless awaited"]
pub struct Timer {
    deadline: Instant,
    /// The registration, once polled: the reactor and the timer's id there.
    registered: Option<(Weak<Core>, TimerId)>,
    fired: bool,
}

/// A timer that completes after `duration`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let start = Instant::now();
/// reactor.block_on(ms_reactor::sleep(Duration::from_millis(5)));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
pub fn sleep(duration: Duration) -> Timer {
    sleep_until(deadline_after(duration))
}

/// `now + duration`, or about a century from now if that overflows: a huge duration means
/// "never", not a panic.
fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// A timer that completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Timer {
    Timer {
        deadline,
        registered: None,
        fired: false,
    }
}

impl Timer {
    /// The instant it completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether it has completed (its deadline passed and it was polled, or it fired).
    pub fn is_elapsed(&self) -> bool {
        self.fired
    }

    /// Moves the deadline; a timer that had completed becomes pending again.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.fired = false;
        if let Some((core, id)) = &self.registered {
            if let Some(core) = core.upgrade() {
                core.timers().borrow_mut().reset(*id, deadline);
            }
        }
    }

    fn unregister(&mut self) {
        if let Some((core, id)) = self.registered.take() {
            if let Some(core) = core.upgrade() {
                core.remove_timer(id);
            }
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let here = Core::with_current(|core| {
            core.expect("ms_reactor::Timer polled outside a running reactor")
                .weak()
        });
        // Registered with another reactor (polled there before)? Move it to this one.
        if this
            .registered
            .as_ref()
            .is_some_and(|(owner, _)| !Weak::ptr_eq(owner, &here))
        {
            this.unregister();
        }
        let core = here.upgrade().expect("the running reactor is alive");
        let ready = match this.registered {
            Some((_, id)) => {
                let (fired, same_waker) = {
                    let timers = core.timers().borrow();
                    (timers.has_fired(id), timers.has_waker(id, cx.waker()))
                };
                if !fired && !same_waker {
                    // Clone and drop wakers outside the borrow: both are user code.
                    let new = cx.waker().clone();
                    let old = core.timers().borrow_mut().replace_waker(id, new);
                    drop(old);
                }
                fired
            }
            None if Instant::now() >= this.deadline => true,
            None => {
                let waker = cx.waker().clone();
                let id = core.timers().borrow_mut().insert(this.deadline, waker);
                this.registered = Some((here, id));
                false
            }
        };
        if ready {
            this.fired = true;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("deadline", &self.deadline)
            .field("fired", &self.fired)
            .finish()
    }
}

/// The error of [`timeout`]: the deadline came first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and `future` is dropped).
///
/// # Errors
///
/// [`Elapsed`] if the deadline comes before the output.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ms_reactor::{Elapsed, sleep, timeout};
///
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let slow = reactor.block_on(timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))));
/// assert_eq!(slow, Err(Elapsed));
/// let fast = reactor.block_on(timeout(Duration::from_secs(60), async { 7 }));
/// assert_eq!(fast, Ok(7));
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut timer = sleep(duration);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Ticks every `period`, starting one period from now; see [`Interval`].
///
/// # Panics
///
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        timer: sleep(period),
        period,
    }
}

/// A periodic timer made by [`interval`]. Ticks are at fixed multiples of the period from
/// the start (no drift); ticks missed while the task was busy are skipped, not bunched.
#[derive(Debug)]
pub struct Interval {
    timer: Timer,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        (&mut self.timer).await;
        let tick = self.timer.deadline();
        let now = Instant::now();
        let next = if now < tick + self.period {
            tick + self.period
        } else {
            // Behind: skip to the first multiple of the period after now.
            let period = self.period.as_nanos();
            let late = (now - tick).as_nanos() % period;
            let to_next = u64::try_from(period - late).unwrap_or(u64::MAX);
            now + Duration::from_nanos(to_next)
        };
        self.timer.reset(next);
        tick
    }
}
