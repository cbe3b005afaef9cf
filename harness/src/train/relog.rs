//! The second logging round (docs/DESIGN.md §4): once the generator is
//! trained, impressions are logged **from it** with sampling exploration
//! (lists drawn from its softmax by Gumbel-max), clicks come from the same
//! simulator as the first round's, and the evaluator is fine-tuned on both
//! rounds. Production systems log the deployed policy's traffic this way;
//! the evaluator then learns the neighbourhood of the generator's list,
//! which is where LAST searches.
//!
//! Only train and validation requests are logged, and only where the data
//! can simulate clicks on any list ([`Dataset::simulated_clicks`]: the
//! synthetic world and LETOR data, not fixed real logs). The simulator is
//! never shown to the evaluator: it sees sampled clicks, as in round one.

use super::*;

/// Kendall τ-b between the evaluator's list score and the judge's expected
/// clicks, over `per` random re-orderings and `per` lists sampled from the
/// generator per request (means over requests with a defined τ). The
/// second figure is the evaluator's quality near the generator's list.
pub fn kendall_taus(
    m: &Model,
    data: &Dataset,
    insts: &[Instance],
    per: usize,
    rng: &mut Rng,
) -> Result<(Vec<f64>, Vec<f64>), TrainError> {
    let tau = |inst: &Instance, lists: &[Vec<usize>]| -> Result<Option<f64>, TrainError> {
        let pairs: Vec<(&Instance, &[usize])> = lists.iter().map(|l| (inst, &l[..])).collect();
        let es: Vec<f64> = EvalPass::forward(m, &pairs, data.len)?
            .list_scores(m)
            .iter()
            .map(|v| *v as f64)
            .collect();
        let gt: Vec<f64> = lists
            .iter()
            .map(|l| data.judge.expected_clicks(&inst.truth, l))
            .collect();
        Ok(crate::eval::metrics::kendall_tau_b(&es, &gt))
    };
    let (mut random_taus, mut policy_taus) = (Vec::new(), Vec::new());
    for inst in insts {
        let random: Vec<Vec<usize>> = (0..per)
            .map(|_| {
                let mut idx: Vec<usize> = (0..inst.n).collect();
                rng.shuffle(&mut idx);
                idx.truncate(data.len);
                idx
            })
            .collect();
        random_taus.extend(tau(inst, &random)?);
        let policy: Vec<Vec<usize>> = (0..per)
            .map(|_| rollout(m, inst, data.len, Pick::Sample(rng)).map(|r| r.list))
            .collect::<Result<_, _>>()?;
        policy_taus.extend(tau(inst, &policy)?);
    }
    Ok((random_taus, policy_taus))
}

/// Mean of a non-empty series (NaN for an empty one).
fn mean(v: &[f64]) -> f64 {
    crate::eval::metrics::mean(v)
}

/// What the second round did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelogReport {
    /// Impressions logged from the generator (train, validation).
    pub impressions: (usize, usize),
    /// Evaluator τ-b near the generator on validation requests, before and
    /// after fine-tuning (measured, never used to choose anything).
    pub valid_tau_policy: (f64, f64),
    /// The same on random re-orderings, before and after.
    pub valid_tau_random: (f64, f64),
    /// Fine-tuning on both rounds.
    pub evaluator: EvalTrainReport,
}

/// Impressions of `insts` logged from the generator: `per` sampled lists
/// each, clicks from the simulator.
fn logs_from_generator(
    m: &Model,
    data: &Dataset,
    insts: &[Instance],
    per: usize,
    offset: usize,
    rng: &mut Rng,
) -> Result<Vec<Log>, TrainError> {
    let mut out = Vec::with_capacity(insts.len() * per);
    for (k, inst) in insts.iter().enumerate() {
        for _ in 0..per {
            let list = rollout(m, inst, data.len, Pick::Sample(rng))?.list;
            let clicks = data.judge.sample(&inst.truth, &list, rng);
            out.push(Log {
                instance: offset + k,
                list,
                clicks,
            });
        }
    }
    Ok(out)
}

/// `data` with a second round of `per` impressions per train and
/// validation request logged from `m`'s generator.
pub fn with_generator_logs(
    m: &Model,
    data: &Dataset,
    per: usize,
    seed: u64,
) -> Result<Dataset, TrainError> {
    if !data.simulated_clicks {
        return Err(TrainError::Data(format!(
            "{}: fixed real logs, no clicks to simulate for a second round",
            data.name
        )));
    }
    let mut rng = Rng::new(seed ^ 0x2e10);
    let mut d = data.clone();
    let off = d.train_log_instances.len();
    let train = logs_from_generator(m, data, &data.train, per, off, &mut rng)?;
    d.train_log_instances.extend(data.train.iter().cloned());
    d.train_logs.extend(train);
    let off = d.valid_log_instances.len();
    let valid = logs_from_generator(m, data, &data.valid, per, off, &mut rng)?;
    d.valid_log_instances.extend(data.valid.iter().cloned());
    d.valid_logs.extend(valid);
    Ok(d)
}

/// The second round: logs from the generator, then the evaluator retrained
/// on both rounds (from the same initialisation, early stopping on both
/// rounds' validation logs). The generator is not changed. Returns the
/// report and the data with both rounds (what the ensemble trains on).
pub fn second_round(
    m: &mut Model,
    data: &Dataset,
    per: usize,
    o: &TrainOptions,
) -> Result<(RelogReport, Dataset), TrainError> {
    let both = with_generator_logs(m, data, per, o.seed)?;
    let probe: Vec<Instance> = data.valid.iter().take(200).cloned().collect();
    let taus = |m: &Model| {
        let mut rng = Rng::new(o.seed ^ 0x7a1);
        kendall_taus(m, data, &probe, 20, &mut rng).map(|(r, p)| (mean(&r), mean(&p)))
    };
    let before = taus(m)?;
    // Retrained from its initialisation on both rounds (fine-tuning the
    // round-one evaluator overfits the small samples at once).
    m.eval = Model::random(m.cfg.clone(), o.seed, m.backend)?.eval;
    let evaluator = train_evaluator(m, &both, o)?;
    let after = taus(m)?;
    let report = RelogReport {
        impressions: (
            both.train_logs.len() - data.train_logs.len(),
            both.valid_logs.len() - data.valid_logs.len(),
        ),
        valid_tau_policy: (before.1, after.1),
        valid_tau_random: (before.0, after.0),
        evaluator,
    };
    Ok((report, both))
}
