//! `last train`: train evaluator and generator, write the model folder.

use super::args::DataArgs;
use super::output::{note, prepare_out_dir, runtime, write_file, Failure};
use last::pipeline::{load, train};
use last_kernels::Backend;
use std::path::PathBuf;

/// The files a model folder holds.
pub const MODEL_FILES: [&str; 3] = ["model.safetensors", "config.json", "train.json"];

/// Train evaluator and generator on a dataset; write safetensors + config.json.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Output model folder (created; checked writable before training).
    #[arg(long)]
    model: PathBuf,
    /// Seed of initialisation and training (any u64).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Second logging round: impressions per train and validation request
    /// logged from the trained generator (clicks simulated; synthetic and
    /// LETOR data only), then the evaluator retrained on both rounds; 0 = none.
    #[arg(long, default_value_t = last::train::TrainOptions::default().relog, value_parser = super::args::usize_in(0, 64))]
    relog: usize,
    /// Evaluator ensemble size, the evaluator included: the further members
    /// train on bootstrap resamples of the same logs with their own seeds
    /// (read by the safe variant); 1 = the evaluator alone.
    #[arg(long, default_value_t = last::train::TrainOptions::default().members, value_parser = super::args::usize_in(1, last::model::MAX_MEMBERS))]
    members: usize,
}

pub fn run(a: Args, be: Backend) -> Result<(), Failure> {
    let source = a.data.source()?;
    prepare_out_dir(&a.model, &MODEL_FILES)?;
    let d = load(&source, a.data.data_seed).map_err(runtime)?;
    note(&d.notes.join("\n"));
    let o = last::train::TrainOptions {
        seed: a.seed,
        relog: a.relog,
        members: a.members,
        ..Default::default()
    };
    let (m, summary) = train(&d, &o, be).map_err(runtime)?;
    m.save(&a.model).map_err(runtime)?;
    write_file(
        &a.model.join("train.json"),
        &serde_json::to_string_pretty(&summary).expect("the summary serialises"),
    )?;
    note(&format!(
        "trained in {:.1} s: evaluator valid log-loss {:.4} (untrained {:.4}), generator valid evaluator score {:.4} (untrained {:.4}); wrote {}",
        summary.seconds,
        summary.evaluator.best_valid_loss,
        summary.evaluator.initial_valid_loss,
        summary.generator.best_valid_score,
        summary.generator.initial_valid_score,
        a.model.display()
    ));
    if let Some(r) = &summary.relog {
        note(&format!(
            "second logging round: {} + {} impressions from the generator; evaluator τ-b near the generator on validation {:.3} → {:.3} (random lists {:.3} → {:.3})",
            r.impressions.0,
            r.impressions.1,
            r.valid_tau_policy.0,
            r.valid_tau_policy.1,
            r.valid_tau_random.0,
            r.valid_tau_random.1
        ));
    }
    Ok(())
}
