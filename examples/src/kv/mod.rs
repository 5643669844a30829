//! The sharded Redis-compatible key-value server of the `kv` program: RESP2 on every shard;
//! each key lives on the shard its hash picks ([`command::shard_of`]), and commands for keys
//! elsewhere travel there with `submit_to`.
//!
//! [`resp`] reads commands and writes replies, [`store`] holds one shard's keys, [`command`]
//! routes and executes.

pub mod command;
mod conn;
pub mod resp;
pub mod store;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often each shard removes expired keys that nobody reads.
pub const EXPIRY_PERIOD: Duration = Duration::from_millis(100);

/// One shard's server settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The address every shard listens on (`SO_REUSEPORT`).
    pub addr: SocketAddr,
    /// Protocol limits.
    pub limits: resp::Limits,
    /// Connections served at once per shard.
    pub max_connections: usize,
    /// How long busy connections may finish after a stop.
    pub grace: Duration,
}

/// Binds this shard's listener, calls `bound()`, starts the shard's expiry task, and serves
/// until the engine stops.
///
/// # Errors
///
/// The bind's error, or a fatal listener error.
pub async fn serve_shard(config: Config, bound: impl FnOnce()) -> io::Result<()> {
    let listener = ms_net::TcpListener::bind(config.addr)?;
    bound();
    let expiry = ms_reactor::spawn(async {
        let mut tick = ms_reactor::interval(EXPIRY_PERIOD);
        loop {
            tick.tick().await;
            command::with_store(|store| store.collect_expired(Instant::now()));
        }
    });
    let limits = config.limits;
    let served = ms_net::Server::new(listener)
        .max_connections(config.max_connections)
        .grace(config.grace)
        .run(ms_engine::stopped(), move |stream, _peer, shutdown| {
            conn::handle(stream, shutdown, limits)
        })
        .await;
    expiry.abort();
    served
}
