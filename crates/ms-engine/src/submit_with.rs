//! [`submit_to_with`] and its [`SubmitOptions`]: cross-shard work with a cap on the requests
//! in flight ([`ServiceGroup`]) and a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use ms_reactor::JoinError;

use crate::ServiceGroup;
use crate::mesh::cancel::Ticket;
use crate::submit::{Timed, await_reply, check_shard, send_request, spawn_here};

/// How [`submit_to_with`] sends its work: in a [`ServiceGroup`] or not, with a deadline or
/// not. The default is neither (then it is [`submit_to`](crate::submit_to), sent when first
/// polled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    group: Option<ServiceGroup>,
    deadline: Option<Instant>,
}

impl SubmitOptions {
    /// No group, no deadline.
    pub fn new() -> SubmitOptions {
        SubmitOptions::default()
    }

    /// Sends the request in `group`: it waits for one of the group's units first.
    pub fn group(mut self, group: ServiceGroup) -> SubmitOptions {
        self.group = Some(group);
        self
    }

    /// The work must start by `deadline`: a request still waiting for a unit of its group
    /// then, or that reaches its target after it, is dropped unrun and answered with
    /// [`JoinError::TimedOut`] (counted in the target's
    /// [`MeshStats::expired`](crate::MeshStats::expired)). Work that has started runs to its
    /// end (wrap the future in [`ms_reactor::timeout`] to stop waiting for it).
    pub fn deadline(mut self, deadline: Instant) -> SubmitOptions {
        self.deadline = Some(deadline);
        self
    }

    /// [`deadline`](Self::deadline) `timeout` from now.
    pub fn timeout(self, timeout: Duration) -> SubmitOptions {
        let now = Instant::now();
        self.deadline(
            now.checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(86_400)),
        )
    }
}

/// [`submit_to`](crate::submit_to) with [`SubmitOptions`]: a [`ServiceGroup`] that caps the
/// requests in flight from this shard to `shard`, and a deadline by which the work must start.
/// Unlike `submit_to`, nothing is sent until the future is first polled (it may have to wait
/// for a unit of its group). Dropping the future before the work starts cancels it, as with
/// `submit_to`. On the calling shard itself, the work is spawned (no unit is taken; the
/// deadline still applies).
///
/// # Errors
///
/// As [`submit_to`](crate::submit_to)'s, and [`JoinError::TimedOut`] if the deadline passed
/// before the work started.
///
/// # Panics
///
/// Outside an engine shard, or if `shard` is not below [`shard_count`](crate::shard_count).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ms_engine::SubmitOptions;
///
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         let options = SubmitOptions::new().timeout(Duration::from_secs(5));
///         let answer = ms_engine::submit_to_with(1, options, || async { 42 }).await;
///         assert_eq!(answer, Ok(42));
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub async fn submit_to_with<F, Fut, T>(
    shard: usize,
    options: SubmitOptions,
    make: F,
) -> Result<T, JoinError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    check_shard("submit_to_with", shard);
    let (promise, reply) = ms_future::promise::<Result<T, JoinError>>();
    if shard == crate::shard_id() {
        spawn_here(make, promise, options.deadline);
        return await_reply(reply, None).await;
    }
    let permit = match options.group {
        None => None,
        Some(group) => {
            let unit = group.acquire(shard);
            let unit = match options.deadline {
                None => unit.await,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    ms_reactor::timeout(left, unit)
                        .await
                        .map_err(|_| JoinError::TimedOut)?
                }
            };
            Some(unit)
        }
    };
    let ticket = Ticket::new();
    let admission = Timed {
        mark: ticket.mark(),
        deadline: options.deadline,
    };
    send_request(shard, make, promise, admission, permit);
    await_reply(reply, Some(ticket)).await
}
