//! The evaluator's quality on held-out data: log-loss, AUC and Kendall τ-b
//! against the judge, on random re-orderings and near the generator.

use super::*;

/// Evaluator log-loss / AUC on held-out logs and Kendall τ on random lists.
pub fn evaluator_quality(
    m: &Model,
    data: &Dataset,
    o: &EvalOptions,
) -> Result<EvaluatorQuality, EvalError> {
    let (p, y) = predict_logs(m, &data.valid_log_instances, &data.valid_logs, data.len)?;
    let test = cap(&data.test, o.max_requests.or(Some(200)));
    let per = 20;
    let mut rng = Rng::new(o.seed ^ 0x7a0);
    let mut taus = Vec::new();
    let mut taus_policy = Vec::new();
    let tau = |inst: &Instance, lists: &[Vec<usize>]| -> Result<Option<f64>, EvalError> {
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
        Ok(metrics::kendall_tau_b(&es, &gt))
    };
    for inst in test {
        let random: Vec<Vec<usize>> = (0..per)
            .map(|_| {
                let mut idx: Vec<usize> = (0..inst.n).collect();
                rng.shuffle(&mut idx);
                idx.truncate(data.len);
                idx
            })
            .collect();
        taus.extend(tau(inst, &random)?);
        let policy: Vec<Vec<usize>> = (0..per)
            .map(|_| rollout(m, inst, data.len, Pick::Sample(&mut rng)).map(|r| r.list))
            .collect::<Result<_, _>>()?;
        taus_policy.extend(tau(inst, &policy)?);
    }
    Ok(EvaluatorQuality {
        logloss: metrics::log_loss(&p, &y).unwrap_or(f64::NAN),
        auc: metrics::auc(&p, &y),
        kendall_tau: metrics::mean(&taus),
        tau_lists: (taus.len(), per),
        kendall_tau_policy: metrics::mean(&taus_policy),
    })
}
