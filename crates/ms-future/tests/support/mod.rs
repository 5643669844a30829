//! A minimal single-thread executor shared by the tests: a queue of woken task ids, so tests
//! can check that fulfilment wakes exactly the task that waits.

#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

/// Records which task ids were woken.
#[derive(Debug, Default)]
pub struct WakeLog(Mutex<Vec<usize>>);

struct TaskWaker {
    id: usize,
    log: Arc<WakeLog>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.log.0.lock().unwrap().push(self.id);
    }
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Runs `!Send` tasks on this thread; a task is polled again only after it was woken.
#[derive(Default)]
pub struct Executor {
    tasks: RefCell<Vec<Option<Task>>>,
    log: Arc<WakeLog>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.tasks.borrow().len())
            .finish()
    }
}

impl Executor {
    /// Adds a task and polls it once; returns its id.
    pub fn spawn(&self, task: impl Future<Output = ()> + 'static) -> usize {
        let id = self.tasks.borrow().len();
        self.tasks.borrow_mut().push(Some(Box::pin(task)));
        self.poll_task(id);
        id
    }

    fn poll_task(&self, id: usize) {
        let Some(mut task) = self.tasks.borrow_mut()[id].take() else {
            return;
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            log: Arc::clone(&self.log),
        }));
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            self.tasks.borrow_mut()[id] = Some(task);
        }
    }

    /// Polls every woken task until none is woken; returns how many polls it made.
    pub fn run_until_stalled(&self) -> usize {
        let mut polls = 0;
        loop {
            let woken: Vec<usize> = std::mem::take(&mut *self.log.0.lock().unwrap());
            if woken.is_empty() {
                return polls;
            }
            for id in woken {
                polls += 1;
                self.poll_task(id);
            }
        }
    }

    /// Whether task `id` has finished.
    pub fn is_done(&self, id: usize) -> bool {
        self.tasks.borrow()[id].is_none()
    }

    /// Task ids woken and not yet run.
    pub fn pending_wakes(&self) -> Vec<usize> {
        self.log.0.lock().unwrap().clone()
    }
}
