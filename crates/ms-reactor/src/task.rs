//! Tasks: a spawned future and, once it finishes, its output, in one pool block shared by the
//! reactor's task table and the task's [`JoinHandle`](crate::JoinHandle).
//!
//! # Representation
//!
//! A task is one ms-alloc block holding a [`Header`] followed by its *stage*: the future `F`
//! while it runs, then its output (or why there is none), then nothing once the handle took
//! it. The header names a static vtable of functions instantiated for `F`, so the table and the
//! handle work on a type-erased `NonNull<Header>`. Spawning is one pool allocation; there is no
//! separate promise for the output.
//!
//! Two references keep the block alive, counted in `Header::refs` (a `Cell`: a task never leaves
//! its thread): the reactor's slot, which it drops when the task finishes or is cancelled, and
//! the [`JoinHandle`](crate::JoinHandle). The last one frees the block.
//!
//! # States
//!
//! `Header::state` is `Pending` (the future is in the stage, idle), `Polling` (the future is
//! being polled or dropped: user code runs) or `Finished` (the stage holds the output, or is
//! empty). The stage is touched only by the functions here, each only in the states it names,
//! and never while user code runs with a reference into it. So a task that aborts or polls its
//! own handle from inside its poll finds `Polling` and leaves the stage alone.
//!
//! # Safety
//!
//! - `Header::vtable` was made for the `F` the block was allocated for (`new`), and each
//!   `NonNull<Header>` used here points to a live block (each holder owns a count).
//! - Blocks are used and freed only on the thread that allocated them: [`TaskRef`] and the
//!   handle are `!Send`.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use ms_alloc::PoolBox;

use crate::contain::drop_payload;
use crate::join::JoinError;
use crate::waker::Key;

/// Where a task is in its life; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Pending,
    Polling,
    Finished,
}

/// The type-erased part of a task.
pub(crate) struct Header {
    vtable: &'static Vtable,
    spawned_at: &'static Location<'static>,
    /// The waker of whoever awaits the handle.
    join_waker: Cell<Option<Waker>>,
    refs: Cell<u8>,
    /// Whether the `JoinHandle` still exists (it will read the output).
    handle_alive: Cell<bool>,
    state: Cell<State>,
    /// An abort arrived while the task was being polled: cancel it when the poll returns.
    aborted: Cell<bool>,
}

/// The functions a task needs, made for one future type.
struct Vtable {
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    cancel: unsafe fn(NonNull<Header>),
    /// Moves the output to `*mut Option<Result<F::Output, JoinError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    release: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The block: the header first, so a pointer to it is a pointer to the header.
#[repr(C)]
struct Block<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

impl Header {
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn set_aborted(&self) {
        self.aborted.set(true);
    }

    /// Wakes whoever awaits the handle.
    fn wake_joiner(&self) {
        if let Some(waker) = self.join_waker.take() {
            // Any waker (user code): called outside the task's poll, so contained here.
            crate::contain::wake(waker);
        }
    }
}

/// The reactor's reference to a task (one count).
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

/// Allocates task `key` running `future`: the reactor's reference and the handle's.
pub(crate) fn new<F>(
    future: F,
    key: Key,
    spawned_at: &'static Location<'static>,
) -> (TaskRef, OutputRef<F::Output>)
where
    F: Future + 'static,
{
    let block = PoolBox::new(Block {
        header: Header {
            vtable: &Vtable {
                poll: poll_raw::<F>,
                cancel: cancel_raw::<F>,
                take_output: take_output_raw::<F>,
                release: release_raw::<F>,
            },
            spawned_at,
            join_waker: Cell::new(None),
            refs: Cell::new(2),
            handle_alive: Cell::new(true),
            state: Cell::new(State::Pending),
            aborted: Cell::new(false),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    let ptr = PoolBox::into_raw(block).cast::<Header>();
    (
        TaskRef { ptr },
        OutputRef {
            ptr,
            key,
            _output: PhantomData,
        },
    )
}

impl TaskRef {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the block alive (module Safety).
        unsafe { self.ptr.as_ref() }
    }

    /// The raw pointer, for polling without holding the table's borrow (see [`poll`]).
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// Drops the future, if it is still pending, and resolves the handle to `Cancelled`.
    pub(crate) fn cancel(&self) {
        cancel(self.ptr);
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        release(self.ptr);
    }
}

/// Polls task `ptr` once, if it is pending; `Ready` once it has finished (or had already). An
/// abort that arrived during the poll cancels the task when the poll returns. A task being
/// polled or cancelled further up the stack (a reentrant call) is left alone: `Pending`.
///
/// # Safety
///
/// `ptr` is a live task of this thread, kept alive by a reference that outlives the call.
pub(crate) unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: live for the call (caller).
    let header = unsafe { ptr.as_ref() };
    match header.state.get() {
        State::Pending => {}
        State::Polling => return Poll::Pending,
        State::Finished => return Poll::Ready(()),
    }
    // SAFETY: the vtable matches the block (module Safety), which is live (caller).
    let poll = unsafe { (header.vtable.poll)(ptr, cx) };
    if poll.is_pending() && header.aborted.get() {
        cancel(ptr);
        return Poll::Ready(());
    }
    poll
}

fn cancel(ptr: NonNull<Header>) {
    // SAFETY: `ptr` is live (module Safety: the caller holds a count).
    let header = unsafe { ptr.as_ref() };
    if header.state.get() == State::Pending {
        // SAFETY: as above; the vtable matches the block.
        unsafe { (header.vtable.cancel)(ptr) };
    }
}

fn release(ptr: NonNull<Header>) {
    // SAFETY: `ptr` is live (module Safety: the caller gives up its count here).
    let header = unsafe { ptr.as_ref() };
    let refs = header.refs.get() - 1;
    header.refs.set(refs);
    if refs == 0 {
        // SAFETY: the last count: nothing else refers to the block; the vtable matches it.
        unsafe { (header.vtable.release)(ptr) };
    }
}

/// The handle's reference to a task with output `T` (one count).
pub(crate) struct OutputRef<T> {
    ptr: NonNull<Header>,
    /// The task's key (kept here, not in the block, so that a small task fits a cache line).
    key: Key,
    _output: PhantomData<T>,
}

impl<T> OutputRef<T> {
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the block alive (module Safety).
        unsafe { self.ptr.as_ref() }
    }

    /// The output, once the task has finished; registers `cx`'s waker otherwise.
    ///
    /// # Panics
    ///
    /// If the output was taken already.
    pub(crate) fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let header = self.header();
        if header.state.get() == State::Finished {
            let mut out: Option<Result<T, JoinError>> = None;
            // SAFETY: the block is live (our count) and was made for a future whose output is
            // `T` (`new` returns the `OutputRef` with that type), so the vtable writes an
            // `Option<Result<T, JoinError>>`.
            unsafe { (header.vtable.take_output)(self.ptr, (&raw mut out).cast()) };
            return Poll::Ready(out.expect("a JoinHandle polled after it returned its output"));
        }
        let old = header.join_waker.take();
        let waker = match old {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        header.join_waker.set(Some(waker));
        Poll::Pending
    }
}

impl<T> Drop for OutputRef<T> {
    fn drop(&mut self) {
        self.header().handle_alive.set(false);
        release(self.ptr);
    }
}

// ===== the functions of a vtable =====

/// Reports a task's panic and returns its message; drops the payload (its `drop` is user code
/// too: contained).
fn panicked(header: &Header, payload: Box<dyn Any + Send>) -> String {
    let message = crate::core::panic_message(&*payload);
    eprintln!(
        "ms-reactor: a task spawned at {} panicked: {message}",
        header.spawned_at
    );
    crate::core::Core::count_panic();
    drop_payload(payload);
    message
}

/// Drops `value` (user code), containing and reporting a panic.
fn drop_contained<V>(header: &Header, value: V) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(move || drop(value))).map_err(|p| panicked(header, p))
}

/// # Safety
///
/// `ptr` is a live block made for `F`, in state `Pending`.
unsafe fn poll_raw<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    let block = ptr.cast::<Block<F>>();
    // SAFETY: a live block made for `F` (caller).
    let header = unsafe { &block.as_ref().header };
    let stage = block_stage(block);
    header.state.set(State::Polling);
    // SAFETY: `Pending` means the stage holds the future and no reference to it exists; the
    // `Polling` state keeps every other function off the stage while the poll runs. The block
    // never moves, so pinning the future in place is sound.
    let polled = catch_unwind(AssertUnwindSafe(|| unsafe {
        let Stage::Running(future) = &mut *stage else {
            unreachable!("a pending task holds its future")
        };
        Pin::new_unchecked(future).poll(cx)
    }));
    let result = match polled {
        Ok(Poll::Pending) => {
            header.state.set(State::Pending);
            return Poll::Pending;
        }
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) => Err(JoinError::Panicked(panicked(header, payload))),
    };
    // SAFETY: still `Polling`, the future in place, and the poll's reference has ended.
    unsafe { finish::<F>(header, stage, result) };
    Poll::Ready(())
}

/// # Safety
///
/// `ptr` is a live block made for `F`, in state `Pending`.
unsafe fn cancel_raw<F: Future>(ptr: NonNull<Header>) {
    let block = ptr.cast::<Block<F>>();
    // SAFETY: a live block made for `F` (caller).
    let header = unsafe { &block.as_ref().header };
    header.state.set(State::Polling);
    // SAFETY: it was `Pending` (caller): the future is in place and nothing refers to it.
    unsafe { finish::<F>(header, block_stage(block), Err(JoinError::Cancelled)) };
}

/// Drops the future and stores `result` for the handle (or drops it, if there is no handle),
/// then wakes whoever awaits it; leaves the task `Finished`.
///
/// # Safety
///
/// `stage` is the stage of `header`'s live block, made for `F`, in state `Polling` with the
/// future still in it and no reference to the stage alive.
unsafe fn finish<F: Future>(
    header: &Header,
    stage: *mut Stage<F>,
    mut result: Result<F::Output, JoinError>,
) {
    // The future is dropped where it was pinned (moving it first would break `Pin`'s promise
    // to self-referential or intrusively linked futures).
    // SAFETY: `Polling` (caller): the stage holds the future and nothing else refers to it
    // while its drop runs user code; it is dropped once, here.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { stage.drop_in_place() }));
    // SAFETY: the old value is gone (an unwinding drop still drops every field), so the write
    // must not drop it again, and a plain write does not.
    unsafe { stage.write(Stage::Consumed) };
    if let Err(payload) = dropped {
        let failed = Err(JoinError::Panicked(panicked(header, payload)));
        let _ = drop_contained(header, std::mem::replace(&mut result, failed));
    }
    if header.handle_alive.get() {
        // SAFETY: as above (the future's drop has returned); no user code runs while this
        // reference lives.
        unsafe { *stage = Stage::Finished(result) };
    } else {
        // Detached: nobody will read it.
        let _ = drop_contained(header, result);
    }
    header.state.set(State::Finished);
    header.wake_joiner();
}

/// # Safety
///
/// `ptr` is a live block made for `F`, in state `Finished`; `out` points to an
/// `Option<Result<F::Output, JoinError>>`.
unsafe fn take_output_raw<F: Future>(ptr: NonNull<Header>, out: *mut ()) {
    let stage = block_stage(ptr.cast::<Block<F>>());
    // SAFETY: `Finished`: no other reference to the stage exists and no user code runs here;
    // `out` has the type the caller promises.
    unsafe {
        if let Stage::Finished(result) = std::mem::replace(&mut *stage, Stage::Consumed) {
            *out.cast::<Option<Result<F::Output, JoinError>>>() = Some(result);
        }
    }
}

/// # Safety
///
/// `ptr` is a live block made for `F` with no reference left.
unsafe fn release_raw<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the block came from `PoolBox::<Block<F>>::into_raw` on this thread (`new`), and
    // this is its one release.
    drop(unsafe { PoolBox::from_raw(ptr.cast::<Block<F>>()) });
}

fn block_stage<F: Future>(block: NonNull<Block<F>>) -> *mut Stage<F> {
    // SAFETY: a live block (every caller's contract); this takes the stage's address only.
    unsafe { block.as_ref().stage.get() }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_small_task_fits_one_cache_line() {
        fn block_size<F: Future>(_: &F) -> usize {
            size_of::<Block<F>>()
        }
        let n = 7u64;
        let task = async move { std::hint::black_box(n) };
        assert!(block_size(&task) <= 64, "{} bytes", block_size(&task));
    }
}
