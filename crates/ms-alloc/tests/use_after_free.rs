//! Memcheck sees a use after free inside a pool: this binary runs itself under
//! `valgrind --error-exitcode=1` on a test that reads a freed pool block, and expects memcheck
//! to fail it with "Invalid read", while a control test that reads a live block passes.
//!
//! The two tests run under valgrind are `#[ignore]`d, so neither `cargo test` nor
//! `cargo xtask valgrind` (which runs the binaries without `--ignored`) runs them directly.
//! The check needs the `valgrind` feature (without it the pool does not mark its blocks, and
//! memcheck cannot tell a free block from a live one) and valgrind itself; without either it
//! says why and passes. `cargo xtask valgrind` runs it with the feature on.

use std::env;
use std::process::{Command, Output};

use ms_alloc::Pool;

/// Writes a pool block, frees it, and reads it again.
#[test]
#[ignore = "reads a freed pool block on purpose; memcheck_reports_a_use_after_free runs it"]
fn read_after_free() {
    let slot = Pool::<[u64; 4]>::alloc();
    // SAFETY: a fresh slot, aligned for `[u64; 4]`, freed once on this thread.
    unsafe {
        slot.write([1, 2, 3, 4]);
        Pool::<[u64; 4]>::dealloc(slot);
    }
    // SAFETY: none, in the pool's terms: the block is free, which is what memcheck must
    // report. The memory itself stays allocated (the block's chunk is its class's current
    // chunk, which is never given back while current), so the read does not fault natively.
    let word = unsafe { slot.cast::<u64>().add(2).read_volatile() };
    std::hint::black_box(word);
}

/// The control: the same read while the block is live.
#[test]
#[ignore = "the control of memcheck_reports_a_use_after_free, which runs it under valgrind"]
fn read_before_free() {
    let slot = Pool::<[u64; 4]>::alloc();
    // SAFETY: a fresh slot, aligned for `[u64; 4]`, written before it is read, freed once on
    // this thread after the read.
    unsafe {
        slot.write([1, 2, 3, 4]);
        let word = slot.cast::<u64>().add(2).read_volatile();
        assert_eq!(word, 3);
        Pool::<[u64; 4]>::dealloc(slot);
    }
}

/// Runs the test `name` of this binary alone under memcheck.
fn under_valgrind(name: &str) -> Output {
    let exe = env::current_exe().expect("the test binary's path");
    Command::new("valgrind")
        .args(["--error-exitcode=1", "--quiet"])
        .arg(exe)
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .output()
        .expect("valgrind starts")
}

#[test]
fn memcheck_reports_a_use_after_free() {
    if ms_alloc::running_on_valgrind() {
        eprintln!("skipped: already under valgrind (it runs valgrind itself)");
        return;
    }
    if !cfg!(feature = "valgrind") {
        eprintln!("skipped: needs ms-alloc's `valgrind` feature (cargo xtask valgrind sets it)");
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("skipped: valgrind is not installed");
        return;
    }

    let control = under_valgrind("read_before_free");
    let stderr = String::from_utf8_lossy(&control.stderr);
    assert!(
        control.status.success() && !stderr.contains("Invalid read"),
        "reading a live pool block must pass memcheck: {}\n{stderr}",
        control.status
    );

    let freed = under_valgrind("read_after_free");
    let stderr = String::from_utf8_lossy(&freed.stderr);
    assert!(
        !freed.status.success(),
        "memcheck let a read of a freed pool block pass:\n{stderr}"
    );
    assert!(
        stderr.contains("Invalid read of size 8"),
        "memcheck failed the read of a freed pool block, but not as an invalid read:\n{stderr}"
    );
    assert!(
        stderr.contains("read_after_free"),
        "the invalid read is not the test's own:\n{stderr}"
    );
}
