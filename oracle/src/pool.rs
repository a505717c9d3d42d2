//! A process-wide pool of parked worker threads, one of which runs each greenlet body.
//!
//! A [`Worker`] is reserved when a greenlet is spawned (so thread creation failures surface as
//! `BackendError` from `spawn`) and is handed the body when the greenlet starts. A worker whose
//! job is done, or whose reservation is dropped unused, parks itself in the idle list if that list
//! holds fewer than [`MAX_IDLE`] workers of any stack size, and otherwise its thread exits. So
//! idle threads never grow without bound.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::thread::{self, ThreadId};

use switchyard_greenlet::BackendError;

/// The most idle workers kept parked, all stack sizes together.
pub const MAX_IDLE: usize = 128;

/// A job a worker runs: one greenlet's whole life on that thread.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Idle workers, parked in `recv`.
static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

/// A reserved worker thread. Dropped unused, it goes back to the pool (or is told to exit).
pub struct Worker {
    /// `Some` until [`Worker::run`] hands it a job. `None` sent means "exit".
    tx: Option<Sender<Option<Job>>>,
    thread: ThreadId,
    stack_size: usize,
}

impl Worker {
    /// A parked worker with this stack size, or a new thread.
    pub fn reserve(stack_size: usize) -> Result<Worker, BackendError> {
        {
            let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = idle.iter().rposition(|w| w.stack_size == stack_size) {
                return Ok(idle.swap_remove(pos));
            }
        }
        let (tx, rx) = channel::<Option<Job>>();
        let own_tx = tx.clone();
        let handle = thread::Builder::new()
            .name("switchyard-oracle".into())
            .stack_size(stack_size)
            .spawn(move || worker_loop(rx, own_tx, stack_size))
            .map_err(|e| BackendError(format!("cannot create a greenlet thread: {e}")))?;
        Ok(Worker {
            tx: Some(tx),
            thread: handle.thread().id(),
            stack_size,
        })
    }

    /// The OS thread this worker runs its job on.
    pub fn thread(&self) -> ThreadId {
        self.thread
    }

    /// Runs `job` on this worker's thread; the worker parks itself again afterwards.
    pub fn run(mut self, job: Job) {
        if let Some(tx) = self.tx.take() {
            // The thread holds its own sender and only exits after a `None`, so it is listening.
            let _ = tx.send(Some(job));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let unused = Worker {
                tx: Some(tx),
                thread: self.thread,
                stack_size: self.stack_size,
            };
            if let Err(mut w) = park(unused) {
                if let Some(tx) = w.tx.take() {
                    let _ = tx.send(None);
                }
            }
        }
    }
}

/// Puts `w` in the idle list, or gives it back if the list is full.
fn park(w: Worker) -> Result<(), Worker> {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE {
        idle.push(w);
        Ok(())
    } else {
        Err(w)
    }
}

fn worker_loop(rx: Receiver<Option<Job>>, tx: Sender<Option<Job>>, stack_size: usize) {
    let me = thread::current().id();
    while let Ok(Some(job)) = rx.recv() {
        job();
        let again = Worker {
            tx: Some(tx.clone()),
            thread: me,
            stack_size,
        };
        if let Err(mut w) = park(again) {
            w.tx = None;
            return;
        }
    }
}

/// How many workers are parked now (for tests and diagnostics).
pub fn idle_workers() -> usize {
    IDLE.lock().unwrap_or_else(|e| e.into_inner()).len()
}
