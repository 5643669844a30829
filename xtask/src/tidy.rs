//! Repository rules, checked by `cargo test -p xtask`: every Rust file opens with `//!` module
//! docs and no line ends in white space.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd;

/// Every `.rs` file of the workspace's own code (not `target/`, not hidden folders).
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "corpus") {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for top in ["crates", "benches", "examples", "xtask", "fuzz"] {
        walk(&cmd::root().join(top), &mut files);
    }
    files
}

#[test]
fn every_rust_file_opens_with_module_docs() {
    let files = rust_files();
    assert!(files.len() > 10, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "files without `//!` docs: {missing:#?}");
}

#[test]
fn no_trailing_white_space() {
    let mut offenders = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                offenders.push(format!("{}:{}", path.display(), number + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "trailing white space: {offenders:#?}");
}
