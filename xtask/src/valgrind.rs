//! `cargo xtask valgrind [CRATE...]`: runs the test binaries of the crates with unsafe memory
//! code under valgrind memcheck, failing on any error or definite leak.
//!
//! For each crate (by default [`CRATES`]), `cargo test -p CRATE --no-run --message-format=json`
//! builds the unit and integration test binaries and names them; each then runs under
//! `valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite` (showing
//! only definite leaks: std keeps a few thread records "possibly lost" at exit) with
//! `PROPTEST_CASES=16` and `MS_STRESS_DIVISOR=100` (multi-threaded stress tests run a
//! hundredth of their rounds), so the tests stay quick under the emulator. Doc tests are
//! not binaries and are not run, and neither are `#[ignore]`d tests.
//!
//! Every crate is built with ms-alloc's `valgrind` feature, so the pools mark their free blocks
//! unaddressable and memcheck sees a use after free inside a pool. Before the crates, ms-alloc's
//! `use_after_free` test (natively, with the feature) checks that it does: it runs its own
//! deliberately broken `#[ignore]`d test under valgrind and expects memcheck to fail it.

use std::env;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cmd;

/// The crates checked when none is named.
pub(crate) const CRATES: &[&str] = &[
    "ms-spsc",
    "ms-alloc",
    "ms-ptr",
    "ms-packet",
    "ms-future",
    "ms-reactor",
    "ms-net",
    "ms-engine",
];

/// `valgrind [CRATE...]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let crates: Vec<&str> = if args.is_empty() {
        CRATES.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    cmd::program("valgrind", &["--version"])
        .run()
        .map_err(|e| format!("{e} (is valgrind installed?)"))?;
    let start = Instant::now();
    cmd::cargo(&[
        "test",
        "-p",
        "ms-alloc",
        "--features",
        FEATURE,
        "--test",
        "use_after_free",
    ])
    .run()
    .map_err(|e| format!("memcheck does not see a use after free in a pool: {e}"))?;
    eprintln!(
        "xtask: memcheck caught the use after free in a pool ({:.0?})",
        start.elapsed()
    );
    let mut ran = 0;
    let mut times = Vec::new();
    for name in crates {
        // Selecting ms-alloc too lets `--features` name its feature whether or not `name`
        // depends on it (directly or not); only `name`'s own binaries are run.
        let json = cargo_stdout(&[
            "test",
            "-p",
            name,
            "-p",
            "ms-alloc",
            "--features",
            FEATURE,
            "--no-run",
            "--message-format=json",
        ])?;
        let binaries = executables(&json, name);
        if binaries.is_empty() {
            return Err(format!("{name}: cargo built no test binary"));
        }
        let crate_start = Instant::now();
        for binary in binaries {
            eprintln!("xtask: valgrind {name}: {binary}");
            cmd::program(
                "valgrind",
                &[
                    "--error-exitcode=1",
                    "--leak-check=full",
                    "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite",
                    "--quiet",
                    &binary,
                ],
            )
            .env("PROPTEST_CASES", "16")
            .env("MS_STRESS_DIVISOR", "100")
            .run()?;
            ran += 1;
        }
        times.push((name, crate_start.elapsed()));
    }
    for (name, time) in &times {
        eprintln!("xtask: valgrind {name}: {:.1} s", time.as_secs_f64());
    }
    eprintln!(
        "xtask: {ran} test binaries clean under valgrind ({:.1} s in all, builds included)",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// ms-alloc's feature that marks pool blocks for memcheck, named from any workspace package.
const FEATURE: &str = "ms-alloc/valgrind";

/// Runs `cargo ARGS` from the workspace root with inherited stderr, and returns its stdout.
fn cargo_stdout(args: &[&str]) -> Result<String, String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let shown = format!("{cargo} {}", args.join(" "));
    eprintln!("$ {shown}");
    let output = Command::new(&cargo)
        .args(args)
        .current_dir(cmd::root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{shown}` failed: {}", output.status));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("`{shown}` printed non-UTF-8: {e}"))
}

/// The `"executable"` paths of cargo's `compiler-artifact` messages (one JSON object a line;
/// libraries have `null` there) for the package in folder `crates/<package>`.
fn executables(json: &str, package: &str) -> Vec<String> {
    const KEY: &str = "\"executable\":\"";
    let manifest = format!("/crates/{package}/Cargo.toml\"");
    json.lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .filter(|line| line.contains(&manifest))
        .filter_map(|line| {
            let start = line.find(KEY)? + KEY.len();
            let len = line[start..].find('"')?;
            Some(line[start..start + len].to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_in_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","manifest_path":"/w/crates/ms-alloc/Cargo.toml","target":{"name":"ms_alloc"},"executable":null,"fresh":true}
{"reason":"compiler-artifact","manifest_path":"/w/crates/ms-alloc/Cargo.toml","target":{"name":"edges"},"executable":"/t/debug/deps/edges-1f","fresh":true}
{"reason":"compiler-artifact","manifest_path":"/w/crates/ms-ptr/Cargo.toml","target":{"name":"ms_ptr"},"executable":"/t/debug/deps/ms_ptr-2e","fresh":true}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executables(json, "ms-alloc"), ["/t/debug/deps/edges-1f"]);
        assert_eq!(executables(json, "ms-ptr"), ["/t/debug/deps/ms_ptr-2e"]);
    }
}
