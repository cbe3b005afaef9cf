//! LETOR datasets: any LETOR / SVMlight file pair (`--data letor`), and the
//! MSLR sample's settings (`--data mslr`).
//!
//! Features `sign(x)·ln(1+|x|)`, standardised with training-file
//! statistics. Training-file queries are split by query into train (first
//! 80 %) and validation. A request is `N = 20` documents of one query drawn
//! without replacement (seeded); user features are `[1, ln(docs in
//! query)/5]`. The initial ranker is ridge regression on the train-split
//! labels (λ = 10). Ground truth: the cascade PBM of [`crate::data::sim`]
//! with examination `1/(t+1)`, attractiveness
//! `0.05 + 0.9·(2^label − 1)/(2^top − 1)` (`top`: the largest label, 4 for
//! MSLR), a stop probability of 0.3 after a click and a 0.5 penalty on
//! near-duplicates (documents with the same sign pattern on 4 fixed random
//! projections of their standardised features). Logs: ridge scores plus
//! Gumbel noise (scale: the scores' standard deviation), top-10 shown,
//! clicks sampled from the ground truth, eight per training request and two
//! per validation request.

use super::{real_config, ridge::ridge};
use crate::data::dataset::{Dataset, Instance};
use crate::data::sim::{ClickModel, Truth};
use crate::data::{feature_count, read_letor, DataError, LetorFile, LetorQuery};
use crate::rng::Rng;
use std::path::PathBuf;

/// Feature count of the MSLR-WEB files.
pub const MSLR_FEATURES: usize = 136;

/// Documents per request and the served list's length.
const N: usize = 20;
const LEN: usize = 10;

/// Which files make a LETOR dataset, and how to read them.
#[derive(Debug, Clone, PartialEq)]
pub struct LetorSpec {
    /// Dataset name in reports (`letor`, `mslr`).
    pub name: String,
    /// Training file (train and validation queries).
    pub train: PathBuf,
    /// Test file.
    pub test: PathBuf,
    /// Group file of a qid-less training file (Yahoo-style).
    pub train_groups: Option<PathBuf>,
    /// Group file of a qid-less test file.
    pub test_groups: Option<PathBuf>,
    /// Feature count; `None`: the largest index used in either file.
    pub features: Option<usize>,
    /// Drop the last query of each file (files known to be cut mid-query).
    pub drop_last_query: bool,
    /// The label of full attractiveness; `None`: the largest training label.
    pub top_label: Option<f32>,
}

impl LetorSpec {
    /// A user's LETOR files: features inferred, every query kept (except one
    /// whose last line was cut off), labels scaled by the largest one.
    pub fn letor(train: PathBuf, test: PathBuf) -> Self {
        LetorSpec {
            name: "letor".into(),
            train,
            test,
            train_groups: None,
            test_groups: None,
            features: None,
            drop_last_query: false,
            top_label: None,
        }
    }

    /// The MSLR-WEB samples: 136 features, labels 0–4, and the last query of
    /// each file dropped (the samples are a file's first 5,000 lines).
    pub fn mslr(train: PathBuf, test: PathBuf) -> Self {
        LetorSpec {
            name: "mslr".into(),
            features: Some(MSLR_FEATURES),
            drop_last_query: true,
            top_label: Some(4.0),
            ..Self::letor(train, test)
        }
    }
}

fn transform(v: f32) -> f32 {
    v.signum() * v.abs().ln_1p()
}

/// Reads both files with one feature count; returns (train, test, dim, notes).
fn read_files(s: &LetorSpec) -> Result<(Vec<LetorQuery>, Vec<LetorQuery>, usize), DataError> {
    let dim = match s.features {
        Some(d) => d,
        None => feature_count(&s.train)?.max(feature_count(&s.test)?),
    };
    let read = |path: &PathBuf, groups: &Option<PathBuf>| {
        let file = LetorFile {
            path,
            groups: groups.as_deref(),
        };
        let mut q = read_letor(file, dim)?.queries;
        if s.drop_last_query && q.len() > 1 {
            q.pop();
        }
        Ok::<_, DataError>(q)
    };
    Ok((
        read(&s.train, &s.train_groups)?,
        read(&s.test, &s.test_groups)?,
        dim,
    ))
}

/// Per-feature mean and standard deviation of the transformed features.
struct Standardiser {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardiser {
    fn fit(queries: &[LetorQuery], d: usize) -> Self {
        let mut mean = vec![0f64; d];
        let mut sq = vec![0f64; d];
        let mut count = 0f64;
        for q in queries {
            for row in q.features.chunks_exact(d) {
                for (j, &v) in row.iter().enumerate() {
                    let t = transform(v) as f64;
                    mean[j] += t;
                    sq[j] += t * t;
                }
                count += 1.0;
            }
        }
        let count = count.max(1.0);
        let std = (0..d)
            .map(|j| {
                let m = mean[j] / count;
                let v = sq[j] / count - m * m;
                if v > 1e-12 {
                    v.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        let mean = mean.iter().map(|m| m / count).collect();
        Standardiser { mean, std }
    }

    /// A query's feature rows, transformed and standardised.
    fn apply(&self, q: &LetorQuery) -> Vec<f32> {
        let d = self.mean.len();
        q.features
            .chunks_exact(d)
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, &v)| ((transform(v) as f64 - self.mean[j]) / self.std[j]) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The initial ranker: ridge weights (bias last) and the logging temperature.
struct Ranker {
    w: Vec<f64>,
    temp: f64,
}

impl Ranker {
    fn fit(queries: &[LetorQuery], norm: &Standardiser) -> Self {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for q in queries {
            let f = norm.apply(q);
            for (doc, row) in f.chunks_exact(norm.mean.len()).enumerate() {
                let mut r: Vec<f64> = row.iter().map(|v| *v as f64).collect();
                r.push(1.0);
                xs.push(r);
                ys.push(q.labels[doc] as f64);
            }
        }
        let w = ridge(&xs, &ys, 10.0);
        let scores: Vec<f64> = xs
            .iter()
            .map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum())
            .collect();
        let n = scores.len().max(1) as f64;
        let sm = scores.iter().sum::<f64>() / n;
        let var = scores.iter().map(|s| (s - sm) * (s - sm)).sum::<f64>() / n;
        Ranker {
            w,
            temp: var.sqrt().max(1e-3),
        }
    }

    fn score(&self, row: &[f32]) -> f64 {
        let d = self.w.len() - 1;
        row.iter()
            .zip(&self.w)
            .map(|(a, b)| *a as f64 * b)
            .sum::<f64>()
            + self.w[d]
    }
}

/// Near-duplicate groups: the sign pattern on 4 fixed random projections.
struct DupGroups(Vec<Vec<f32>>);

impl DupGroups {
    fn new(d: usize) -> Self {
        let mut prng = Rng::new(0x1e70);
        DupGroups(
            (0..4)
                .map(|_| (0..d).map(|_| prng.normal() as f32).collect())
                .collect(),
        )
    }

    fn of(&self, row: &[f32]) -> u32 {
        self.0.iter().enumerate().fold(0u32, |g, (b, p)| {
            let s: f32 = row.iter().zip(p).map(|(a, b)| a * b).sum();
            g | (((s > 0.0) as u32) << b)
        })
    }
}

/// Everything a request needs from the training file.
struct Fitted {
    d: usize,
    norm: Standardiser,
    ranker: Ranker,
    dups: DupGroups,
    top: f32,
}

impl Fitted {
    /// `per` requests of each query with at least `LEN` documents.
    fn requests(&self, qs: &[LetorQuery], per: usize, tag: &str, rng: &mut Rng) -> Vec<Instance> {
        let d = self.d;
        let gain = |l: f32| (2f32.powf(l.clamp(0.0, self.top)) - 1.0) / (2f32.powf(self.top) - 1.0);
        let mut out = Vec::new();
        for q in qs {
            let f = self.norm.apply(q);
            let docs = q.docs();
            if docs < LEN {
                continue;
            }
            for r in 0..per {
                let mut idx: Vec<usize> = (0..docs).collect();
                rng.shuffle(&mut idx);
                idx.truncate(N.min(docs));
                let items: Vec<f32> = idx
                    .iter()
                    .flat_map(|&i| f[i * d..(i + 1) * d].to_vec())
                    .collect();
                let labels: Vec<f32> = idx.iter().map(|&i| q.labels[i]).collect();
                let sc: Vec<f64> = (0..idx.len())
                    .map(|k| self.ranker.score(&items[k * d..(k + 1) * d]))
                    .collect();
                let mut order: Vec<usize> = (0..idx.len()).collect();
                order.sort_by(|&a, &b| sc[b].total_cmp(&sc[a]));
                out.push(Instance {
                    key: format!("{tag}{}#{r}", q.qid),
                    user: vec![1.0, (docs as f32).ln() / 5.0],
                    n: idx.len(),
                    initial: order[..LEN].to_vec(),
                    truth: Truth {
                        attract: labels.iter().map(|&l| 0.05 + 0.9 * gain(l)).collect(),
                        group: (0..idx.len())
                            .map(|k| self.dups.of(&items[k * d..(k + 1) * d]))
                            .collect(),
                        labels,
                    },
                    items,
                });
            }
        }
        out
    }
}

/// The LETOR dataset of the module docs.
pub fn letor(spec: &LetorSpec, seed: u64) -> Result<Dataset, DataError> {
    let (mut tr_q, te, d) = read_files(spec)?;
    let n_valid = (tr_q.len() / 5).max(1).min(tr_q.len().saturating_sub(1));
    let va_q = tr_q.split_off(tr_q.len() - n_valid);
    let norm = Standardiser::fit(&tr_q, d);
    let top = spec.top_label.unwrap_or_else(|| {
        let max = tr_q
            .iter()
            .flat_map(|q| &q.labels)
            .fold(0f32, |m, &l| m.max(l));
        max.max(1.0)
    });
    let fitted = Fitted {
        d,
        ranker: Ranker::fit(&tr_q, &norm),
        norm,
        dups: DupGroups::new(d),
        top,
    };
    let judge = ClickModel::new(LEN, 1.0, 0.3, 0.5);
    let mut rng = Rng::new(seed ^ 0x4d53_4c52);
    let train = fitted.requests(&tr_q, 40, "train", &mut rng);
    let valid = fitted.requests(&va_q, 30, "valid", &mut rng);
    let test = fitted.requests(&te, 10, "test", &mut rng);
    let mut lr = rng.fork(9);
    let sc_of = |inst: &Instance, i: usize| {
        fitted.ranker.score(&inst.items[i * d..(i + 1) * d]) / fitted.ranker.temp
    };
    let train_logs = crate::data::world::logs(&train, 8, LEN, &judge, sc_of, &mut lr);
    let valid_logs = crate::data::world::logs(&valid, 2, LEN, &judge, sc_of, &mut lr);
    let dropped = if spec.drop_last_query {
        " (last query of each file dropped)"
    } else {
        ""
    };
    let ds = Dataset {
        name: spec.name.clone(),
        cfg: real_config(d, 64, LEN),
        len: LEN,
        judge,
        notes: vec![format!(
            "{}: {d} features, {} train / {} validation / {} test queries{dropped}; {} / {} / {} requests of N = {N}, L = {LEN}; ridge initial ranker; logs = ridge + Gumbel, clicks from the ground truth (labels scaled by {top})",
            spec.name, tr_q.len(), va_q.len(), te.len(), train.len(), valid.len(), test.len()
        )],
        train_log_instances: train.clone(),
        valid_log_instances: valid.clone(),
        train,
        valid,
        test,
        train_logs,
        valid_logs,
        map_threshold: 1.0,
        simulated_clicks: true,
    };
    ds.check_splits(&format!(
        "{} train / {} validation queries from the training file (the last 20 %, at least one, are validation{}), {} test queries; requests need queries with at least {LEN} documents",
        tr_q.len(),
        va_q.len(),
        if spec.drop_last_query { "; the last query of each file is dropped" } else { "" },
        te.len()
    ))?;
    Ok(ds)
}
