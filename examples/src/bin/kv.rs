//! `kv`: a sharded Redis-compatible key-value server (RESP2) on every shard.
//!
//! ```text
//! cargo run --release -p ms-examples --bin kv -- --port 6380 --shards 2
//! redis-cli -p 6380 SET greeting hello
//! redis-cli -p 6380 GET greeting
//! ```

use std::process::ExitCode;

use clap::Parser;
use ms_examples::cli::ServerArgs;
use ms_examples::kv::{self, resp::Limits};

/// Redis-compatible key-value server on Mini-SeaStar: keys sharded over the cores.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The longest bulk string accepted, in bytes (Redis's proto-max-bulk-len).
    #[arg(long, default_value_t = 64 << 20)]
    max_bulk: usize,
    /// Connections served at once per shard.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limits = Limits {
        max_bulk: args.max_bulk,
        ..Limits::default()
    };
    let (grace, max_connections) = (args.server.grace(), args.max_connections);
    args.server.run("kv", move |addr, ready| {
        let config = kv::Config {
            addr,
            limits,
            max_connections,
            grace,
        };
        kv::serve_shard(config, move || ready.shard_ready())
    })
}
