//! Helpers shared by ms-engine's integration tests.

/// `n`, divided by `MS_STRESS_DIVISOR` when set (valgrind runs set 100), at least one: the
/// size of a stress test's work.
pub(crate) fn scaled(n: u64) -> u64 {
    let divisor = std::env::var("MS_STRESS_DIVISOR")
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (n / divisor).max(1)
}
