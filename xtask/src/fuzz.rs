//! `cargo xtask fuzz [TARGET|all] [SECONDS]`: runs cargo-fuzz targets on the stable toolchain.
//!
//! cargo-fuzz needs nightly-only compiler flags (`-Zsanitizer`); `RUSTC_BOOTSTRAP=1` lets the
//! stable toolchain accept them. Each target runs on its corpus in `fuzz/corpus/TARGET` for
//! SECONDS (default 60); a finding lands in `fuzz/artifacts/TARGET` and fails the command.

use std::fs;

use crate::cmd;

/// Runs one target, or every target in `fuzz/fuzz_targets` for `all` or none.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let seconds: u64 = match args.get(1) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("not a number of seconds: {s}"))?,
        None => 60,
    };
    let targets = match args.first().map(String::as_str) {
        None | Some("all") => targets()?,
        Some(target) => vec![target.to_owned()],
    };
    ensure_cargo_fuzz()?;
    for target in targets {
        let corpus = format!("corpus/{target}");
        fs::create_dir_all(cmd::root().join("fuzz").join(&corpus)).map_err(|e| e.to_string())?;
        eprintln!("xtask: fuzzing {target} for {seconds}s");
        cmd::cargo(&[
            "fuzz",
            "run",
            &target,
            &corpus,
            "--",
            &format!("-max_total_time={seconds}"),
            "-max_len=4096",
            "-rss_limit_mb=4096",
        ])
        .current_dir("fuzz")
        .env("RUSTC_BOOTSTRAP", "1")
        .run()?;
    }
    Ok(())
}

/// The fuzz targets: `fuzz/fuzz_targets/*.rs`, sorted.
fn targets() -> Result<Vec<String>, String> {
    let dir = cmd::root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rs"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Installs cargo-fuzz from crates.io if it is missing.
fn ensure_cargo_fuzz() -> Result<(), String> {
    if cmd::cargo(&["fuzz", "--version"]).quiet().run().is_ok() {
        return Ok(());
    }
    cmd::cargo(&["install", "cargo-fuzz", "--locked"]).run()
}
