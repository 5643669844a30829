//! Programs built on Mini-SeaStar, and the code they share.
//!
//! The programs (run them with `cargo run --release -p ms-examples --bin NAME -- --help`):
//!
//! - `http_server`: HTTP/1.1 on every shard, keep-alive and pipelining, `GET /` answers
//!   `Hello, World!` and `GET /stats` the per-shard counters in the Prometheus text format.
//! - `echo`: a TCP echo server.
//! - `kv`: a sharded Redis-compatible key-value server (RESP2; `redis-cli` and
//!   `redis-benchmark` work against it).
//! - `loadgen`: a load generator for HTTP, echo and Redis servers, on the framework itself,
//!   with latency percentiles.
//!
//! Each server prints `listening on ADDR` on its first line of standard output once every
//! shard accepts connections, and stops in order on `SIGINT` or `SIGTERM`.

pub mod ascii;
pub mod cli;
pub mod date;
pub mod echo;
pub mod http;
pub mod kv;
pub mod loadgen;
