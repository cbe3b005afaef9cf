//! `last demo`: train on the embedded synthetic world, then compare.

use super::args::EvalArgs;
use super::output::{note, prepare_out_dir, runtime, write_file, Failure};
use last::eval::{evaluate, Report};
use last::pipeline::{load, train, Source};
use last_kernels::Backend;
use std::path::PathBuf;
use std::time::Instant;

/// Train on the embedded synthetic world and compare every variant on
/// its test split (the project's main job; no files needed).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Report folder (the model goes to OUT/model; checked writable first).
    #[arg(long, default_value = "last-report/demo")]
    out: PathBuf,
    /// One JSON object per variant on stdout instead of the table (the
    /// table is written to OUT/report.txt either way).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    eval: EvalArgs,
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    let t = Instant::now();
    let o = a.eval.options();
    let model_dir = a.out.join("model");
    let mut files: Vec<&str> = Report::FILES.to_vec();
    files.push("train.json");
    prepare_out_dir(&a.out, &files)?;
    let mut model_files = super::train::MODEL_FILES.to_vec();
    model_files.push(last::model::SERVING_FILE);
    prepare_out_dir(&model_dir, &model_files)?;
    let data = load(
        &Source::Synthetic(last::data::world::WorldSpec::default()),
        1,
    )
    .map_err(runtime)?;
    note(&data.notes.join("\n"));
    let (m, summary) = train(&data, &last::train::TrainOptions::default(), be).map_err(runtime)?;
    m.save(&model_dir).map_err(runtime)?;
    write_file(
        &a.out.join("train.json"),
        &serde_json::to_string_pretty(&summary).expect("the summary serialises"),
    )?;
    note(&format!(
        "trained in {:.1} s; evaluating on {} test requests",
        summary.seconds,
        data.test.len()
    ));
    let r = evaluate(&m, &data, &o).map_err(runtime)?;
    super::eval::report(&r, Some(&a.out), a.json)?;
    r.serving.write(&model_dir).map_err(runtime)?;
    note(&format!(
        "demo done in {:.1} s: report {}, plot {}, model {}",
        t.elapsed().as_secs_f64(),
        a.out.join("report.txt").display(),
        a.out.join("reward_vs_budget.svg").display(),
        model_dir.display()
    ));
    Ok(())
}
