//! The steps behind `last demo`, `last train` and `last eval`: build a
//! dataset from its source, train evaluator then generator, save, evaluate.

use crate::data::dataset::Dataset;
use crate::model::Model;
use crate::train::{
    train_evaluator, train_generator, EvalTrainReport, GenTrainReport, TrainOptions,
};
use last_kernels::Backend;
use serde::Serialize;
use std::path::PathBuf;

/// Where a dataset comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The embedded synthetic world.
    Synthetic(crate::data::world::WorldSpec),
    /// LETOR files (a user's own, or the MSLR sample's settings).
    Letor(crate::data::sources::LetorSpec),
    /// WSCD click logs: train and test sessions.
    Wscd {
        /// Training sessions.
        train: PathBuf,
        /// Test sessions.
        test: PathBuf,
    },
}

/// Builds the dataset of a source (deterministic for a seed).
pub fn load(source: &Source, seed: u64) -> Result<Dataset, String> {
    match source {
        Source::Synthetic(spec) => {
            let d = crate::data::world::build(spec);
            d.check_splits(&format!(
                "{} train / {} validation / {} test requests asked for",
                spec.train, spec.valid, spec.test
            ))
            .map_err(|e| e.to_string())?;
            Ok(d)
        }
        Source::Letor(spec) => crate::data::sources::letor(spec, seed).map_err(|e| e.to_string()),
        Source::Wscd { train, test } => {
            crate::data::sources::wscd(train, test, seed).map_err(|e| e.to_string())
        }
    }
}

/// What `train` did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Dataset.
    pub dataset: String,
    /// Options.
    pub options: TrainOptions,
    /// Evaluator training.
    pub evaluator: EvalTrainReport,
    /// Generator training.
    pub generator: GenTrainReport,
    /// The second logging round, when it ran.
    pub relog: Option<crate::train::RelogReport>,
    /// Training of the further ensemble members.
    pub ensemble: Vec<EvalTrainReport>,
    /// Wall time (s).
    pub seconds: f64,
    /// Dataset preparation notes.
    pub notes: Vec<String>,
}

/// Trains a fresh model on `data`: evaluator first, then the generator
/// against it.
pub fn train(
    data: &Dataset,
    o: &TrainOptions,
    be: Backend,
) -> Result<(Model, TrainSummary), String> {
    let t = std::time::Instant::now();
    let mut m = Model::random(data.cfg.clone(), o.seed, be).map_err(|e| e.to_string())?;
    let evaluator = train_evaluator(&mut m, data, o).map_err(|e| e.to_string())?;
    let generator = train_generator(&mut m, data, o).map_err(|e| e.to_string())?;
    let (relog, both) = match o.relog {
        0 => (None, None),
        _ if !data.simulated_clicks => (None, None),
        per => {
            let (r, both) =
                crate::train::second_round(&mut m, data, per, o).map_err(|e| e.to_string())?;
            (Some(r), Some(both))
        }
    };
    // The members learn from the same logs as the evaluator they join.
    let members = crate::train::train_ensemble(&mut m, both.as_ref().unwrap_or(data), o.members, o)
        .map_err(|e| e.to_string())?;
    Ok((
        m,
        TrainSummary {
            dataset: data.name.clone(),
            options: o.clone(),
            evaluator,
            generator,
            relog,
            ensemble: members,
            seconds: t.elapsed().as_secs_f64(),
            notes: data.notes.clone(),
        },
    ))
}
