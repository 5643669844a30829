//! [`MeshStats`]: what one shard's mesh has carried, read with [`mesh_stats`].

/// Counters of the mesh traffic of one shard since it started. Only messages between two
/// different shards count: work a shard submits to itself never enters the mesh.
///
/// A [`submit_to`](crate::submit_to) to another shard is two messages: the request, and the
/// reply the target sends back. A [`send_to`](crate::send_to), or a
/// [`Foreign`](crate::Foreign) dropped away from home, is one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Messages this shard sent to other shards.
    pub sent: u64,
    /// Messages from other shards that this shard ran.
    pub received: u64,
    /// Messages that found the lane to their target full when their batch was published, so
    /// they waited in this shard's backlog (each counted once): a sign that the target falls
    /// behind.
    pub lane_full: u64,
    /// Doorbells rung: wakes of another shard's mesh poller that had parked. Sends to a shard
    /// that is busy, and all but one of a batch of sends, ring nothing, so this stays well
    /// below `sent` under load.
    pub wakes: u64,
    /// Replies this shard awaits now: [`submit_to`](crate::submit_to) requests sent to other
    /// shards whose reply has not come back yet (a dropped `submit_to` future counts until
    /// its reply has come back). While any is due, an idle shard keeps polling for a while
    /// before it sleeps (see [`Builder::reply_poll`](crate::Builder::reply_poll)).
    pub replies_due: u64,
    /// Messages to a shard that had ended (its future panicked, or the engine is tearing
    /// down): refused when sent, or taken back from its lane, and dropped on this shard. A
    /// [`submit_to`](crate::submit_to) among them resolves as
    /// [`JoinError::Cancelled`](ms_reactor::JoinError::Cancelled).
    pub undeliverable: u64,
    /// Panics caught in messages this shard ran (a [`send_to`](crate::send_to) job, say) or
    /// dropped, each reported on stderr. A panic in a [`submit_to`](crate::submit_to)'s work
    /// is not counted here: it comes back to the caller as
    /// [`JoinError::Panicked`](ms_reactor::JoinError::Panicked).
    pub panics: u64,
    /// Requests that reached this shard after their caller had dropped the
    /// [`submit_to`](crate::submit_to) future: dropped here without running.
    pub cancelled: u64,
    /// Requests that reached this shard after their deadline
    /// ([`SubmitOptions::deadline`](crate::SubmitOptions::deadline)): dropped here without
    /// running, answered with [`JoinError::TimedOut`](ms_reactor::JoinError::TimedOut).
    pub expired: u64,
    /// Messages in this shard's backlogs now: sent, but not yet in their lane (it was full,
    /// or they wait for the end of the batch). Unbounded unless the senders use a
    /// [`ServiceGroup`](crate::ServiceGroup).
    pub backlog: u64,
    /// The most messages this shard's backlogs have held at once.
    pub backlog_peak: u64,
}

/// The mesh counters of the shard running on this thread.
///
/// # Panics
///
/// Outside an engine shard.
///
/// # Examples
///
/// ```
/// ms_engine::Engine::builder().shards(2).pin(false).run(|| async {
///     if ms_engine::shard_id() == 0 {
///         ms_engine::submit_to(1, || async {}).await.unwrap();
///         let stats = ms_engine::mesh_stats();
///         assert_eq!((stats.sent, stats.received), (1, 1)); // the request, and its reply
///         assert_eq!(stats.replies_due, 0);
///         ms_engine::stop();
///     }
///     ms_engine::stopped().await;
/// }).unwrap();
/// ```
pub fn mesh_stats() -> MeshStats {
    crate::mesh::stats()
}
