//! `last soak`: every variant from several threads for a bounded time.

use super::args::{usize_in, MAX_SOAK_SECONDS, MAX_THREADS};
use super::output::{println, runtime, Failure};
use last_kernels::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Serve a mix of every variant from several threads sharing one model
/// for a bounded time; check errors, model hash, memory and tail latency.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Duration (s; 1..=86400).
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=MAX_SOAK_SECONDS))]
    seconds: u64,
    /// Serving threads (1..=64).
    #[arg(long, default_value_t = 2, value_parser = usize_in(1, MAX_THREADS))]
    threads: usize,
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    let duration = Duration::from_secs(a.seconds);
    let done = AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        // A bar over the seconds of the run (stderr; silent with --quiet).
        s.spawn(|| {
            let mut bar = last::progress::Progress::new("soak", a.seconds as usize);
            bar.note(&format!(
                "every standard variant for {} s on {} thread(s)",
                a.seconds, a.threads
            ));
            let start = Instant::now();
            let mut shown = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = (start.elapsed().as_secs() as usize).min(a.seconds as usize);
                bar.inc(now - shown);
                shown = now;
            }
            bar.finish();
        });
        let r = last::bench::soak::soak(duration, a.threads, be);
        done.store(true, Ordering::Relaxed);
        r
    })
    .map_err(runtime)?;
    println(&serde_json::to_string_pretty(&r).expect("the soak report serialises"))?;
    if r.errors > 0 || !r.model_unchanged {
        return Err(runtime(
            "soak failed: errors on valid requests or the model changed",
        ));
    }
    Ok(())
}
