//! The compute pool: ranking runs on dedicated std threads, each with its
//! own [`Scratch`], never on the async runtime's threads. Jobs wait in a
//! bounded queue; a full queue refuses at once (the route answers 503).
//!
//! Waking a sleeping thread costs tens of microseconds on a virtual
//! machine (the idle vCPU has halted and must be sent an interrupt), which
//! at low load is most of what the server adds to a request. So one idle
//! worker at a time, the *spinner*, polls the queue for a bounded time
//! ([`Pool::with_spin`]) before it sleeps: a job submitted meanwhile starts
//! without a wake-up. Under load every worker is busy and nobody spins; an
//! idle server spins at most that long after its last request.

use crate::serve::Scratch;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// The queue and who is waiting on it, behind one lock.
#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Workers blocked on the condition variable.
    sleepers: usize,
    /// Whether an idle worker is polling `Shared::queued` (it needs no wake-up).
    spinning: bool,
    closed: bool,
}

/// What the workers and the submitters share.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// `State::jobs.len()`, readable without the lock (the spinner polls it).
    queued: AtomicUsize,
    /// Jobs running on a worker now.
    running: AtomicUsize,
    /// `State::closed`, readable without the lock.
    closed: AtomicBool,
    spin: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock only means a
        // panic inside this module's few lines: the state is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Worker threads with one [`Scratch`] each, fed by a bounded queue.
/// Dropping the pool lets the workers finish every queued job, then joins them.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    capacity: usize,
}

impl Pool {
    /// How long an idle worker polls for the next job before it sleeps,
    /// unless [`Pool::with_spin`] says otherwise.
    pub const DEFAULT_SPIN: Duration = Duration::from_micros(250);

    /// `workers` threads (at least 1) and room for `queue` waiting jobs
    /// (at least 1) beyond those running, spinning [`Pool::DEFAULT_SPIN`].
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Pool> {
        Pool::with_spin(workers, queue, Pool::DEFAULT_SPIN)
    }

    /// As [`Pool::new`], with one idle worker polling the queue for up to
    /// `spin` before it sleeps (zero: workers sleep at once).
    pub fn with_spin(workers: usize, queue: usize, spin: Duration) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            spin,
        });
        let mut pool = Pool {
            shared,
            workers: Vec::new(),
            capacity: queue.max(1),
        };
        for i in 0..workers.max(1) {
            let shared = Arc::clone(&pool.shared);
            // On failure `pool` drops here, which stops the workers started.
            let h = std::thread::Builder::new()
                .name(format!("last-rank-{i}"))
                .spawn(move || work(&shared))?;
            pool.workers.push(h);
        }
        Ok(pool)
    }

    /// Queues `job`, or refuses at once if the queue is full.
    pub fn try_submit(
        &self,
        job: impl FnOnce(&mut Scratch) + Send + 'static,
    ) -> Result<(), SubmitError> {
        let mut st = self.shared.lock();
        if st.closed {
            return Err(SubmitError::Closed);
        }
        if st.jobs.len() >= self.capacity {
            return Err(SubmitError::Full);
        }
        st.jobs.push_back(Box::new(job));
        self.shared.queued.store(st.jobs.len(), Ordering::SeqCst);
        if !st.spinning && st.sleepers > 0 {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Jobs waiting for a worker (not counting those running).
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Jobs running or waiting.
    pub fn busy(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst) + self.queued()
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

/// One worker: take a job, run it, repeat; when the queue is empty, spin
/// (once after each job, if no other worker spins) or sleep; return once
/// closed and drained.
fn work(shared: &Shared) {
    let mut scratch = Scratch::default();
    let mut may_spin = true;
    let mut st = shared.lock();
    loop {
        if let Some(job) = st.jobs.pop_front() {
            shared.running.fetch_add(1, Ordering::SeqCst);
            shared.queued.store(st.jobs.len(), Ordering::SeqCst);
            // A spinner that took the first of several jobs passes the
            // rest on: their submitter saw it spinning and woke nobody.
            if !st.jobs.is_empty() && st.sleepers > 0 {
                shared.wake.notify_one();
            }
            drop(st);
            // A panicking job drops its reply channel (its route answers
            // 500); the worker carries on with a fresh scratch.
            if catch_unwind(AssertUnwindSafe(|| job(&mut scratch))).is_err() {
                scratch = Scratch::default();
            }
            shared.running.fetch_sub(1, Ordering::SeqCst);
            st = shared.lock();
            may_spin = true;
            continue;
        }
        if st.closed {
            return;
        }
        if may_spin && !st.spinning && !shared.spin.is_zero() {
            st.spinning = true;
            may_spin = false;
            drop(st);
            spin(shared);
            st = shared.lock();
            st.spinning = false;
            continue;
        }
        st.sleepers += 1;
        st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
        st.sleepers -= 1;
    }
}

/// Polls the queue until a job is there, the pool closes or the spin ends.
fn spin(shared: &Shared) {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if shared.queued.load(Ordering::Relaxed) > 0 || shared.closed.load(Ordering::Relaxed) {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= shared.spin {
            return;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closed = true;
            self.shared.closed.store(true, Ordering::SeqCst);
            self.shared.wake.notify_all();
        }
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
    fn every_job_of_a_burst_runs_with_and_without_spinning() {
        // A burst submitted while one worker spins: its submitters wake
        // nobody, so the spinner must pass the rest on to the sleepers.
        for spin in [
            Duration::ZERO,
            Duration::from_micros(50),
            Duration::from_millis(5),
        ] {
            // Room for every job, so a slow machine that has not drained
            // a burst before the next never sees the queue full.
            let pool = Pool::with_spin(3, 160, spin).unwrap();
            let (tx, rx) = channel();
            for round in 0..20 {
                for i in 0..8 {
                    let tx = tx.clone();
                    pool.try_submit(move |_| tx.send(round * 8 + i).unwrap())
                        .unwrap();
                }
                // Let the workers go idle (spin, then sleep) between bursts.
                std::thread::sleep(Duration::from_micros(200));
            }
            let mut got: Vec<i32> = (0..160)
                .map(|_| {
                    rx.recv_timeout(Duration::from_secs(10))
                        .expect("a job was lost")
                })
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..160).collect::<Vec<_>>(), "spin {spin:?}");
        }
    }

    #[test]
    fn busy_counts_running_and_queued_jobs() {
        let pool = Pool::with_spin(1, 4, Duration::ZERO).unwrap();
        assert_eq!(pool.busy(), 0);
        let (started_tx, started) = channel();
        let (release, gate) = channel::<()>();
        pool.try_submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
        started.recv().unwrap();
        pool.try_submit(|_| {}).unwrap();
        assert_eq!((pool.busy(), pool.queued()), (2, 1));
        release.send(()).unwrap();
        drop(pool); // joins: everything ran
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
