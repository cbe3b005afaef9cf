//! The `last` command line.

use clap::{Parser, Subcommand};
use last::bench::kernels::{run_kernels, Suite};
use last::eval::{evaluate, EvalOptions, Report};
use last::pipeline::{load, train, Source};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// Train on the embedded synthetic world and compare every variant on
    /// its test split (the project's main job; no files needed).
    Demo {
        /// Report folder.
        #[arg(long, default_value = "last-report/demo")]
        out: PathBuf,
        /// Also print one JSON object per variant.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        eval: EvalArgs,
    },
    /// Train evaluator and generator on a dataset; write safetensors + config.json.
    Train {
        #[command(flatten)]
        data: DataArgs,
        /// Output model folder.
        #[arg(long)]
        model: PathBuf,
        /// Seed of initialisation and training.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Compare every variant on a dataset's test split with a trained model.
    Eval {
        #[command(flatten)]
        data: DataArgs,
        /// Model folder written by `last train`.
        #[arg(long)]
        model: PathBuf,
        /// Report folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// One JSON object per variant on stdout instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        eval: EvalArgs,
    },
    /// Serve a mix of every variant from several threads sharing one model
    /// for a bounded time; check errors, model hash, memory and tail latency.
    Soak {
        /// Duration (s).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Serving threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
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
        /// parallel-table | parallel-lowrank | parallel-keys | gradient | serial | exhaustive
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

/// Which dataset, and its files.
#[derive(clap::Args)]
struct DataArgs {
    /// synthetic | mslr | wscd
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// Training file (mslr: LETOR train file; wscd: trainSample).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Test file (mslr: LETOR test file; wscd: testSample).
    #[arg(long)]
    test: Option<PathBuf>,
    /// Seed of request sampling and logging.
    #[arg(long, default_value_t = 1)]
    data_seed: u64,
}

impl DataArgs {
    fn source(&self) -> Result<Source, String> {
        let files = |kind: &str| -> Result<(PathBuf, PathBuf), String> {
            match (&self.train, &self.test) {
                (Some(a), Some(b)) => Ok((a.clone(), b.clone())),
                _ => Err(format!("--data {kind} needs --train FILE and --test FILE")),
            }
        };
        match self.data.as_str() {
            "synthetic" => Ok(Source::Synthetic(last::data::world::WorldSpec::default())),
            "mslr" | "letor" => {
                let (train, test) = files("mslr")?;
                Ok(Source::Letor { train, test })
            }
            "wscd" => {
                let (train, test) = files("wscd")?;
                Ok(Source::Wscd { train, test })
            }
            other => Err(format!("unknown dataset {other:?} (synthetic, mslr, wscd)")),
        }
    }
}

/// Evaluation knobs shared by `demo` and `eval`.
#[derive(clap::Args)]
struct EvalArgs {
    /// Lists per request for every multi-candidate variant (equal K).
    #[arg(long, default_value_t = 16)]
    k: usize,
    /// Latency budget of the main table (µs).
    #[arg(long, default_value_t = 500_000)]
    table_budget_us: u64,
    /// Budgets of the reward-vs-latency sweep (µs, comma-separated; empty = none).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "25,50,100,200,400,800,1600,3200"
    )]
    budget_us: Vec<u64>,
    /// Use at most this many test (and validation) requests.
    #[arg(long)]
    max_requests: Option<usize>,
    /// Bootstrap resamples for the 95 % intervals.
    #[arg(long, default_value_t = 2000)]
    bootstrap: usize,
}

impl EvalArgs {
    fn options(&self) -> Result<EvalOptions, String> {
        if self.k == 0 || self.k > last::serve::MAX_K {
            return Err(format!("--k {} must be in 1..=1024", self.k));
        }
        if self.bootstrap == 0 {
            return Err("--bootstrap must be ≥ 1".into());
        }
        Ok(EvalOptions {
            k: self.k,
            budget: Duration::from_micros(self.table_budget_us),
            sweep: self
                .budget_us
                .iter()
                .map(|b| Duration::from_micros(*b))
                .collect(),
            max_requests: self.max_requests,
            bootstrap: self.bootstrap,
            ..EvalOptions::default()
        })
    }
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    std::process::exit(2);
}

fn report(r: &Report, out: Option<&std::path::Path>, json: bool) -> Result<(), String> {
    if json {
        print!("{}", r.json_lines());
    } else {
        println!("{}", r.table());
    }
    if let Some(dir) = out {
        let files = r
            .write(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        for f in files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(())
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
        "parallel-table" => par(NoiseSpec::Table, Target::W2),
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
        Cmd::Demo { out, json, eval } => {
            let t = Instant::now();
            let run = || -> Result<(), String> {
                let o = eval.options()?;
                let data = load(
                    &Source::Synthetic(last::data::world::WorldSpec::default()),
                    1,
                )?;
                eprintln!("{}", data.notes.join("\n"));
                let (m, summary) = train(&data, &last::train::TrainOptions::default(), be)?;
                let model_dir = out.join("model");
                m.save(&model_dir).map_err(|e| e.to_string())?;
                std::fs::write(
                    out.join("train.json"),
                    serde_json::to_string_pretty(&summary).expect("serialise"),
                )
                .map_err(|e| e.to_string())?;
                eprintln!(
                    "trained in {:.1} s; evaluating on {} test requests",
                    summary.seconds,
                    data.test.len()
                );
                let r = evaluate(&m, &data, &o).map_err(|e| e.to_string())?;
                report(&r, Some(&out), json)?;
                eprintln!(
                    "demo done in {:.1} s: report {}, plot {}, model {}",
                    t.elapsed().as_secs_f64(),
                    out.join("report.txt").display(),
                    out.join("reward_vs_budget.svg").display(),
                    model_dir.display()
                );
                Ok(())
            };
            if let Err(e) = run() {
                fail(e);
            }
        }
        Cmd::Train { data, model, seed } => {
            let run = || -> Result<(), String> {
                let d = load(&data.source()?, data.data_seed)?;
                eprintln!("{}", d.notes.join("\n"));
                let o = last::train::TrainOptions {
                    seed,
                    ..Default::default()
                };
                let (m, summary) = train(&d, &o, be)?;
                m.save(&model).map_err(|e| e.to_string())?;
                let p = model.join("train.json");
                std::fs::write(
                    &p,
                    serde_json::to_string_pretty(&summary).expect("serialise"),
                )
                .map_err(|e| format!("{}: {e}", p.display()))?;
                eprintln!(
                    "trained in {:.1} s: evaluator valid log-loss {:.4} (untrained {:.4}), generator valid evaluator score {:.4} (untrained {:.4}); wrote {}",
                    summary.seconds,
                    summary.evaluator.best_valid_loss,
                    summary.evaluator.initial_valid_loss,
                    summary.generator.best_valid_score,
                    summary.generator.initial_valid_score,
                    model.display()
                );
                Ok(())
            };
            if let Err(e) = run() {
                fail(e);
            }
        }
        Cmd::Eval {
            data,
            model,
            out,
            json,
            eval,
        } => {
            let run = || -> Result<(), String> {
                let o = eval.options()?;
                let d = load(&data.source()?, data.data_seed)?;
                let m = last::model::Model::load(&model, be).map_err(|e| e.to_string())?;
                if m.cfg.d_x != d.cfg.d_x || m.cfg.d_u != d.cfg.d_u {
                    return Err(format!(
                        "model {} has d_x = {}, d_u = {}; dataset {} needs {} and {}",
                        model.display(),
                        m.cfg.d_x,
                        m.cfg.d_u,
                        d.name,
                        d.cfg.d_x,
                        d.cfg.d_u
                    ));
                }
                let r = evaluate(&m, &d, &o).map_err(|e| e.to_string())?;
                report(&r, out.as_deref(), json)
            };
            if let Err(e) = run() {
                fail(e);
            }
        }
        Cmd::Soak { seconds, threads } => {
            if seconds == 0 || threads == 0 || threads > 64 {
                fail("--seconds must be ≥ 1 and --threads in 1..=64");
            }
            match last::bench::soak::soak(Duration::from_secs(seconds), threads, be) {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).expect("serialise"));
                    if r.errors > 0 || !r.model_unchanged {
                        fail("soak failed: errors on valid requests or the model changed");
                    }
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Info => {
            println!("isa: {}", be.isa());
            match last::bench::peak::peak_gflops() {
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
            let run = || -> Result<last::bench::scenario::LatencyRecord, String> {
                let sc = last::bench::scenario::Scenario::from_name(&scenario)
                    .ok_or_else(|| format!("unknown scenario {scenario:?} (standard, small)"))?;
                let v = parse_variant(&variant, k)?;
                if requests == 0 || threads == 0 {
                    return Err("--requests and --threads must be ≥ 1".into());
                }
                last::bench::scenario::bench_latency(sc, v, requests, threads, be)
            };
            match run() {
                Ok(r) if json => println!("{}", serde_json::to_string(&r).expect("serialise")),
                Ok(r) => println!(
                    "{} [{}] {} thread(s): p50 {:.0} µs, p90 {:.0}, p99 {:.0}; {:.1} MFLOP/request performed, \
                     {:.1} GFLOP/s = {:.0}% of peak ({:.1} MFLOP unfactored: {:.0}%); {:.1} candidates; \
                     beat baseline in {:.0}% (mean gain {:.4})",
                    r.variant,
                    r.isa,
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
