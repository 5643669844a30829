//! The HTTP/1.1 server of the `http_server` program: [`serve_shard`] runs one shard's
//! listener; [`request`] frames requests, [`batch`] answers what was read, [`response`]
//! writes answers, [`stats`] counts.

pub mod batch;
mod conn;
pub mod request;
pub mod response;
pub mod stats;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub use conn::Limits;

/// One shard's server settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The address every shard listens on (`SO_REUSEPORT`).
    pub addr: SocketAddr,
    /// Connections served at once per shard; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long connections may finish their requests after a stop.
    pub grace: Duration,
    /// Per-connection limits.
    pub limits: Limits,
}

impl Config {
    /// The defaults on `addr`: 10,000 connections a shard, a 10 s grace period, a 60 s idle
    /// timeout and 1 MiB bodies.
    pub fn new(addr: SocketAddr) -> Config {
        Config {
            addr,
            max_connections: 10_000,
            grace: Duration::from_secs(10),
            limits: Limits {
                idle_timeout: Duration::from_secs(60),
                max_body: 1 << 20,
            },
        }
    }
}

/// Binds this shard's listener on `config.addr`, calls `bound()`, then serves until the
/// engine stops ([`ms_engine::stopped`]), then lets connections finish within the grace
/// period.
///
/// # Errors
///
/// The bind's error, or a fatal listener error.
pub async fn serve_shard(config: Config, bound: impl FnOnce()) -> io::Result<()> {
    let listener = ms_net::TcpListener::bind(config.addr)?;
    bound();
    let limits = config.limits;
    ms_net::Server::new(listener)
        .max_connections(config.max_connections)
        .grace(config.grace)
        .run(ms_engine::stopped(), move |stream, _peer, shutdown| {
            conn::handle(stream, shutdown, limits)
        })
        .await
}
