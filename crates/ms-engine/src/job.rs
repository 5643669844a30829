//! [`Job`]: a `Send` closure that runs once on another shard, stored inline in its lane slot
//! when it is small (no allocation), boxed otherwise.
//!
//! A boxed closure would be allocated on the sending shard and freed on the receiving one:
//! with the system allocator, that free lands in the sender's arena and every message then
//! pays for cache lines moving between the two cores. Most jobs (a `submit_to` request, a
//! reply) capture a few words, so they travel by value in the lane instead.
//!
//! # Safety
//!
//! `storage` holds a live `F` (inline) or a `Box<F>` (boxed), for the `F` that `op` was
//! instantiated for, until `op` runs or drops it; `op` is then replaced by a no-op.
//!
//! A job is seven words (56 bytes on 64-bit targets), so that in a
//! [stamped](ms_spsc::stamped) lane it shares one cache line with its slot's stamp: a message
//! crosses from core to core as one line.

use std::mem::MaybeUninit;

/// Words of inline storage: closures up to this size (and word-aligned) are not boxed.
const INLINE_WORDS: usize = 6;
/// Bytes of inline storage.
pub(crate) const INLINE_BYTES: usize = INLINE_WORDS * size_of::<usize>();

type Storage = MaybeUninit<[usize; INLINE_WORDS]>;

/// See the module docs.
#[repr(C)]
pub(crate) struct Job {
    storage: Storage,
    /// Runs (`true`) or drops (`false`) the closure; a no-op once it has run.
    op: unsafe fn(*mut Storage, bool),
}

// Seven words (56 bytes on 64-bit targets): a stamped lane slot's line, less its stamp.
const _: () = assert!(size_of::<Job>() == 7 * size_of::<usize>());

// SAFETY: a `Job` is made only from a `Send` closure (`Job::new`), and it owns nothing else.
unsafe impl Send for Job {}

impl Job {
    /// Wraps `f`, inline if it fits.
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Job {
        let mut storage = Storage::uninit();
        if fits::<F>() {
            // SAFETY: `F` fits the storage in size and alignment (`fits`).
            unsafe { storage.as_mut_ptr().cast::<F>().write(f) };
            Job {
                storage,
                op: op_inline::<F>,
            }
        } else {
            // SAFETY: a `Box` is one word.
            unsafe { storage.as_mut_ptr().cast::<Box<F>>().write(Box::new(f)) };
            Job {
                storage,
                op: op_inline::<Box<F>>,
            }
        }
    }

    /// Runs the closure.
    pub(crate) fn run(mut self) {
        // Before the call: if the closure panics, it has already been moved out.
        let op = std::mem::replace(&mut self.op, consumed);
        // SAFETY: the storage holds the closure `op` was made for (module Safety), and the
        // no-op left in its place keeps `Drop` from touching it again.
        unsafe { op(&raw mut self.storage, true) };
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: unless `run` replaced it with the no-op, the storage still holds the closure
        // `op` was made for; it is dropped once.
        unsafe { (self.op)(&raw mut self.storage, false) };
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

/// # Safety
///
/// `storage` holds a live `F`, used never again.
unsafe fn op_inline<F: FnOnce()>(storage: *mut Storage, run: bool) {
    // SAFETY: the caller's contract; the value is moved out or dropped once.
    unsafe {
        if run {
            storage.cast::<F>().read()();
        } else {
            storage.cast::<F>().drop_in_place();
        }
    }
}

/// The `op` of a job whose closure has run.
unsafe fn consumed(_: *mut Storage, _: bool) {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn small_and_large_closures_run_once_or_drop_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let small = {
            let runs = Arc::clone(&runs);
            move || {
                runs.fetch_add(1, Ordering::Relaxed);
            }
        };
        let big_payload = [7u64; 32];
        let large = {
            let runs = Arc::clone(&runs);
            move || {
                runs.fetch_add(usize::try_from(big_payload[31]).unwrap(), Ordering::Relaxed);
            }
        };
        assert!(fits::<fn()>() && !fits::<[u64; 32]>());
        Job::new(small).run();
        Job::new(large).run();
        assert_eq!(runs.load(Ordering::Relaxed), 8);
        // Dropped without running: the captured Arc is released, nothing runs.
        drop(Job::new({
            let runs = Arc::clone(&runs);
            move || {
                runs.fetch_add(100, Ordering::Relaxed);
            }
        }));
        drop(Job::new({
            let runs = Arc::clone(&runs);
            move || {
                let _ = big_payload;
                runs.fetch_add(100, Ordering::Relaxed);
            }
        }));
        assert_eq!(runs.load(Ordering::Relaxed), 8);
        assert_eq!(Arc::strong_count(&runs), 1);
    }
}
