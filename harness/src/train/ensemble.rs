//! The evaluator ensemble: members beyond the evaluator, each trained like
//! it but from its own initialisation seed on a bootstrap resample of the
//! training logs (early stopping on the full validation logs). Their
//! disagreement on a list is what pessimistic selection
//! ([`crate::serve::Variant::Safe`]) reads as uncertainty.

use super::*;
use crate::model::{member_seed, Evaluator};

/// `data` with its training logs resampled with replacement (as many
/// logs, drawn by `rng`).
fn bootstrap(data: &Dataset, rng: &mut Rng) -> Dataset {
    let mut d = data.clone();
    let n = data.train_logs.len();
    d.train_logs = (0..n)
        .map(|_| data.train_logs[rng.below(n)].clone())
        .collect();
    d
}

/// Trains `members − 1` further evaluators on bootstrap resamples of
/// `data`'s training logs and installs them as `m.ensemble` (replacing any
/// there). The evaluator and the generator are not changed. Returns each
/// member's training report.
pub fn train_ensemble(
    m: &mut Model,
    data: &Dataset,
    members: usize,
    o: &TrainOptions,
) -> Result<Vec<EvalTrainReport>, TrainError> {
    if members == 0 || members > crate::model::MAX_MEMBERS {
        return Err(TrainError::Data(format!(
            "an ensemble has 1..={} members, not {members}",
            crate::model::MAX_MEMBERS
        )));
    }
    let mut reports = Vec::new();
    let mut ensemble = Vec::new();
    for i in 1..members {
        let seed = member_seed(o.seed, i);
        let mut rng = Rng::new(seed ^ 0xb007);
        let resampled = bootstrap(data, &mut rng);
        let mut member = m.clone();
        member.ensemble.clear();
        member.eval = Evaluator::random(&m.cfg, seed)?;
        let oi = TrainOptions { seed, ..o.clone() };
        reports.push(train_evaluator(&mut member, &resampled, &oi)?);
        ensemble.push(member.eval);
    }
    m.ensemble = ensemble;
    Ok(reports)
}
