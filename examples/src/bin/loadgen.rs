//! `loadgen`: a load generator for HTTP, echo and Redis servers, built on Mini-SeaStar.
//!
//! ```text
//! cargo run --release -p ms-examples --bin loadgen -- --addr 127.0.0.1:8080 \
//!     --connections 64 --duration-secs 10
//! cargo run --release -p ms-examples --bin loadgen -- --addr 127.0.0.1:6379 \
//!     --protocol redis --command "SET key value" --depth 16 --requests 1000000
//! ```
//!
//! Prints a progress line each second on stderr, then the summary (or, with `--json`, one
//! JSON object) on stdout. Exits 1 if any request failed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ms_examples::cli::CpuList;
use ms_examples::loadgen::{self, Config, Length, Protocol};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Http,
    Echo,
    Redis,
}

/// Load generator for HTTP, echo and Redis servers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The protocol.
    #[arg(long, value_enum, default_value_t = Mode::Http)]
    protocol: Mode,
    /// Connections in all.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Requests in flight per connection (pipelining depth).
    #[arg(long, short = 'd', default_value_t = 1)]
    depth: usize,
    /// Run for this many seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0, conflicts_with = "requests")]
    duration_secs: f64,
    /// Send this many requests instead of running for a duration.
    #[arg(long, short = 'n')]
    requests: Option<u64>,
    /// Requests per second in all (default: as fast as answers come).
    #[arg(long)]
    rate: Option<f64>,
    /// Load for this many seconds before measuring.
    #[arg(long, default_value_t = 0.0)]
    warmup_secs: f64,
    /// HTTP request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// Echo request size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Redis command, words separated by spaces.
    #[arg(long, default_value = "PING")]
    command: String,
    /// Shards (threads) generating load.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// CPUs to pin the shards to, e.g. `1` (default: not pinned).
    #[arg(long)]
    cores: Option<CpuList>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let protocol = match args.protocol {
        Mode::Http => Protocol::Http {
            path: args.path.clone(),
            host: args.addr.to_string(),
        },
        Mode::Echo => Protocol::Echo { size: args.size },
        Mode::Redis => Protocol::Redis {
            command: args.command.split_whitespace().map(String::from).collect(),
        },
    };
    let length = match args.requests {
        Some(n) => Length::Requests(n),
        None => Length::Duration(Duration::from_secs_f64(args.duration_secs.max(0.0))),
    };
    let config = Config {
        addr: args.addr,
        protocol,
        connections: args.connections.max(1),
        depth: args.depth.max(1),
        length,
        rate: args.rate,
        warmup: Duration::from_secs_f64(args.warmup_secs.max(0.0)),
    };
    let quiet = args.quiet;
    let result = loadgen::run(
        config,
        args.shards,
        args.cores.map(|c| c.0),
        move |at, answers, errors| {
            if !quiet {
                eprintln!("[{:>3}s] {answers} req/s, {errors} errors", at.as_secs());
            }
        },
    );
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                println!("{}", report.text());
            }
            if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
