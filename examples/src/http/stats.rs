//! Per-shard counters of the HTTP server, and their Prometheus text rendering for `/stats`.

use std::cell::Cell;
use std::fmt::Write;

/// What one shard's HTTP server has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections closed (by either side, or by the idle timeout).
    pub connections_closed: u64,
    /// Requests answered, errors included.
    pub requests: u64,
    /// Answers with a 4xx status (malformed, too large, not found...).
    pub client_errors: u64,
    /// Answers with a 5xx status.
    pub server_errors: u64,
    /// Connections closed by the idle timeout.
    pub idle_timeouts: u64,
    /// Reads and writes that failed (resets, broken pipes).
    pub io_errors: u64,
    /// Bytes read from clients.
    pub bytes_read: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
}

thread_local! {
    static LIVE: [Cell<u64>; 9] = const { [const { Cell::new(0) }; 9] };
}

/// One counter of this shard.
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum Counter {
    /// See [`Counters::connections_accepted`].
    ConnectionsAccepted,
    /// See [`Counters::connections_closed`].
    ConnectionsClosed,
    /// See [`Counters::requests`].
    Requests,
    /// See [`Counters::client_errors`].
    ClientErrors,
    /// See [`Counters::server_errors`].
    ServerErrors,
    /// See [`Counters::idle_timeouts`].
    IdleTimeouts,
    /// See [`Counters::io_errors`].
    IoErrors,
    /// See [`Counters::bytes_read`].
    BytesRead,
    /// See [`Counters::bytes_written`].
    BytesWritten,
}

/// Adds `n` to one of this shard's counters.
pub fn add(counter: Counter, n: u64) {
    LIVE.with(|live| {
        let cell = &live[counter as usize];
        cell.set(cell.get().wrapping_add(n));
    });
}

/// This shard's counters now.
pub fn snapshot() -> Counters {
    LIVE.with(|live| {
        let get = |c: Counter| live[c as usize].get();
        Counters {
            connections_accepted: get(Counter::ConnectionsAccepted),
            connections_closed: get(Counter::ConnectionsClosed),
            requests: get(Counter::Requests),
            client_errors: get(Counter::ClientErrors),
            server_errors: get(Counter::ServerErrors),
            idle_timeouts: get(Counter::IdleTimeouts),
            io_errors: get(Counter::IoErrors),
            bytes_read: get(Counter::BytesRead),
            bytes_written: get(Counter::BytesWritten),
        }
    })
}

/// One shard's view for `/stats`: its HTTP counters and its reactor's.
#[derive(Debug, Clone, Copy)]
pub struct ShardStats {
    /// The shard's index.
    pub shard: usize,
    /// Its HTTP counters.
    pub http: Counters,
    /// Its reactor's counters.
    pub reactor: ms_reactor::Stats,
    /// Blocks live in its memory pool (ms-alloc), large ones included.
    pub pool_live: usize,
    /// Bytes its memory pool holds from the system.
    pub pool_bytes: usize,
}

impl ShardStats {
    /// The view of the shard running on this thread (shard 0 outside an engine).
    pub fn here() -> ShardStats {
        let pool = ms_alloc::stats();
        ShardStats {
            shard: ms_engine::try_shard_id().unwrap_or(0),
            http: snapshot(),
            reactor: ms_reactor::stats().unwrap_or_default(),
            pool_live: pool.live() + pool.large_live,
            pool_bytes: pool.bytes_held() + pool.large_bytes,
        }
    }
}

/// Renders every shard's counters in the Prometheus text exposition format (version 0.0.4).
///
/// # Examples
///
/// ```
/// use ms_examples::http::stats::{render, ShardStats};
///
/// let text = render(&[ShardStats {
///     shard: 1,
///     http: Default::default(),
///     reactor: Default::default(),
///     pool_live: 0,
///     pool_bytes: 0,
/// }]);
/// assert!(text.contains("# TYPE ms_http_requests_total counter\n"));
/// assert!(text.contains("ms_http_requests_total{shard=\"1\"} 0\n"));
/// ```
pub fn render(shards: &[ShardStats]) -> String {
    type Metric = (
        &'static str,
        &'static str,
        &'static str,
        fn(&ShardStats) -> u64,
    );
    const METRICS: &[Metric] = &[
        (
            "ms_http_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.http.connections_accepted,
        ),
        (
            "ms_http_connections_open",
            "gauge",
            "Connections open now.",
            |s| {
                s.http
                    .connections_accepted
                    .saturating_sub(s.http.connections_closed)
            },
        ),
        (
            "ms_http_requests_total",
            "counter",
            "Requests answered.",
            |s| s.http.requests,
        ),
        (
            "ms_http_client_errors_total",
            "counter",
            "Answers with a 4xx status.",
            |s| s.http.client_errors,
        ),
        (
            "ms_http_server_errors_total",
            "counter",
            "Answers with a 5xx status.",
            |s| s.http.server_errors,
        ),
        (
            "ms_http_idle_timeouts_total",
            "counter",
            "Connections closed for idleness.",
            |s| s.http.idle_timeouts,
        ),
        (
            "ms_http_io_errors_total",
            "counter",
            "Failed reads and writes.",
            |s| s.http.io_errors,
        ),
        (
            "ms_http_read_bytes_total",
            "counter",
            "Bytes read from clients.",
            |s| s.http.bytes_read,
        ),
        (
            "ms_http_written_bytes_total",
            "counter",
            "Bytes written to clients.",
            |s| s.http.bytes_written,
        ),
        (
            "ms_reactor_tasks_spawned_total",
            "counter",
            "Tasks spawned.",
            |s| s.reactor.tasks_spawned,
        ),
        (
            "ms_reactor_tasks_polled_total",
            "counter",
            "Task polls.",
            |s| s.reactor.tasks_polled,
        ),
        (
            "ms_reactor_tasks_panicked_total",
            "counter",
            "Tasks that panicked.",
            |s| s.reactor.tasks_panicked,
        ),
        (
            "ms_reactor_local_wakes_total",
            "counter",
            "Wakes from the shard itself.",
            |s| s.reactor.local_wakes,
        ),
        (
            "ms_reactor_remote_wakes_total",
            "counter",
            "Wakes from other threads.",
            |s| s.reactor.remote_wakes,
        ),
        (
            "ms_reactor_epoll_waits_total",
            "counter",
            "epoll_wait calls.",
            |s| s.reactor.epoll_waits,
        ),
        (
            "ms_reactor_io_events_total",
            "counter",
            "I/O readiness events.",
            |s| s.reactor.io_events,
        ),
        (
            "ms_reactor_timers_fired_total",
            "counter",
            "Timers fired.",
            |s| s.reactor.timers_fired,
        ),
        (
            "ms_reactor_stalls_total",
            "counter",
            "Task polls over the stall threshold.",
            |s| s.reactor.stalls,
        ),
        (
            "ms_pool_live_blocks",
            "gauge",
            "Blocks live in the memory pool.",
            |s| s.pool_live as u64,
        ),
        (
            "ms_pool_held_bytes",
            "gauge",
            "Bytes the memory pool holds.",
            |s| s.pool_bytes as u64,
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in METRICS {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for shard in shards {
            let _ = writeln!(text, "{name}{{shard=\"{}\"}} {}", shard.shard, value(shard));
        }
    }
    text
}
