//! `last bench`: per-request latency of one variant, or `bench kernels`.

use super::args::{usize_in, ScenarioArg, VariantParser, MAX_REQUESTS, MAX_THREADS};
use super::output::{note, println, runtime, Failure};
use last::bench::kernels::{run_kernels, Suite};
use last::bench::scenario::{bench_latency, Features, LatencyRecord, Scenario};
use last::model::{Config, Dtype, Model};
use last::serve::{Scratch, ServeError, Variant};
use last_kernels::Backend;
use std::time::Duration;

/// Measure per-request latency of a LAST variant (or, with `kernels`, kernel throughput).
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    what: Option<What>,
    /// Request shapes.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Standard)]
    scenario: ScenarioArg,
    /// Variant, in the one naming scheme: a standard name below, or
    /// another K / knobs, e.g. best-of-32, parallel-table-w2-64,
    /// parallel-gaussian-w2-16:sigma=0.1, serial-r4-p2:patience=2.
    #[arg(long, default_value = "parallel-gaussian-w2-16", value_parser = VariantParser)]
    variant: Variant,
    /// Requests to time after warm-up (1..=1000000).
    #[arg(long, default_value_t = 200, value_parser = usize_in(1, MAX_REQUESTS))]
    requests: usize,
    /// Threads for candidates (1 = the calling thread only; 1..=64).
    #[arg(long, default_value_t = 1, value_parser = usize_in(1, MAX_THREADS))]
    threads: usize,
    /// Weight storage of the benchmark's model: bf16 also runs the
    /// per-candidate products on the bf16 kernels.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    dtype: DtypeArg,
    /// One JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
}

/// `--dtype`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DtypeArg {
    F32,
    F16,
    Bf16,
}

impl DtypeArg {
    fn dtype(self) -> Dtype {
        match self {
            DtypeArg::F32 => Dtype::F32,
            DtypeArg::F16 => Dtype::F16,
            DtypeArg::Bf16 => Dtype::Bf16,
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Kernel throughput (GFLOP/s, fraction of the measured peak, peers).
    Kernels {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the standard-scenario shapes and the perturbed kernels.
        #[arg(long)]
        quick: bool,
        /// Skip the gemm / matrixmultiply peers.
        #[arg(long)]
        no_peers: bool,
    },
}

/// Serves one request of the scenario with `variant` on a random model: the
/// server's own validation decides whether the knobs are usable, before
/// the benchmark starts (a bad knob is a usage error).
fn check_variant(sc: Scenario, variant: Variant, be: Backend) -> Result<(), Failure> {
    let mut cfg = Config::standard();
    cfg.max_candidates = cfg.max_candidates.max(sc.n());
    let m = Model::random(cfg.clone(), 7, be).map_err(runtime)?;
    let f = Features::random(&cfg, sc.n(), 1);
    let req = f.request(cfg.d_x, sc.list_len(), 1, variant, Duration::ZERO);
    match m.serve(&req, &mut Scratch::default(), None) {
        Ok(_) => Ok(()),
        Err(ServeError::BadKnob(why)) => Err(Failure::Usage(format!(
            "--variant {variant} with --scenario {}: {why}",
            format!("{sc:?}").to_lowercase()
        ))),
        Err(e) => Err(runtime(e)),
    }
}

fn line(r: &LatencyRecord) -> String {
    format!(
        "{} [{}, {}] {} thread(s): p50 {:.0} µs, p90 {:.0}, p99 {:.0}; {:.1} MFLOP/request performed, \
         {:.1} GFLOP/s = {:.0}% of peak ({:.1} MFLOP unfactored: {:.0}%); {:.1} candidates; \
         beat baseline in {:.0}% (mean gain {:.4})",
        r.variant,
        r.isa,
        r.precision,
        r.threads,
        r.p50_us,
        r.p90_us,
        r.p99_us,
        r.flops_per_request / 1e6,
        r.gflops,
        100.0 * r.fraction_of_peak,
        r.standard_flops_per_request / 1e6,
        100.0 * r.standard_fraction_of_peak,
        r.mean_candidates,
        100.0 * r.improved_share,
        r.mean_gain
    )
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    if let Some(What::Kernels {
        json,
        quick,
        no_peers,
    }) = a.what
    {
        return kernels(be, json, quick, no_peers);
    }
    let sc = a.scenario.scenario();
    check_variant(sc, a.variant, be)?;
    note(&format!(
        "bench: {} on the {} scenario, warm-up then {} requests",
        a.variant,
        format!("{sc:?}").to_lowercase(),
        a.requests
    ));
    let r = bench_latency(sc, a.variant, a.requests, a.threads, a.dtype.dtype(), be)
        .map_err(runtime)?;
    if a.json {
        println(&serde_json::to_string(&r).expect("the record serialises"))
    } else {
        println(&line(&r))
    }
}

fn kernels(be: Backend, json: bool, quick: bool, no_peers: bool) -> Result<(), Failure> {
    let suite = if quick { Suite::Quick } else { Suite::Full };
    if !json {
        println(&format!(
            "{:<22} {:<10} {:>4} {:>4} {:>4} {:>10} {:>8} {:>6} {:>8} {:>8} {:>6}",
            "kernel", "isa", "m", "n", "k", "ns/call", "GFLOP/s", "peak%", "gemm", "mm", "×plain"
        ))?;
    }
    note("bench kernels: one row per shape as it is measured");
    run_kernels(be, suite, !no_peers, |r| {
        let text = if json {
            serde_json::to_string(r).expect("the record serialises")
        } else {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            format!(
                "{:<22} {:<10} {:>4} {:>4} {:>4} {:>10.0} {:>8.1} {:>5.1}% {:>8} {:>8} {:>6}",
                r.kernel,
                r.isa,
                r.m,
                r.n,
                r.k,
                r.ns_per_call,
                r.gflops,
                100.0 * r.fraction_of_peak,
                f(r.gemm_gflops),
                f(r.matrixmultiply_gflops),
                r.vs_plain.map_or("-".to_string(), |v| format!("{v:.2}"))
            )
        };
        // The callback cannot stop the run: a closed or failing stdout
        // ends the process here, with its exit code.
        if let Err(f) = println(&text) {
            f.exit();
        }
    });
    Ok(())
}
