//! The `last` command line.

use clap::{Parser, Subcommand};
use last::bench::{run_kernels, Suite};

#[derive(Parser)]
#[command(
    name = "last",
    version,
    about = "LAST: Learning At Serving Time re-ranking"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the instruction-set path in use and the measured FMA peak.
    Info,
    /// Measure per-request latency of a LAST variant (or, with `kernels`, kernel throughput).
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        /// Request shapes: `standard` (N=50, L=10) or `small` (N=8, L=4).
        #[arg(long, default_value = "standard")]
        scenario: String,
        /// baseline | best-of-k | parallel | parallel-rademacher | parallel-antithetic |
        /// parallel-lowrank | parallel-keys | gradient | serial | exhaustive
        #[arg(long, default_value = "parallel")]
        variant: String,
        /// Candidates K (best-of-k, parallel variants).
        #[arg(long, default_value_t = 16)]
        k: usize,
        /// Requests to time after warm-up.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Threads for candidates (1 = the calling thread only).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// One JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_variant(name: &str, k: usize) -> Result<last::serve::Variant, String> {
    use last::serve::{NoiseSpec, Target, Variant};
    let par = |noise, target| Variant::Parallel {
        k,
        sigma: 0.05,
        noise,
        target,
    };
    Ok(match name {
        "baseline" => Variant::Baseline,
        "best-of-k" => Variant::BestOfK { k },
        "parallel" => par(NoiseSpec::Gaussian, Target::W2),
        "parallel-rademacher" => par(NoiseSpec::Rademacher, Target::W2),
        "parallel-antithetic" => par(NoiseSpec::Antithetic, Target::W2),
        "parallel-lowrank" => par(NoiseSpec::LowRank(1), Target::Keys),
        "parallel-keys" => par(NoiseSpec::Gaussian, Target::Keys),
        "serial" => Variant::serial_standard(),
        "gradient" => Variant::gradient_standard(),
        "exhaustive" => Variant::Exhaustive,
        other => return Err(format!("unknown variant {other:?}")),
    })
}

#[derive(Subcommand)]
enum BenchWhat {
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

fn main() {
    let cli = Cli::parse();
    let be = match last::backend_from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    match cli.cmd {
        Cmd::Info => {
            println!("isa: {}", be.isa());
            match last::peak::peak_gflops() {
                Some(p) => println!("peak_gflops (1 core, fp32 FMA probe): {p:.1}"),
                None => println!("peak_gflops: no probe for this CPU"),
            }
        }
        Cmd::Bench {
            what: None,
            scenario,
            variant,
            k,
            requests,
            threads,
            json,
        } => {
            let run = || -> Result<last::scenario::LatencyRecord, String> {
                let sc = last::scenario::Scenario::from_name(&scenario)
                    .ok_or_else(|| format!("unknown scenario {scenario:?} (standard, small)"))?;
                let v = parse_variant(&variant, k)?;
                if requests == 0 || threads == 0 {
                    return Err("--requests and --threads must be ≥ 1".into());
                }
                last::scenario::bench_latency(sc, v, requests, threads, be)
            };
            match run() {
                Ok(r) if json => println!("{}", serde_json::to_string(&r).expect("serialise")),
                Ok(r) => println!(
                    "{} [{}] {} thread(s): p50 {:.0} µs, p90 {:.0}, p99 {:.0}; {:.1} MFLOP/request, \
                     {:.1} GFLOP/s = {:.0}% of peak; {:.1} candidates; beat baseline in {:.0}% (mean gain {:.4})",
                    r.variant,
                    r.isa,
                    r.threads,
                    r.p50_us,
                    r.p90_us,
                    r.p99_us,
                    r.flops_per_request / 1e6,
                    r.gflops,
                    100.0 * r.fraction_of_peak,
                    r.mean_candidates,
                    100.0 * r.improved_share,
                    r.mean_gain
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
        }
        Cmd::Bench {
            what: Some(what), ..
        } => match what {
            BenchWhat::Kernels {
                json,
                quick,
                no_peers,
            } => {
                let suite = if quick { Suite::Quick } else { Suite::Full };
                if !json {
                    println!(
                        "{:<22} {:>4} {:>4} {:>4} {:>10} {:>8} {:>6} {:>8} {:>8} {:>6}",
                        "kernel",
                        "m",
                        "n",
                        "k",
                        "ns/call",
                        "GFLOP/s",
                        "peak%",
                        "gemm",
                        "mm",
                        "×plain"
                    );
                }
                run_kernels(be, suite, !no_peers, |r| {
                    if json {
                        println!("{}", serde_json::to_string(r).expect("serialise"));
                    } else {
                        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
                        println!(
                            "{:<22} {:>4} {:>4} {:>4} {:>10.0} {:>8.1} {:>5.1}% {:>8} {:>8} {:>6}",
                            r.kernel,
                            r.m,
                            r.n,
                            r.k,
                            r.ns_per_call,
                            r.gflops,
                            100.0 * r.fraction_of_peak,
                            f(r.gemm_gflops),
                            f(r.matrixmultiply_gflops),
                            r.vs_plain.map_or("-".to_string(), |v| format!("{v:.2}"))
                        );
                    }
                });
            }
        },
    }
}
