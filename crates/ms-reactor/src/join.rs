//! [`JoinHandle`] and [`JoinError`]: the result of a spawned task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::Core;
use crate::task::{OutputRef, State};

/// Why a task has no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked; the message is the panic's payload if it was a string.
    Panicked(String),
    /// The task was aborted (or its reactor was dropped) before it finished.
    Cancelled,
    /// The work did not start before its deadline, so it never ran (ms-engine's
    /// `submit_to_with` with a deadline).
    TimedOut,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(message) => write!(f, "task panicked: {message}"),
            Self::Cancelled => f.pad("task cancelled"),
            Self::TimedOut => f.pad("task timed out before it started"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The handle of a spawned task: await it for the task's output, [`abort`](Self::abort) it,
/// or drop it to detach the task (which then runs to completion on its own).
///
/// # Examples
///
/// ```
/// let reactor = ms_reactor::Reactor::new().unwrap();
/// let answer = reactor.block_on(async {
///     let handle = ms_reactor::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
#[must_use = "dropping a JoinHandle detaches the task; use `let _ =` to say so"]
pub struct JoinHandle<T> {
    pub(crate) task: OutputRef<T>,
}

impl<T> JoinHandle<T> {
    /// Stops the task: it is dropped at once (or, if it is the task running now, when its
    /// current poll returns) and this handle resolves to [`JoinError::Cancelled`]. Aborting a
    /// finished task does nothing.
    pub fn abort(&self) {
        let header = self.task.header();
        if header.state() == State::Finished {
            return;
        }
        let key = self.task.key();
        let done = Core::with_current(|core| match core {
            Some(core) if core.owns(key) => {
                core.abort(key);
                true
            }
            _ => false,
        });
        if !done {
            // Its reactor is not the one running now, but it lives on this thread (a task never
            // leaves it), idle: abort through it directly. If it is gone, it cancelled the task
            // when it was dropped.
            if let Some(core) = Core::on_this_thread(key.reactor()) {
                core.abort(key);
            }
        }
    }

    /// Where the task was spawned: the caller of [`spawn`](crate::spawn) or
    /// [`Reactor::spawn`](crate::Reactor::spawn), as its stall and panic reports name it.
    pub fn spawned_at(&self) -> &'static std::panic::Location<'static> {
        self.task.header().spawned_at()
    }

    /// Whether the task has finished (its output, or its error, is ready).
    pub fn is_finished(&self) -> bool {
        self.task.header().state() == State::Finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.task.poll_output(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
