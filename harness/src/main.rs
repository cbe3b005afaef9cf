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
    /// Measure throughput and latency.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
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
        Cmd::Bench { what } => match what {
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
