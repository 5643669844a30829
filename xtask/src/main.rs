//! `cargo xtask`: the project's automation, std only.
//!
//! Subcommands:
//! - `bench [--quick]`: the end-to-end HTTP benchmark (ours against tokio and raw epoll).
//! - `bench kv [--quick]`: the kv example against redis-server.
//! - `bench micro [--quick] [FILTER]`: the criterion suite in `benches/`, then a summary table.
//! - `loom [CRATE]`: every crate's `tests/loom.rs` under `--cfg loom`, in its own target dir.
//! - `fuzz [TARGET] [SECONDS]`: cargo-fuzz targets on the stable toolchain.
//! - `valgrind [CRATE...]`: the unsafe crates' test binaries under valgrind memcheck.
//! - `asan`: the unsafe crates' tests under AddressSanitizer.
//! - `soak [SCALE]`: the reliability suite (examples/tests/reliability.rs) in its full form.
//! - `ci`: runs `.ci/run`, so a green `cargo xtask ci` locally means a green CI.

#![allow(missing_docs)]

mod bench;
mod cmd;
mod e2e;
mod fuzz;
mod kvbench;
#[cfg(test)]
mod tidy;
mod valgrind;

use std::env;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  bench [--quick]  the main job: http_server against tokio and raw epoll, each pinned to one
                   core and loaded from the other; table, JSON and SVG under target/xtask-bench
  bench kv [--quick]
                   the kv example against redis-server, pinned, loaded by redis-benchmark
  bench micro [--quick] [FILTER]
                   run the criterion benchmarks (benches/), pinned, and print a summary table
  loom [CRATE]     run the loom model-checking suites (RUSTFLAGS=\"--cfg loom\", release)
  fuzz [TARGET|all] [SECONDS]
                   run cargo-fuzz targets (all by default) for SECONDS each (default 60)
  valgrind [CRATE...]
                   run the test binaries of the crates with unsafe code (or CRATEs) under
                   valgrind memcheck
  asan             the unsafe crates' tests under AddressSanitizer (RUSTC_BOOTSTRAP=1,
                   -Zsanitizer=address, target/asan)
  soak [SCALE]     the reliability suite in its full form (release build, sizes x SCALE,
                   default 100: 200,000 connection cycles, 2M acknowledged SETs, ...)
  ci               run .ci/run, exactly what CI runs (fmt, clippy, tests, docs, loom, ...)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("loom") => loom(args.get(1).map(String::as_str)),
        Some("ci") => ci(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("valgrind") => valgrind::run(&args[1..]),
        Some("asan") => asan(),
        Some("soak") => soak(args.get(1).map(String::as_str)),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs each loom crate's models (unit tests and `tests/*.rs` built with `--cfg loom`), or
/// just `only`'s. A crate is a loom crate when its manifest depends on loom under `cfg(loom)`.
fn loom(only: Option<&str>) -> Result<(), String> {
    let crates = cmd::loom_crates()?;
    if crates.is_empty() {
        return Err("no crate depends on loom under cfg(loom)".into());
    }
    for name in crates.iter().filter(|name| only.is_none_or(|o| o == *name)) {
        eprintln!("xtask: loom models of {name}");
        cmd::cargo(&["test", "-p", name, "--release", "--lib", "--tests"])
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", cmd::root().join("target/loom"))
            .env(
                "LOOM_MAX_PREEMPTIONS",
                env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".into()),
            )
            .run()?;
    }
    Ok(())
}

/// The crates with `unsafe` code whose tests run under AddressSanitizer.
const ASAN_CRATES: [&str; 5] = ["ms-spsc", "ms-alloc", "ms-ptr", "ms-packet", "ms-reactor"];

/// Runs the unsafe crates' unit and integration tests under AddressSanitizer. The stable
/// toolchain builds it with `RUSTC_BOOTSTRAP=1`; std itself is not instrumented, and blocks
/// inside ms-alloc's pools are not poisoned while free, so ASan checks everything but reuse
/// within a pool (valgrind and the model tests cover that).
fn asan() -> Result<(), String> {
    let mut args = vec![
        "test",
        "--target",
        "x86_64-unknown-linux-gnu",
        "--lib",
        "--tests",
    ];
    for name in ASAN_CRATES {
        args.extend(["-p", name]);
    }
    cmd::cargo(&args)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", "-Zsanitizer=address")
        .env("CARGO_TARGET_DIR", cmd::root().join("target/asan"))
        .env("PROPTEST_CASES", "64")
        .run()
}

/// Runs the reliability suite with its sizes multiplied by `scale` (default 100), in release.
fn soak(scale: Option<&str>) -> Result<(), String> {
    let scale = scale.unwrap_or("100");
    if scale.parse::<u32>().map_or(true, |s| s == 0) {
        return Err(format!(
            "soak: SCALE must be a positive number, not `{scale}`"
        ));
    }
    cmd::cargo(&[
        "test",
        "--release",
        "-p",
        "ms-examples",
        "--test",
        "reliability",
        "--",
        "--nocapture",
    ])
    .env("MS_SOAK", scale)
    .run()
}

/// Runs `.ci/run` itself, so the two can never drift apart.
fn ci() -> Result<(), String> {
    cmd::program("bash", &[".ci/run"]).run()
}
