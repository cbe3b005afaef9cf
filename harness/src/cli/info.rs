//! `last info`: the instruction-set path and the measured FMA peak.

use super::output::{println, Failure};
use last_kernels::Backend;

/// Print the instruction-set path in use and the measured FMA peak.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_: Args, be: Backend) -> Result<(), Failure> {
    println(&format!("isa: {}", be.isa()))?;
    match last::bench::peak::peak_gflops() {
        Some(p) => println(&format!("peak_gflops (1 core, fp32 FMA probe): {p:.1}")),
        None => println("peak_gflops: no probe for this CPU"),
    }
}
