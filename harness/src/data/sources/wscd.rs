//! The WSCD dataset: real click logs (Yandex Relevance Prediction
//! Challenge sessions).
//!
//! Items have ids only, so features are click statistics from **one half**
//! of the training sessions (the even-numbered ones); the other half are
//! the evaluator's logs (real clicks on the first L = 5 positions), so no
//! logged click is inside the features it is predicted from. The last 15 %
//! of the training sessions are held out for validation. A request is one
//! distinct shown list (N = 10, the shown order is the initial ranking) and
//! the served list has L = 5. Ground truth: a PBM fitted by EM on the
//! sessions of the split being judged (test sessions for test, validation
//! sessions for validation) scores any ordering by expected clicks; labels
//! for NDCG / MAP are `4·attractiveness` (MAP counts ≥ 1 as relevant).

use super::real_config;
use crate::data::dataset::{Dataset, Instance, Log};
use crate::data::sim::{fit_pbm, ClickModel, Observed, Truth};
use crate::data::{read_wscd_file, DataError, Session};
use crate::rng::Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Item features per document.
const WSCD_DX: usize = 8;
/// Shown documents per request and the served list's length.
const N: usize = 10;
const LEN: usize = 5;

/// A (query, document) pair.
type Key = (String, u64);

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

/// Click statistics of the feature half: per document and per query.
struct Features {
    docs: HashMap<Key, DocStats>,
    /// Per query: sessions and clicks.
    queries: HashMap<String, (f64, f64)>,
}

/// Examination proxy per rank: CTR by rank / CTR at rank 1, in 0.05..=1.
fn rank_exam(sessions: &[&Session]) -> Vec<f64> {
    let mut clicks = [0f64; N];
    let mut imps = [0f64; N];
    for s in sessions {
        let c = s.clicked();
        for r in 0..s.docs.len().min(N) {
            imps[r] += 1.0;
            clicks[r] += c[r] as u8 as f64;
        }
    }
    let ctr0 = (clicks[0] / imps[0].max(1.0)).max(1e-6);
    (0..N)
        .map(|r| (clicks[r] / imps[r].max(1.0) / ctr0).clamp(0.05, 1.0))
        .collect()
}

impl Features {
    fn fit(sessions: &[&Session]) -> Self {
        let exam = rank_exam(sessions);
        let mut docs: HashMap<Key, DocStats> = HashMap::new();
        let mut queries: HashMap<String, (f64, f64)> = HashMap::new();
        for s in sessions {
            let c = s.clicked();
            let last_click = c.iter().rposition(|v| *v);
            let q = queries.entry(s.query.clone()).or_default();
            q.0 += 1.0;
            q.1 += c.iter().filter(|v| **v).count() as f64;
            for (r, &doc) in s.docs.iter().enumerate().take(N) {
                let e = docs.entry((s.query.clone(), doc)).or_default();
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
        Features { docs, queries }
    }

    /// The query's click-through rate per shown document (0.1 if unseen).
    fn qctr(&self, q: &str) -> f64 {
        self.queries
            .get(q)
            .map(|(s, c)| c / s.max(1.0) / N as f64)
            .unwrap_or(0.1)
    }

    fn item(&self, q: &str, doc: u64) -> [f32; WSCD_DX] {
        let prior = self.qctr(q);
        match self.docs.get(&(q.to_string(), doc)) {
            Some(e) => [
                (e.imps.ln_1p() / 5.0) as f32,
                ((e.clicks + prior) / (e.imps + 1.0)) as f32,
                ((e.clicks + prior) / (e.exam + 1.0)) as f32,
                (e.rank_sum / e.imps / N as f64) as f32,
                (e.first / e.imps) as f32,
                (e.last / e.imps) as f32,
                1.0,
                (e.skipped / e.imps) as f32,
            ],
            None => [0.0, prior as f32, prior as f32, 1.0, 0.0, 0.0, 0.0, 0.0],
        }
    }

    fn items(&self, s: &Session) -> Vec<f32> {
        s.docs[..N]
            .iter()
            .flat_map(|&d| self.item(&s.query, d))
            .collect()
    }

    fn user(&self, q: &str) -> Vec<f32> {
        let s = self.queries.get(q).map(|v| v.0).unwrap_or(0.0);
        vec![(s.ln_1p() / 10.0) as f32, self.qctr(q) as f32]
    }
}

/// A PBM fitted on a split's sessions: attractiveness per (query, doc), and
/// examination per rank.
fn fit_judge(sessions: &[&Session]) -> (HashMap<Key, f32>, Vec<f32>) {
    let mut keys: HashMap<Key, usize> = HashMap::new();
    let mut docs: Vec<Vec<usize>> = Vec::new();
    let mut clicks: Vec<Vec<bool>> = Vec::new();
    for s in sessions {
        let d: Vec<usize> = s
            .docs
            .iter()
            .take(N)
            .map(|&doc| {
                let k = keys.len();
                *keys.entry((s.query.clone(), doc)).or_insert(k)
            })
            .collect();
        docs.push(d);
        clicks.push(s.clicked().into_iter().take(N).collect());
    }
    let obs: Vec<Observed> = docs
        .iter()
        .zip(&clicks)
        .map(|(d, c)| Observed {
            docs: d,
            clicked: c,
        })
        .collect();
    let fit = fit_pbm(&obs, keys.len(), N, 50);
    (
        keys.into_iter().map(|(k, i)| (k, fit.attract[i])).collect(),
        fit.exam,
    )
}

/// Distinct shown lists of a split become requests (at most `cap`).
fn requests(
    f: &Features,
    sessions: &[&Session],
    attract: Option<&HashMap<Key, f32>>,
    tag: &str,
    cap: usize,
) -> Vec<Instance> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in sessions {
        if s.docs.len() < N || !seen.insert((s.query.clone(), s.docs.clone())) {
            continue;
        }
        let a: Vec<f32> = s.docs[..N]
            .iter()
            .map(|&d| {
                attract
                    .and_then(|m| m.get(&(s.query.clone(), d)).copied())
                    .unwrap_or(0.0)
            })
            .collect();
        out.push(Instance {
            key: format!("{tag}{}#{}", s.query, out.len()),
            user: f.user(&s.query),
            items: f.items(s),
            n: N,
            initial: (0..LEN).collect(),
            truth: Truth {
                labels: a.iter().map(|v| 4.0 * v).collect(),
                group: (0..N as u32).collect(),
                attract: a,
            },
        });
        if out.len() >= cap {
            break;
        }
    }
    out
}

/// The evaluator's logs: each session's shown top L and its real clicks.
fn logs(f: &Features, sessions: &[&Session], tag: &str) -> (Vec<Instance>, Vec<Log>) {
    let mut insts = Vec::new();
    let mut logs = Vec::new();
    for s in sessions.iter().filter(|s| s.docs.len() >= N) {
        insts.push(Instance {
            key: format!("{tag}{}", s.query),
            user: f.user(&s.query),
            items: f.items(s),
            n: N,
            initial: (0..LEN).collect(),
            truth: Truth {
                attract: vec![0.0; N],
                group: vec![0; N],
                labels: vec![0.0; N],
            },
        });
        logs.push(Log {
            instance: insts.len() - 1,
            list: (0..LEN).collect(),
            clicks: s.clicked()[..LEN].to_vec(),
        });
    }
    (insts, logs)
}

/// The WSCD dataset of the module docs.
pub fn wscd(train: &Path, test: &Path, seed: u64) -> Result<Dataset, DataError> {
    let tr = read_wscd_file(train)?;
    let te = read_wscd_file(test)?;
    let cut = tr.len() * 85 / 100;
    let (fit_part, valid_s) = tr.split_at(cut);
    let stats_s: Vec<&Session> = fit_part.iter().step_by(2).collect();
    let log_s: Vec<&Session> = fit_part.iter().skip(1).step_by(2).collect();
    let f = Features::fit(&stats_s);
    let valid_refs: Vec<&Session> = valid_s.iter().collect();
    let test_refs: Vec<&Session> = te.iter().collect();
    let (va_attract, _) = fit_judge(&valid_refs);
    let (te_attract, te_exam) = fit_judge(&test_refs);
    let mut rng = Rng::new(seed ^ 0x5753_4344);
    let mut shuffled_test = test_refs.clone();
    rng.shuffle(&mut shuffled_test);
    let mut shuffled_valid = valid_refs.clone();
    rng.shuffle(&mut shuffled_valid);
    let mut log_shuffled = log_s.clone();
    rng.shuffle(&mut log_shuffled);
    let train_i = requests(&f, &log_shuffled, None, "train", 3000);
    let valid = requests(&f, &shuffled_valid, Some(&va_attract), "valid", 300);
    let test = requests(&f, &shuffled_test, Some(&te_attract), "test", 500);
    let (train_log_instances, train_logs) =
        logs(&f, &log_shuffled[..log_shuffled.len().min(20_000)], "log");
    let (valid_log_instances, valid_logs) = logs(&f, &valid_refs, "vlog");
    let judge = ClickModel {
        exam: te_exam[..LEN].to_vec(),
        stop: 0.0,
        dup: 0.0,
    };
    let notes = vec![format!(
        "WSCD: {} train sessions (features from {}, evaluator logs from {} of them), {} validation and {} test sessions; {} / {} / {} requests (distinct shown lists, N = {N}, L = {LEN}); ground truth PBM fitted on the test sessions, examination {:?}",
        tr.len(), stats_s.len(), log_s.len().min(20_000), valid_s.len(), te.len(), train_i.len(), valid.len(), test.len(),
        judge.exam.iter().map(|e| (e * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    )];
    let ds = Dataset {
        name: "wscd".into(),
        cfg: real_config(WSCD_DX, 32, LEN),
        len: LEN,
        judge,
        train: train_i,
        valid,
        test,
        train_log_instances,
        train_logs,
        valid_log_instances,
        valid_logs,
        map_threshold: 1.0,
        simulated_clicks: false,
        notes,
    };
    ds.check_splits(&format!(
        "{} training sessions (the last 15 % are validation), {} test sessions; requests need sessions with at least {N} shown documents",
        tr.len(),
        te.len()
    ))?;
    Ok(ds)
}
