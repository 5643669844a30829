//! `echo`: a TCP echo server on every shard, one `SO_REUSEPORT` listener per shard.
//!
//! ```text
//! cargo run --release -p ms-examples --bin echo -- --port 7000
//! ```

use std::process::ExitCode;

use clap::Parser;
use ms_examples::cli::ServerArgs;

/// TCP echo server on Mini-SeaStar: one shard per core.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let grace = args.server.grace();
    args.server.run("echo", move |addr, ready| {
        ms_examples::echo::serve_shard(addr, grace, move || ready.shard_ready())
    })
}
