//! `http_server`: HTTP/1.1 on every shard, one `SO_REUSEPORT` listener per shard.
//!
//! `GET /` and `GET /plaintext` answer `Hello, World!` (the TechEmpower plaintext test);
//! `GET /stats` answers every shard's counters in the Prometheus text format; `POST /echo`
//! answers its body. Keep-alive and pipelining: every answer produced from one read leaves in
//! one write. Stops in order on `SIGINT`/`SIGTERM` and exits 0.
//!
//! ```text
//! cargo run --release -p ms-examples --bin http_server -- --port 8080 --shards 2
//! curl http://127.0.0.1:8080/
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ms_examples::cli::ServerArgs;
use ms_examples::http::{self, Config};

/// HTTP/1.1 server on Mini-SeaStar: one shard per core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Close connections with no complete request for this many milliseconds.
    #[arg(long, default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Connections served at once per shard.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Request bodies up to this many bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (grace, idle, max_connections, max_body) = (
        args.server.grace(),
        Duration::from_millis(args.idle_timeout_ms),
        args.max_connections,
        args.max_body,
    );
    args.server.run("http_server", move |addr, ready| {
        let mut config = Config::new(addr);
        config.grace = grace;
        config.max_connections = max_connections;
        config.limits.idle_timeout = idle;
        config.limits.max_body = max_body;
        http::serve_shard(config, move || ready.shard_ready())
    })
}
