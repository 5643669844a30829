//! Running cargo and other programs, and finding the workspace.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// A command with a readable description, run from the workspace root.
pub(crate) struct Cmd {
    inner: Command,
    shown: String,
}

/// `cargo ARGS`, using the cargo that runs us.
pub(crate) fn cargo(args: &[&str]) -> Cmd {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    program(&cargo, args)
}

/// Builds `targets` (cargo's package and target flags) with the `perf` profile, the one the
/// benchmarks measure, and returns the folder the binaries land in.
pub(crate) fn build_perf(targets: &[&str]) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--profile", "perf"];
    args.extend_from_slice(targets);
    cargo(&args).run()?;
    Ok(root().join("target/perf"))
}

/// `PROGRAM ARGS`.
pub(crate) fn program(program: &str, args: &[&str]) -> Cmd {
    let mut inner = Command::new(program);
    inner.args(args).current_dir(root());
    Cmd {
        inner,
        shown: format!("{program} {}", args.join(" ")),
    }
}

impl Cmd {
    /// Sets an environment variable for the command.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    /// Runs it in `dir`, relative to the workspace root.
    pub(crate) fn current_dir(mut self, dir: &str) -> Self {
        self.inner.current_dir(root().join(dir));
        self
    }

    /// Discards its output (for probes such as `--version`).
    pub(crate) fn quiet(mut self) -> Self {
        self.inner
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.shown.insert_str(0, "(quiet) ");
        self
    }

    /// Runs it with inherited stdio; a non-zero exit is an error.
    pub(crate) fn run(mut self) -> Result<(), String> {
        eprintln!("$ {}", self.shown);
        let status = self
            .inner
            .status()
            .map_err(|e| format!("cannot start `{}`: {e}", self.shown))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed: {status}", self.shown))
        }
    }
}

/// Names of the crates under `crates/` whose manifest has a `cfg(loom)` dependency, sorted.
pub(crate) fn loom_crates() -> Result<Vec<String>, String> {
    let dir = root().join("crates");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let manifest = fs::read_to_string(path.join("Cargo.toml")).unwrap_or_default();
        if manifest.contains("[target.'cfg(loom)'.dependencies]") {
            if let Some(crate_name) = path.file_name().and_then(OsStr::to_str) {
                found.push(crate_name.to_owned());
            }
        }
    }
    found.sort();
    Ok(found)
}
