//! CPU affinity: which CPUs the process may use, and pinning a thread to one.

use std::io;

/// The CPUs the calling thread may run on (its affinity mask), in increasing order. Called
/// before any pinning, this is the process's set.
///
/// # Errors
///
/// The OS error of `sched_getaffinity`.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain bits; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size we pass; 0 = this thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits in `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// How many shards an engine runs when none is set: one per CPU the process may use,
/// which is the smaller of its affinity mask and its CPU quota (a cgroup's `cpu.max`, as
/// [`std::thread::available_parallelism`] reads it), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultShards {
    /// The shards: `cpus.min(parallelism)`, at least one.
    pub count: usize,
    /// The CPUs of the affinity mask (see [`allowed_cpus`]).
    pub cpus: usize,
    /// What [`std::thread::available_parallelism`] says (the mask and the CPU quota), or
    /// `cpus` when it cannot tell.
    pub parallelism: usize,
}

impl DefaultShards {
    /// Reads the affinity mask and the quota of this process now.
    ///
    /// # Errors
    ///
    /// The OS error of `sched_getaffinity`.
    ///
    /// # Examples
    ///
    /// ```
    /// let default = ms_engine::cpu::DefaultShards::now().unwrap();
    /// assert!(default.count >= 1 && default.count <= default.cpus);
    /// println!("{default}"); // e.g. "2 shards: 2 CPUs in the affinity mask, parallelism 2"
    /// ```
    pub fn now() -> io::Result<Self> {
        let cpus = allowed_cpus()?.len();
        let parallelism = std::thread::available_parallelism().map_or(cpus, |n| n.get());
        Ok(Self::from_counts(cpus, parallelism))
    }

    fn from_counts(cpus: usize, parallelism: usize) -> Self {
        Self {
            count: cpus.min(parallelism).max(1),
            cpus,
            parallelism,
        }
    }

    /// Whether a CPU quota (not the mask) set the count.
    pub fn limited_by_quota(&self) -> bool {
        self.parallelism < self.cpus
    }
}

impl std::fmt::Display for DefaultShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} shards: {} CPUs in the affinity mask, parallelism {}{}",
            self.count,
            self.cpus,
            self.parallelism,
            if self.limited_by_quota() {
                " (a CPU quota)"
            } else {
                ""
            }
        )
    }
}

/// Pins the calling thread to `cpu`. A failure is an error, never silently ignored.
///
/// # Errors
///
/// `EINVAL` for a CPU outside the machine or the process's mask, or another OS error of
/// `sched_setaffinity`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE`, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size we pass; 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPU the calling thread runs on now.
///
/// # Errors
///
/// The OS error of `sched_getcpu`.
pub fn current_cpu() -> io::Result<usize> {
    // SAFETY: no arguments; returns -1 on error.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).map_err(|_| io::Error::last_os_error())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_default_shard_count_honours_a_cpu_quota() {
        let quota = DefaultShards::from_counts(8, 2);
        assert_eq!(quota.count, 2);
        assert!(quota.limited_by_quota());
        assert!(quota.to_string().contains("(a CPU quota)"), "{quota}");
        let mask = DefaultShards::from_counts(4, 4);
        assert_eq!((mask.count, mask.limited_by_quota()), (4, false));
        assert_eq!(DefaultShards::from_counts(0, 0).count, 1);
    }

    #[test]
    fn pins_to_an_allowed_cpu_and_rejects_others() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        std::thread::spawn(move || {
            pin_current_thread(cpus[0]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), [cpus[0]]);
            assert_eq!(current_cpu().unwrap(), cpus[0]);
            assert!(pin_current_thread(libc::CPU_SETSIZE as usize).is_err());
        })
        .join()
        .unwrap();
    }
}
