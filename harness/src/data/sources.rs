//! Real-data datasets: MSLR-style LETOR files and WSCD click logs, turned
//! into [`Dataset`]s with a ground truth the models never see.
//!
//! **LETOR (MSLR).** Features `sign(x)·ln(1+|x|)`, standardised with
//! training-file statistics. The last query of each file is dropped (the
//! shared samples cut it off). Training-file queries are split by query
//! into train (first 80 %) and validation. A request is `N = 20` documents
//! of one query drawn without replacement (seeded); user features are
//! `[1, ln(docs in query)/5]`. The initial ranker is ridge regression on
//! the train-split labels (λ = 10). Ground truth: the cascade PBM of
//! [`crate::data::sim`] with examination `1/(t+1)`, attractiveness
//! `0.05 + 0.9·(2^label − 1)/15`, a stop probability of 0.3 after a click
//! and a 0.5 penalty on near-duplicates (documents with the same sign
//! pattern on 4 fixed random projections of their standardised features).
//! Logs: ridge scores plus Gumbel noise (scale: the scores' standard
//! deviation), top-10 shown, clicks sampled from the ground truth, eight per
//! training request and two per validation request.
//!
//! **WSCD.** Items have ids only, so features are click statistics from
//! **one half** of the training sessions (the even-numbered ones); the other
//! half are the evaluator's logs (real clicks on the first L = 5 positions),
//! so no logged click is inside the features it is predicted from. The last
//! 15 % of the training sessions are held out for validation. A request is
//! one distinct shown list (N = 10, the shown order is the initial ranking)
//! and the served list has L = 5. Ground truth: a PBM fitted by EM on the
//! sessions of the split being judged (test sessions for test, validation
//! sessions for validation) scores any ordering by expected clicks; labels
//! for NDCG / MAP are `4·attractiveness` (MAP counts ≥ 1 as relevant).

use crate::data::dataset::{Dataset, Instance, Log};
use crate::data::sim::{fit_pbm, ClickModel, Observed, Truth};
use crate::data::{read_letor_file, read_wscd_file, DataError, LetorQuery, Session};
use crate::model::{Config, Dtype};
use crate::rng::Rng;
use std::collections::HashMap;
use std::path::Path;

const MSLR_DIM: usize = 136;

fn transform(v: f32) -> f32 {
    v.signum() * v.abs().ln_1p()
}

/// Solves `(XᵀX + λI) w = Xᵀy` by Cholesky (f64).
fn ridge(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Vec<f64> {
    let d = x.first().map(|r| r.len()).unwrap_or(0);
    let mut a = vec![0f64; d * d];
    let mut b = vec![0f64; d];
    for (r, &t) in x.iter().zip(y) {
        for i in 0..d {
            b[i] += r[i] * t;
            for j in 0..=i {
                a[i * d + j] += r[i] * r[j];
            }
        }
    }
    for i in 0..d {
        a[i * d + i] += lambda;
    }
    // Cholesky A = L Lᵀ in the lower triangle.
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        let l = s.max(1e-12).sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / l;
        }
    }
    let mut z = b;
    for i in 0..d {
        for k in 0..i {
            z[i] -= a[i * d + k] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            z[i] -= a[k * d + i] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    z
}

/// The MSLR dataset of the module docs.
pub fn letor(train: &Path, test: &Path, seed: u64) -> Result<Dataset, DataError> {
    let mut tr = read_letor_file(train, MSLR_DIM)?;
    let mut te = read_letor_file(test, MSLR_DIM)?;
    // The shared samples end mid-query.
    if tr.len() > 1 {
        tr.pop();
    }
    if te.len() > 1 {
        te.pop();
    }
    let mut tr_q = tr;
    let n_valid = (tr_q.len() / 5).max(1).min(tr_q.len().saturating_sub(1));
    let va_q = tr_q.split_off(tr_q.len() - n_valid);
    // Feature statistics on the train split only.
    let d = MSLR_DIM;
    let mut mean = vec![0f64; d];
    let mut sq = vec![0f64; d];
    let mut count = 0f64;
    for q in &tr_q {
        for doc in 0..q.docs() {
            for (j, &v) in q.features[doc * d..(doc + 1) * d].iter().enumerate() {
                let t = transform(v) as f64;
                mean[j] += t;
                sq[j] += t * t;
            }
            count += 1.0;
        }
    }
    let count = count.max(1.0);
    let std: Vec<f64> = (0..d)
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
    let mean: Vec<f64> = mean.iter().map(|m| m / count).collect();
    let norm = |q: &LetorQuery| -> Vec<f32> {
        q.features
            .chunks_exact(d)
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, &v)| ((transform(v) as f64 - mean[j]) / std[j]) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // Ridge initial ranker on train labels.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for q in &tr_q {
        let f = norm(q);
        for (doc, row) in f.chunks_exact(d).enumerate() {
            let mut r: Vec<f64> = row.iter().map(|v| *v as f64).collect();
            r.push(1.0);
            xs.push(r);
            ys.push(q.labels[doc] as f64);
        }
    }
    let w = ridge(&xs, &ys, 10.0);
    let score =
        |row: &[f32]| -> f64 { row.iter().zip(&w).map(|(a, b)| *a as f64 * b).sum::<f64>() + w[d] };
    let all_scores: Vec<f64> = xs
        .iter()
        .map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum())
        .collect();
    let sm = all_scores.iter().sum::<f64>() / all_scores.len().max(1) as f64;
    let temp = (all_scores.iter().map(|s| (s - sm) * (s - sm)).sum::<f64>()
        / all_scores.len().max(1) as f64)
        .sqrt()
        .max(1e-3);
    // Near-duplicate groups: sign pattern on 4 fixed projections.
    let mut prng = Rng::new(0x1e70);
    let proj: Vec<Vec<f32>> = (0..4)
        .map(|_| (0..d).map(|_| prng.normal() as f32).collect())
        .collect();
    let group = |row: &[f32]| -> u32 {
        proj.iter().enumerate().fold(0u32, |g, (b, p)| {
            let s: f32 = row.iter().zip(p).map(|(a, b)| a * b).sum();
            g | (((s > 0.0) as u32) << b)
        })
    };
    let (n, len) = (20usize, 10usize);
    let judge = ClickModel::new(len, 1.0, 0.3, 0.5);
    let mut rng = Rng::new(seed ^ 0x4d53_4c52);
    let mut make = |qs: &[LetorQuery], per: usize, tag: &str| -> Vec<Instance> {
        let mut out = Vec::new();
        for q in qs {
            let f = norm(q);
            let docs = q.docs();
            if docs < len {
                continue;
            }
            for r in 0..per {
                let mut idx: Vec<usize> = (0..docs).collect();
                rng.shuffle(&mut idx);
                idx.truncate(n.min(docs));
                let items: Vec<f32> = idx
                    .iter()
                    .flat_map(|&i| f[i * d..(i + 1) * d].to_vec())
                    .collect();
                let labels: Vec<f32> = idx.iter().map(|&i| q.labels[i]).collect();
                let mut order: Vec<usize> = (0..idx.len()).collect();
                let sc: Vec<f64> = (0..idx.len())
                    .map(|k| score(&items[k * d..(k + 1) * d]))
                    .collect();
                order.sort_by(|&a, &b| sc[b].total_cmp(&sc[a]));
                out.push(Instance {
                    key: format!("{tag}{}#{r}", q.qid),
                    user: vec![1.0, (docs as f32).ln() / 5.0],
                    n: idx.len(),
                    initial: order[..len].to_vec(),
                    truth: Truth {
                        attract: labels
                            .iter()
                            .map(|l| 0.05 + 0.9 * ((2f32.powf(l.clamp(0.0, 4.0)) - 1.0) / 15.0))
                            .collect(),
                        group: (0..idx.len())
                            .map(|k| group(&items[k * d..(k + 1) * d]))
                            .collect(),
                        labels,
                    },
                    items,
                });
            }
        }
        out
    };
    let train = make(&tr_q, 40, "train");
    let valid = make(&va_q, 30, "valid");
    let test = make(&te, 10, "test");
    let mut lr = rng.fork(9);
    let sc_of = |inst: &Instance, i: usize| score(&inst.items[i * d..(i + 1) * d]) / temp;
    let train_logs = crate::data::world::logs(&train, 8, len, &judge, sc_of, &mut lr);
    let valid_logs = crate::data::world::logs(&valid, 2, len, &judge, sc_of, &mut lr);
    let ds = Dataset {
        name: "mslr".into(),
        cfg: Config {
            d_x: d,
            d_u: 2,
            hidden: 64,
            eval_h1: 64,
            eval_h2: 32,
            pos_dim: 8,
            max_len: len,
            max_candidates: 64,
            dtype: Dtype::F32,
            position_weights: None,
        },
        len,
        judge,
        notes: vec![format!(
            "MSLR sample: {} train / {} validation / {} test queries (last query of each file dropped); {} / {} / {} requests of N = {n}, L = {len}; ridge initial ranker; logs = ridge + Gumbel, clicks from the ground truth",
            tr_q.len(), va_q.len(), te.len(), train.len(), valid.len(), test.len()
        )],
        train_log_instances: train.clone(),
        valid_log_instances: valid.clone(),
        train,
        valid,
        test,
        train_logs,
        valid_logs,
        map_threshold: 1.0,
    };
    ds.check_splits(&format!(
        "{} train / {} validation queries from the training file (the last 20 %, at least one, are validation; the last query of each file is dropped), {} test queries; requests need queries with at least {len} documents",
        tr_q.len(),
        va_q.len(),
        te.len()
    ))?;
    Ok(ds)
}

/// Per-document click statistics from a set of sessions.
#[derive(Default, Clone)]
struct DocStats {
    imps: f64,
    clicks: f64,
    exam: f64,
    rank_sum: f64,
    first: f64,
    last: f64,
    skipped: f64,
}

const WSCD_DX: usize = 8;

/// The WSCD dataset of the module docs.
pub fn wscd(train: &Path, test: &Path, seed: u64) -> Result<Dataset, DataError> {
    let tr = read_wscd_file(train)?;
    let te = read_wscd_file(test)?;
    let (n, len) = (10usize, 5usize);
    let cut = tr.len() * 85 / 100;
    let (fit_part, valid_s) = tr.split_at(cut);
    let stats_s: Vec<&Session> = fit_part.iter().step_by(2).collect();
    let log_s: Vec<&Session> = fit_part.iter().skip(1).step_by(2).collect();
    // Examination proxy per rank from the stats half: CTR by rank / CTR at rank 1.
    let mut rank_clicks = vec![0f64; n];
    let mut rank_imps = vec![0f64; n];
    for s in &stats_s {
        let c = s.clicked();
        for r in 0..s.docs.len().min(n) {
            rank_imps[r] += 1.0;
            rank_clicks[r] += c[r] as u8 as f64;
        }
    }
    let ctr0 = (rank_clicks[0] / rank_imps[0].max(1.0)).max(1e-6);
    let exam: Vec<f64> = (0..n)
        .map(|r| (rank_clicks[r] / rank_imps[r].max(1.0) / ctr0).clamp(0.05, 1.0))
        .collect();
    let mut stats: HashMap<(String, u64), DocStats> = HashMap::new();
    let mut qstats: HashMap<String, (f64, f64)> = HashMap::new();
    for s in &stats_s {
        let c = s.clicked();
        let last_click = c.iter().rposition(|v| *v);
        let q = qstats.entry(s.query.clone()).or_default();
        q.0 += 1.0;
        q.1 += c.iter().filter(|v| **v).count() as f64;
        for (r, &doc) in s.docs.iter().enumerate().take(n) {
            let e = stats.entry((s.query.clone(), doc)).or_default();
            e.imps += 1.0;
            e.clicks += c[r] as u8 as f64;
            e.exam += exam[r];
            e.rank_sum += r as f64;
            if s.clicks.first() == Some(&r) {
                e.first += 1.0;
            }
            if s.clicks.last() == Some(&r) {
                e.last += 1.0;
            }
            if !c[r] && last_click.is_some_and(|l| l > r) {
                e.skipped += 1.0;
            }
        }
    }
    let qctr = |q: &str| {
        qstats
            .get(q)
            .map(|(s, c)| c / s.max(1.0) / n as f64)
            .unwrap_or(0.1)
    };
    let features = |q: &str, doc: u64| -> [f32; WSCD_DX] {
        let prior = qctr(q);
        match stats.get(&(q.to_string(), doc)) {
            Some(e) => [
                (e.imps.ln_1p() / 5.0) as f32,
                ((e.clicks + prior) / (e.imps + 1.0)) as f32,
                ((e.clicks + prior) / (e.exam + 1.0)) as f32,
                (e.rank_sum / e.imps / n as f64) as f32,
                (e.first / e.imps) as f32,
                (e.last / e.imps) as f32,
                1.0,
                (e.skipped / e.imps) as f32,
            ],
            None => [0.0, prior as f32, prior as f32, 1.0, 0.0, 0.0, 0.0, 0.0],
        }
    };
    let user = |q: &str| -> Vec<f32> {
        let s = qstats.get(q).map(|v| v.0).unwrap_or(0.0);
        vec![(s.ln_1p() / 10.0) as f32, qctr(q) as f32]
    };
    // A PBM per split, keyed by (query, doc).
    let judge_of = |sessions: &[&Session]| -> (HashMap<(String, u64), f32>, Vec<f32>) {
        let mut keys: HashMap<(String, u64), usize> = HashMap::new();
        let mut docs: Vec<Vec<usize>> = Vec::new();
        let mut clicks: Vec<Vec<bool>> = Vec::new();
        for s in sessions {
            let d: Vec<usize> = s
                .docs
                .iter()
                .take(n)
                .map(|&doc| {
                    let k = keys.len();
                    *keys.entry((s.query.clone(), doc)).or_insert(k)
                })
                .collect();
            docs.push(d);
            clicks.push(s.clicked().into_iter().take(n).collect());
        }
        let obs: Vec<Observed> = docs
            .iter()
            .zip(&clicks)
            .map(|(d, c)| Observed {
                docs: d,
                clicked: c,
            })
            .collect();
        let fit = fit_pbm(&obs, keys.len(), n, 50);
        (
            keys.into_iter().map(|(k, i)| (k, fit.attract[i])).collect(),
            fit.exam,
        )
    };
    // Distinct shown lists of a split become requests.
    let instances = |sessions: &[&Session],
                     attract: Option<&HashMap<(String, u64), f32>>,
                     tag: &str,
                     cap: usize|
     -> Vec<Instance> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for s in sessions {
            if s.docs.len() < n || !seen.insert((s.query.clone(), s.docs.clone())) {
                continue;
            }
            let docs = &s.docs[..n];
            let a: Vec<f32> = docs
                .iter()
                .map(|&d| {
                    attract
                        .and_then(|m| m.get(&(s.query.clone(), d)).copied())
                        .unwrap_or(0.0)
                })
                .collect();
            out.push(Instance {
                key: format!("{tag}{}#{}", s.query, out.len()),
                user: user(&s.query),
                items: docs.iter().flat_map(|&d| features(&s.query, d)).collect(),
                n,
                initial: (0..len).collect(),
                truth: Truth {
                    labels: a.iter().map(|v| 4.0 * v).collect(),
                    group: (0..n as u32).collect(),
                    attract: a,
                },
            });
            if out.len() >= cap {
                break;
            }
        }
        out
    };
    let valid_refs: Vec<&Session> = valid_s.iter().collect();
    let test_refs: Vec<&Session> = te.iter().collect();
    let (va_attract, _) = judge_of(&valid_refs);
    let (te_attract, te_exam) = judge_of(&test_refs);
    let mut rng = Rng::new(seed ^ 0x5753_4344);
    let mut shuffled_test = test_refs.clone();
    rng.shuffle(&mut shuffled_test);
    let mut shuffled_valid = valid_refs.clone();
    rng.shuffle(&mut shuffled_valid);
    let mut log_shuffled = log_s.clone();
    rng.shuffle(&mut log_shuffled);
    let train_i = instances(&log_shuffled, None, "train", 3000);
    let valid = instances(&shuffled_valid, Some(&va_attract), "valid", 300);
    let test = instances(&shuffled_test, Some(&te_attract), "test", 500);
    // Evaluator logs: real clicks of the log half (train) and validation sessions.
    let to_logs = |sessions: &[&Session], tag: &str| -> (Vec<Instance>, Vec<Log>) {
        let mut insts = Vec::new();
        let mut logs = Vec::new();
        for s in sessions.iter().filter(|s| s.docs.len() >= n) {
            insts.push(Instance {
                key: format!("{tag}{}", s.query),
                user: user(&s.query),
                items: s.docs[..n]
                    .iter()
                    .flat_map(|&d| features(&s.query, d))
                    .collect(),
                n,
                initial: (0..len).collect(),
                truth: Truth {
                    attract: vec![0.0; n],
                    group: vec![0; n],
                    labels: vec![0.0; n],
                },
            });
            logs.push(Log {
                instance: insts.len() - 1,
                list: (0..len).collect(),
                clicks: s.clicked()[..len].to_vec(),
            });
        }
        (insts, logs)
    };
    let (train_log_instances, train_logs) =
        to_logs(&log_shuffled[..log_shuffled.len().min(20_000)], "log");
    let (valid_log_instances, valid_logs) = to_logs(&valid_refs, "vlog");
    let judge = ClickModel {
        exam: te_exam[..len].to_vec(),
        stop: 0.0,
        dup: 0.0,
    };
    let notes = vec![format!(
        "WSCD: {} train sessions (features from {}, evaluator logs from {} of them), {} validation and {} test sessions; {} / {} / {} requests (distinct shown lists, N = {n}, L = {len}); ground truth PBM fitted on the test sessions, examination {:?}",
        tr.len(), stats_s.len(), log_s.len().min(20_000), valid_s.len(), te.len(), train_i.len(), valid.len(), test.len(),
        judge.exam.iter().map(|e| (e * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    )];
    let ds = Dataset {
        name: "wscd".into(),
        cfg: Config {
            d_x: WSCD_DX,
            d_u: 2,
            hidden: 32,
            eval_h1: 64,
            eval_h2: 32,
            pos_dim: 8,
            max_len: len,
            max_candidates: 64,
            dtype: Dtype::F32,
            position_weights: None,
        },
        len,
        judge,
        train: train_i,
        valid,
        test,
        train_log_instances,
        train_logs,
        valid_log_instances,
        valid_logs,
        map_threshold: 1.0,
        notes,
    };
    ds.check_splits(&format!(
        "{} training sessions (the last 15 % are validation), {} test sessions; requests need sessions with at least {n} shown documents",
        tr.len(),
        te.len()
    ))?;
    Ok(ds)
}
