//! The soak run behind `last soak`: several threads share one model and
//! serve a mix of every variant for a bounded time. It checks what a server
//! team needs before vendoring: zero errors on valid requests, the model's
//! bytes unchanged, no memory growth after warm-up, and tail latency that
//! does not drift between the start and the end of the run.

use crate::bench::scenario::Features;
use crate::model::{Config, Model};
use crate::serve::{NoiseSpec, Scratch, Target, Variant};
use last_kernels::Backend;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One variant's requests in the soak.
#[derive(Debug, Clone, Serialize)]
pub struct VariantSoak {
    /// Variant name.
    pub variant: String,
    /// Requests served after warm-up.
    pub requests: usize,
    /// p50 / p99 latency (µs) of requests started in the first tenth (after warm-up).
    pub first_tenth_p50_p99_us: (f64, f64),
    /// p50 / p99 latency (µs) in the last tenth.
    pub last_tenth_p50_p99_us: (f64, f64),
}

/// What the soak run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Instruction-set path.
    pub isa: String,
    /// Serving threads.
    pub threads: usize,
    /// Wall time (s).
    pub seconds: f64,
    /// Requests served.
    pub requests: usize,
    /// Requests that returned an error (all requests are valid: must be 0).
    pub errors: usize,
    /// First error message, if any.
    pub first_error: Option<String>,
    /// Model hash unchanged after the run.
    pub model_unchanged: bool,
    /// Resident set size after warm-up (KiB, from /proc/self/status; 0 if unavailable).
    pub rss_after_warmup_kib: u64,
    /// Resident set size at the end (KiB).
    pub rss_end_kib: u64,
    /// Peak resident set size (KiB).
    pub rss_peak_kib: u64,
    /// Per variant: latency in the first and the last tenth of the run.
    pub per_variant: Vec<VariantSoak>,
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The mix: every variant, with the standard knobs (exhaustive on N = 8).
pub fn mix() -> Vec<(Variant, usize, usize)> {
    let par = |noise, target| Variant::Parallel {
        k: 16,
        sigma: 0.05,
        noise,
        target,
    };
    vec![
        (Variant::Baseline, 50, 10),
        (Variant::BestOfK { k: 16 }, 50, 10),
        (par(NoiseSpec::Gaussian, Target::W2), 50, 10),
        (par(NoiseSpec::Rademacher, Target::W2), 50, 10),
        (par(NoiseSpec::Antithetic, Target::W2), 50, 10),
        (par(NoiseSpec::Table, Target::W2), 50, 10),
        (par(NoiseSpec::LowRank(1), Target::Keys), 50, 10),
        (Variant::gradient_standard(), 50, 10),
        (Variant::serial_standard(), 50, 10),
        (Variant::Exhaustive, 8, 4),
    ]
}

fn q(sorted: &[f64], p: f64) -> f64 {
    crate::eval::metrics::quantile(sorted, p).unwrap_or(0.0)
}

/// The longest soak run (one day).
pub const MAX_SOAK: Duration = Duration::from_secs(86_400);

/// Runs the soak for `duration` (at most [`MAX_SOAK`]) on `threads`
/// threads (`1..=`[`MAX_THREADS`](crate::bench::scenario::MAX_THREADS));
/// warm-up: the first tenth of the run, excluded from the latency and
/// memory comparisons.
pub fn soak(duration: Duration, threads: usize, backend: Backend) -> Result<SoakReport, String> {
    if duration.is_zero() || duration > MAX_SOAK {
        return Err(format!(
            "soak duration {duration:?} not in (0, {} s]",
            MAX_SOAK.as_secs()
        ));
    }
    let max_threads = crate::bench::scenario::MAX_THREADS;
    if threads == 0 || threads > max_threads {
        return Err(format!("soak threads {threads} not in 1..={max_threads}"));
    }
    let cfg = Config::standard();
    let model = Model::random(cfg.clone(), 11, backend).map_err(|e| e.to_string())?;
    let hash = model.weights_hash();
    let feats: Vec<Features> = (0..32)
        .map(|i| Features::random(&cfg, if i % 9 == 8 { 8 } else { 50 }, 500 + i))
        .collect();
    let mix = mix();
    debug_assert!(mix
        .iter()
        .all(|(v, _, _)| Variant::standard_set().contains(v)));
    let start = Instant::now();
    let warm = duration / 10;
    let end = start + duration;
    let threads = threads.max(1);
    let rss_warm = std::sync::Mutex::new(0u64);
    type Rec = (f64, f64, usize); // start offset (s), latency (µs), variant index
    let results: Vec<(Vec<Rec>, usize, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (model, feats, mix, rss_warm) = (&model, &feats, &mix, &rss_warm);
                s.spawn(move || {
                    let mut scratch = Scratch::default();
                    let mut recs = Vec::new();
                    let mut errors = 0;
                    let mut first = None;
                    let mut i = t;
                    let mut warmed = false;
                    while Instant::now() < end {
                        let vi = i % mix.len();
                        let (variant, n, len) = mix[vi];
                        let f = feats
                            .iter()
                            .cycle()
                            .skip(i % feats.len())
                            .find(|f| f.n == n)
                            .expect("both sizes present");
                        let req =
                            f.request(cfg.d_x, len, i as u64, variant, Duration::from_secs(1));
                        let t0 = Instant::now();
                        match model.serve(&req, &mut scratch, None) {
                            Ok(_) => {}
                            Err(e) => {
                                errors += 1;
                                first.get_or_insert_with(|| e.to_string());
                            }
                        }
                        let off = t0.duration_since(start);
                        if off >= warm {
                            if !warmed && t == 0 {
                                *rss_warm.lock().expect("not poisoned") = status_kib("VmRSS:");
                                warmed = true;
                            }
                            recs.push((off.as_secs_f64(), t0.elapsed().as_secs_f64() * 1e6, vi));
                        }
                        i += threads;
                    }
                    (recs, errors, first)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("soak thread panicked"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let rss_after_warmup = *rss_warm.lock().expect("not poisoned");
    let mut recs: Vec<Rec> = results.iter().flat_map(|r| r.0.clone()).collect();
    recs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let errors = results.iter().map(|r| r.1).sum();
    let first_error = results.iter().find_map(|r| r.2.clone());
    let span = duration.as_secs_f64() - warm.as_secs_f64();
    let w = warm.as_secs_f64();
    let tenth = |k: usize, lo: f64, hi: f64| {
        let mut v: Vec<f64> = recs
            .iter()
            .filter(|r| r.2 == k && r.0 >= lo && r.0 < hi)
            .map(|r| r.1)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        (q(&v, 0.5), q(&v, 0.99))
    };
    let per_variant = mix
        .iter()
        .enumerate()
        .map(|(k, (v, _, _))| VariantSoak {
            variant: v.to_string(),
            requests: recs.iter().filter(|r| r.2 == k).count(),
            first_tenth_p50_p99_us: tenth(k, w, w + span / 10.0),
            last_tenth_p50_p99_us: tenth(k, w + 0.9 * span, f64::INFINITY),
        })
        .collect();
    Ok(SoakReport {
        isa: backend.isa().name().into(),
        threads,
        seconds: secs,
        requests: recs.len(),
        errors,
        first_error,
        model_unchanged: model.weights_hash() == hash,
        rss_after_warmup_kib: rss_after_warmup,
        rss_end_kib: status_kib("VmRSS:"),
        rss_peak_kib: status_kib("VmHWM:"),
        per_variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_soak_is_clean() {
        let r = soak(Duration::from_millis(1500), 2, Backend::detect()).unwrap();
        assert_eq!(r.errors, 0, "{:?}", r.first_error);
        assert!(r.model_unchanged);
        assert!(r.requests > 0);
        assert!(
            r.per_variant.iter().all(|v| v.requests > 0),
            "{:?}",
            r.per_variant
        );
    }

    #[test]
    fn out_of_range_soaks_are_errors() {
        let be = Backend::detect();
        for (d, t) in [
            (Duration::ZERO, 1),
            (Duration::MAX, 1),
            (MAX_SOAK + Duration::from_secs(1), 1),
            (Duration::from_millis(10), 0),
            (Duration::from_millis(10), 65),
        ] {
            assert!(soak(d, t, be).is_err(), "{d:?} {t}");
        }
    }
}
