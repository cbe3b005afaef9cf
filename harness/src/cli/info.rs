//! `last info`: the instruction-set path, the bf16 path and the measured
//! FMA peak.

use super::output::{println, Failure};
use last_kernels::Backend;

/// Print the instruction-set path in use and the measured FMA peak.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_: Args, be: Backend) -> Result<(), Failure> {
    let isa = be.isa();
    println(&format!("isa: {isa} ({} f32 lanes)", isa.lanes()))?;
    let bf16 = last_kernels::bf16::Bf16Backend::detect();
    println(&format!(
        "bf16 products (models stored as bf16): {}",
        bf16.name()
    ))?;
    #[cfg(target_arch = "x86_64")]
    if let Err(why) = last_kernels::bf16::Amx::try_new() {
        println(&format!("amx: not used ({why})"))?;
    }
    match last::bench::peak::peak_gflops(isa) {
        Some(p) => println(&format!(
            "peak_gflops (1 core, fp32 FMA probe of {isa}): {p:.1}"
        )),
        None => println("peak_gflops: no probe for this CPU"),
    }
}
