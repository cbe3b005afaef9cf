//! The embedded default scenario: a seeded synthetic world that needs no
//! files, so `last demo` runs anywhere.
//!
//! * **Items** (d_x = 16): a noisy one-hot of one of 4 categories, 4 topic
//!   coordinates, a noisy quality signal, a popularity signal (half quality,
//!   half noise) and 6 pure-noise features.
//! * **Users** (d_u = 8): 4 topic preferences and 4 category preferences.
//! * **Hidden click model** ([`ClickModel`]): attractiveness
//!   `0.9·σ(−1 + quality + ⟨topic pref, topic⟩/2 + 0.7·category pref)`,
//!   examination `1/(t+1)^0.8`, a cascade stop of 0.3 after a click, and a
//!   near-duplicate penalty of 0.5 for an item whose category already
//!   appeared above it — so the best list is personal *and* diverse, not a
//!   sort by one score.
//! * **Initial ranker**: sort by the popularity feature (not personal, not
//!   diversity-aware). **Logs**: its scores plus Gumbel(1) noise for
//!   exploration, top-L shown, clicks sampled from the hidden model.
//! * **Labels** (for NDCG / MAP): `round(4·attractiveness / 0.9)`, 0–4.

use crate::data::dataset::{Dataset, Instance, Log};
use crate::data::sim::{ClickModel, Truth};
use crate::model::{Config, Dtype};
use crate::rng::Rng;

/// Sizes of the synthetic world.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldSpec {
    /// Seed of everything.
    pub seed: u64,
    /// Candidates per request.
    pub n: usize,
    /// Output length L.
    pub len: usize,
    /// Training requests (each logged `logs_per_instance` times).
    pub train: usize,
    /// Validation requests.
    pub valid: usize,
    /// Test requests.
    pub test: usize,
    /// Logged impressions per training / validation request.
    pub logs_per_instance: usize,
}

impl Default for WorldSpec {
    /// The demo's world: N = 10, L = 5 (small enough for the exhaustive
    /// optimum), 3000 / 1000 / 300 requests (a large validation split, so
    /// the σ chosen on it is not noise).
    fn default() -> Self {
        WorldSpec {
            seed: 2024,
            n: 10,
            len: 5,
            train: 3000,
            valid: 1000,
            test: 300,
            logs_per_instance: 2,
        }
    }
}

const D_X: usize = 16;
const D_U: usize = 8;
const CATS: usize = 4;
const TOPICS: usize = 4;

/// The model shapes used for the world.
pub fn config(spec: &WorldSpec) -> Config {
    Config {
        d_x: D_X,
        d_u: D_U,
        hidden: 32,
        eval_h1: 64,
        eval_h2: 32,
        pos_dim: 8,
        max_len: spec.len,
        max_candidates: 64,
        dtype: Dtype::F32,
        position_weights: None,
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn instance(rng: &mut Rng, n: usize, len: usize, key: String) -> Instance {
    let topic_pref: Vec<f64> = (0..TOPICS).map(|_| rng.normal()).collect();
    let cat_pref: Vec<f64> = (0..CATS).map(|_| rng.normal()).collect();
    let user: Vec<f32> = topic_pref
        .iter()
        .chain(&cat_pref)
        .map(|v| *v as f32)
        .collect();
    let mut items = Vec::with_capacity(n * D_X);
    let mut attract = Vec::with_capacity(n);
    let mut group = Vec::with_capacity(n);
    let mut pop = Vec::with_capacity(n);
    for _ in 0..n {
        let cat = rng.below(CATS);
        let topic: Vec<f64> = (0..TOPICS).map(|_| rng.normal()).collect();
        let quality = rng.normal();
        let popularity = 0.5 * quality + rng.normal();
        for c in 0..CATS {
            let one = if c == cat { 1.0 } else { 0.0 };
            items.push((one + 0.1 * rng.normal()) as f32);
        }
        items.extend(topic.iter().map(|v| *v as f32));
        items.push((quality + 0.5 * rng.normal()) as f32);
        items.push(popularity as f32);
        items.extend((0..D_X - CATS - TOPICS - 2).map(|_| rng.normal() as f32));
        let affinity: f64 = topic.iter().zip(&topic_pref).map(|(a, b)| a * b).sum();
        let logit = -1.0 + quality + affinity / 2.0 + 0.7 * cat_pref[cat];
        attract.push((0.9 * sigmoid(logit)) as f32);
        group.push(cat as u32);
        pop.push(popularity);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| pop[b].total_cmp(&pop[a]));
    let labels = attract.iter().map(|a| (4.0 * a / 0.9).round()).collect();
    Instance {
        key,
        user,
        items,
        n,
        initial: order[..len].to_vec(),
        truth: Truth {
            attract,
            group,
            labels,
        },
    }
}

/// Logged impressions: the initial ranker's scores (popularity, feature 9)
/// plus Gumbel noise, top-L, clicks from the judge.
pub(crate) fn logs(
    insts: &[Instance],
    per: usize,
    len: usize,
    judge: &ClickModel,
    score: impl Fn(&Instance, usize) -> f64,
    rng: &mut Rng,
) -> Vec<Log> {
    let mut out = Vec::with_capacity(insts.len() * per);
    for (k, inst) in insts.iter().enumerate() {
        for _ in 0..per {
            let mut keyed: Vec<(f64, usize)> = (0..inst.n)
                .map(|i| (score(inst, i) + rng.gumbel(), i))
                .collect();
            keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
            let list: Vec<usize> = keyed[..len].iter().map(|p| p.1).collect();
            let clicks = judge.sample(&inst.truth, &list, rng);
            out.push(Log {
                instance: k,
                list,
                clicks,
            });
        }
    }
    out
}

/// Builds the synthetic dataset.
pub fn build(spec: &WorldSpec) -> Dataset {
    let rng = Rng::new(spec.seed);
    let judge = ClickModel::new(spec.len, 0.8, 0.3, 0.5);
    let split = |count: usize, tag: &str, salt: u64| -> Vec<Instance> {
        let mut r = rng.fork(salt);
        (0..count)
            .map(|i| instance(&mut r, spec.n, spec.len, format!("{tag}{i}")))
            .collect()
    };
    let train = split(spec.train, "train", 1);
    let valid = split(spec.valid, "valid", 2);
    let test = split(spec.test, "test", 3);
    let pop = |inst: &Instance, i: usize| inst.items[i * D_X + CATS + TOPICS + 1] as f64;
    let mut lr = rng.fork(4);
    let train_logs = logs(
        &train,
        spec.logs_per_instance,
        spec.len,
        &judge,
        pop,
        &mut lr,
    );
    let valid_logs = logs(
        &valid,
        spec.logs_per_instance,
        spec.len,
        &judge,
        pop,
        &mut lr,
    );
    Dataset {
        name: "synthetic".into(),
        cfg: config(spec),
        len: spec.len,
        judge,
        train_log_instances: train.clone(),
        valid_log_instances: valid.clone(),
        train,
        valid,
        test,
        train_logs,
        valid_logs,
        map_threshold: 2.0,
        simulated_clicks: true,
        notes: vec![format!(
            "embedded synthetic world, seed {}: N = {}, L = {}, {} / {} / {} train / valid / test requests, {} logged impressions per train and valid request (popularity ranker + Gumbel(1) exploration, clicks from the hidden model)",
            spec.seed, spec.n, spec.len, spec.train, spec.valid, spec.test, spec.logs_per_instance
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_is_seeded_and_order_matters() {
        let spec = WorldSpec {
            train: 50,
            valid: 10,
            test: 10,
            ..WorldSpec::default()
        };
        let a = build(&spec);
        let b = build(&spec);
        assert_eq!(a.test[3].items, b.test[3].items);
        assert_eq!(a.train_logs[7].clicks, b.train_logs[7].clicks);
        assert_eq!(a.train_logs.len(), 100);
        // The judge prefers some orders of the same items over others.
        let inst = &a.test[0];
        let fwd = a.judge.expected_clicks(&inst.truth, &inst.initial);
        let mut rev = inst.initial.clone();
        rev.reverse();
        assert_ne!(fwd, a.judge.expected_clicks(&inst.truth, &rev));
        assert!(inst.truth.labels.iter().all(|l| (0.0..=4.0).contains(l)));
    }
}
