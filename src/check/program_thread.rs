//! Where [`Backend::run`](super::registry::Backend::run) runs a program: on a long-lived thread
//! with a [`PROGRAM_THREAD_STACK`] stack, so that every run starts from the same stack depth and
//! the caller's own stack size does not matter.
//!
//! Two ways there: a caller thread gets a helper program thread of its own, started on first
//! use, and hands it each run (a job over a channel, the result back over another: two thread
//! hand-overs per run); or a caller runs its whole loop on a program thread with
//! [`host`], and its runs then happen inline on it, with no hand-over (the campaign's worker
//! process does this: four runs a program).
//!
//! Contract: a run that leaves a greenlet hub alive on its thread (a `hub-leak` finding, which
//! the run reports) never makes a later run on that caller fail to create a hub: a helper
//! thread with a live hub is retired (the next run gets a new one), and a hosting thread with a
//! live hub hands its later runs to a helper thread. A panic that escapes a run is that run's
//! `panic` finding.

use crate::interp::{Fatal, RunResult};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use switchyard_impls::greenlet::panic_message;
use switchyard_impls::runtime::live_hub;

/// Stack of the thread each program runs on. The stack-copy backend runs every greenlet of a
/// program on this one stack, and each greenlet starts below the frame that first switched to
/// it, so deep `recurse` in many greenlets adds up. It is reserved, not committed.
pub const PROGRAM_THREAD_STACK: usize = 1 << 30;

type Job = Box<dyn FnOnce() + Send>;

/// A long-lived thread with a big stack that runs programs one at a time for one caller
/// thread. It ends when its caller thread ends (the job channel closes).
struct ProgramThread {
    jobs: mpsc::Sender<Job>,
}

impl ProgramThread {
    fn start() -> Result<ProgramThread, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("switchyard-program".to_string())
            .stack_size(PROGRAM_THREAD_STACK)
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .map_err(|e| format!("cannot start the program thread: {e}"))?;
        Ok(ProgramThread { jobs })
    }
}

thread_local! {
    /// This caller thread's helper program thread, once started.
    static HELPER: RefCell<Option<ProgramThread>> = const { RefCell::new(None) };
    /// Whether this thread is a program thread started by [`host`].
    static HOSTING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on a new program thread (a [`PROGRAM_THREAD_STACK`] stack, named `name`) on which
/// every `Backend::run` runs inline, and returns what `f` returns; a panic in `f` goes on
/// unwinding in the caller. `Err` when the thread cannot be started.
pub fn host<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(PROGRAM_THREAD_STACK)
        .spawn(move || {
            HOSTING.with(|h| h.set(true));
            f()
        })?;
    match thread.join() {
        Ok(value) => Ok(value),
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Runs `run` (backend `backend` on one program) on a program thread: inline when the calling
/// thread is a hosting one with no live hub, otherwise on the caller's helper thread.
pub(crate) fn run(
    backend: &'static str,
    run: impl FnOnce() -> RunResult + Send + 'static,
) -> RunResult {
    if HOSTING.with(Cell::get) && live_hub().is_none() {
        // A hub left alive by this run stays on this thread; `live_hub` sends every later run
        // to the helper thread.
        return guarded(backend, run);
    }
    let (reply, result) = mpsc::channel();
    let job: Job = Box::new(move || {
        let outcome = guarded(backend, run);
        // A hub left alive here (the run reports it) would refuse every later hub of another
        // backend on this thread: the caller retires the thread.
        let _ = reply.send((outcome, live_hub().is_some()));
    });
    let sent = HELPER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(ProgramThread::start()?);
        }
        let thread = slot.as_ref().expect("just started");
        thread.jobs.send(job).map_err(|_| {
            *slot = None;
            "the program thread has ended".to_string()
        })
    });
    if let Err(error) = sent {
        return Err(Fatal::Backend {
            backend: backend.to_string(),
            error,
        });
    }
    match result.recv() {
        Ok((outcome, hub_left)) => {
            if hub_left {
                // Its job channel closes, so it ends; its hub is closed as it exits.
                HELPER.with(|cell| *cell.borrow_mut() = None);
            }
            outcome
        }
        Err(_) => {
            HELPER.with(|cell| *cell.borrow_mut() = None);
            Err(Fatal::Panic {
                backend: backend.to_string(),
                message: "the program thread died during the run".to_string(),
            })
        }
    }
}

/// `run()`, a panic that escapes it made its `panic` finding.
fn guarded(backend: &'static str, run: impl FnOnce() -> RunResult) -> RunResult {
    panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        Err(Fatal::Panic {
            backend: backend.to_string(),
            message: panic_message(&*payload),
        })
    })
}
