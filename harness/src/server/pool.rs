//! The compute pool: ranking runs on dedicated std threads, each with its
//! own [`Scratch`], never on the async runtime's threads. Jobs wait in a
//! bounded queue; a full queue refuses at once (the route answers 503).

use crate::serve::Scratch;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A unit of work for one compute worker, given that worker's scratch.
pub type Job = Box<dyn FnOnce(&mut Scratch) + Send + 'static>;

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Every worker is busy and the queue is full.
    #[error("the queue is full")]
    Full,
    /// The pool is shutting down.
    #[error("the pool is shutting down")]
    Closed,
}

/// Worker threads with one [`Scratch`] each, fed by a bounded queue.
/// Dropping the pool lets the workers finish every queued job, then joins them.
pub struct Pool {
    tx: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl Pool {
    /// `workers` threads (at least 1) and room for `queue` waiting jobs
    /// (at least 1) beyond those running.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Pool> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let (rx, queued) = (Arc::clone(&rx), Arc::clone(&queued));
            let h = std::thread::Builder::new()
                .name(format!("last-rank-{i}"))
                .spawn(move || work(&rx, &queued))?;
            handles.push(h);
        }
        Ok(Pool {
            tx: Some(tx),
            workers: handles,
            queued,
            capacity: queue.max(1),
        })
    }

    /// Queues `job`, or refuses at once if the queue is full.
    pub fn try_submit(
        &self,
        job: impl FnOnce(&mut Scratch) + Send + 'static,
    ) -> Result<(), SubmitError> {
        let tx = self.tx.as_ref().ok_or(SubmitError::Closed)?;
        // Counted before the send so that a worker taking it at once never
        // sees the count below zero.
        self.queued.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::Closed,
                })
            }
        }
    }

    /// Jobs waiting for a worker (not counting those running).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Room in the queue beyond the running jobs.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

fn work(rx: &Mutex<Receiver<Job>>, queued: &AtomicUsize) {
    let mut scratch = Scratch::default();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        queued.fetch_sub(1, Ordering::SeqCst);
        // A panicking job drops its reply channel (its route answers 500);
        // the worker carries on with a fresh scratch.
        if catch_unwind(AssertUnwindSafe(|| job(&mut scratch))).is_err() {
            scratch = Scratch::default();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.tx = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_full_queue_refuses_and_queued_jobs_still_run() {
        let pool = Pool::new(1, 1).unwrap();
        let (started_tx, started) = channel();
        let (release, gate) = channel::<()>();
        pool.try_submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
        started.recv().unwrap(); // the worker is busy
        let (done_tx, done) = channel();
        pool.try_submit(move |_| done_tx.send(1).unwrap()).unwrap();
        assert_eq!(pool.queued(), 1);
        assert_eq!(pool.try_submit(|_| {}), Err(SubmitError::Full));
        release.send(()).unwrap();
        assert_eq!(done.recv().unwrap(), 1);
    }

    #[test]
    fn a_panicking_job_leaves_the_worker_serving() {
        let pool = Pool::new(1, 2).unwrap();
        pool.try_submit(|_| panic!("a job that fails")).unwrap();
        let (tx, rx) = channel();
        pool.try_submit(move |_| tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), 7);
    }

    #[test]
    fn dropping_the_pool_finishes_queued_jobs() {
        let (tx, rx) = channel();
        {
            let pool = Pool::new(1, 4).unwrap();
            for i in 0..4 {
                let tx = tx.clone();
                pool.try_submit(move |_| tx.send(i).unwrap()).unwrap();
            }
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    }
}
