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
    let (taus, taus_policy) = kendall_taus(m, data, test, per, &mut rng)?;
    Ok(EvaluatorQuality {
        logloss: metrics::log_loss(&p, &y).unwrap_or(f64::NAN),
        auc: metrics::auc(&p, &y),
        kendall_tau: metrics::mean(&taus),
        tau_lists: (taus.len(), per),
        kendall_tau_policy: metrics::mean(&taus_policy),
    })
}
