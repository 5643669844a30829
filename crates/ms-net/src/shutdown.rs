//! [`Shutdown`]: a one-way, core-local signal that tells connection tasks to wind down.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A core-local stop signal shared by clones: once [`trigger`](Shutdown::trigger)ed, it stays
/// triggered and every [`wait`](Shutdown::wait) resolves.
///
/// A [`Server`](crate::Server) hands one to each connection handler; a handler waiting for
/// the next request races the read against it with [`or_until`](Shutdown::or_until).
///
/// # Examples
///
/// ```
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// reactor.block_on(async {
///     let shutdown = ms_net::Shutdown::new();
///     let waiter = ms_reactor::spawn({
///         let shutdown = shutdown.clone();
///         async move { shutdown.or_until(std::future::pending::<()>()).await }
///     });
///     shutdown.trigger();
///     assert_eq!(waiter.await.unwrap(), None);
///     assert!(shutdown.is_triggered());
/// });
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    state: Rc<State>,
}

#[derive(Default)]
struct State {
    triggered: Cell<bool>,
    /// Waiters' wakers by slot; `free` lists the empty slots.
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Triggers it (again is harmless) and wakes every waiter.
    pub fn trigger(&self) {
        self.state.triggered.set(true);
        let wakers: Vec<Waker> = self
            .state
            .waiters
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether it has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.state.triggered.get()
    }

    /// Resolves once it is triggered.
    pub fn wait(&self) -> Wait {
        Wait {
            state: Rc::clone(&self.state),
            slot: None,
        }
    }

    /// Runs `work` unless the signal comes first: `Some(output)` if `work` finished, `None`
    /// if the signal was (or already had been) triggered. `work` is polled first, so work
    /// that is ready wins.
    pub async fn or_until<F: Future>(&self, work: F) -> Option<F::Output> {
        until(work, self.wait()).await
    }
}

/// Runs `work` unless `stop` resolves first: `Some(output)` if `work` finished, `None` if
/// `stop` did. `work` is polled first, so work that is ready wins.
pub(crate) async fn until<F: Future, S: Future<Output = ()>>(
    work: F,
    stop: S,
) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut stop = std::pin::pin!(stop);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        stop.as_mut().poll(cx).map(|()| None)
    })
    .await
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

/// The future of [`Shutdown::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait {
    state: Rc<State>,
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.triggered.get() {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let mut waiters = this.state.waiters.borrow_mut();
        match this.slot {
            Some(slot) => match &mut waiters[slot] {
                Some(w) if w.will_wake(cx.waker()) => {}
                entry => *entry = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let slot = match this.state.free.borrow_mut().pop() {
                    Some(slot) => {
                        waiters[slot] = waker;
                        slot
                    }
                    None => {
                        waiters.push(waker);
                        waiters.len() - 1
                    }
                };
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.state.waiters.borrow_mut()[slot] = None;
            self.state.free.borrow_mut().push(slot);
        }
    }
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("slot", &self.slot).finish()
    }
}
