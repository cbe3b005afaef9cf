//! `last eval`, and the report printing `demo` shares.

use super::args::{DataArgs, EvalArgs};
use super::output::{note, prepare_out_dir, print, println, runtime, Failure};
use last::eval::{evaluate, Report};
use last::pipeline::load;
use last_kernels::Backend;
use std::path::{Path, PathBuf};

/// Compare every variant on a dataset's test split with a trained model;
/// writes the knobs and variant chosen on validation to MODEL/serving.json.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Model folder written by `last train`.
    #[arg(long)]
    model: PathBuf,
    /// Report folder (created; checked writable before evaluating).
    #[arg(long)]
    out: Option<PathBuf>,
    /// One JSON object per variant on stdout instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    eval: EvalArgs,
}

/// Prints the table (or JSON lines) on stdout, then writes the report files.
pub fn report(r: &Report, out: Option<&Path>, json: bool) -> Result<(), Failure> {
    if json {
        print(&r.json_lines())?;
    } else {
        println(&r.table())?;
    }
    if let Some(dir) = out {
        for f in r.write(dir).map_err(runtime)? {
            note(&format!("wrote {}", f.display()));
        }
    }
    Ok(())
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    let o = a.eval.options();
    let source = a.data.source()?;
    if let Some(dir) = &a.out {
        prepare_out_dir(dir, &Report::FILES)?;
    }
    prepare_out_dir(&a.model, &[last::model::SERVING_FILE])?;
    let m = last::model::Model::load(&a.model, be).map_err(runtime)?;
    let d = load(&source, a.data.data_seed).map_err(runtime)?;
    if m.cfg.d_x != d.cfg.d_x || m.cfg.d_u != d.cfg.d_u {
        return Err(runtime(format!(
            "model {} has d_x = {}, d_u = {}; dataset {} needs {} and {}",
            a.model.display(),
            m.cfg.d_x,
            m.cfg.d_u,
            d.name,
            d.cfg.d_x,
            d.cfg.d_u
        )));
    }
    let r = evaluate(&m, &d, &o).map_err(runtime)?;
    report(&r, a.out.as_deref(), a.json)?;
    // The serving defaults chosen on validation, beside the weights.
    r.serving.write(&a.model).map_err(runtime)?;
    note(&format!(
        "wrote {} (serve {} by default)",
        a.model.join(last::model::SERVING_FILE).display(),
        r.serving.variant
    ));
    Ok(())
}
