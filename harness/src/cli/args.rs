//! Arguments shared by several subcommands, the closed sets of choices
//! and the bounds of every numeric flag.

use clap::builder::{PossibleValue, RangedU64ValueParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use last::data::sources::LetorSpec;
use last::pipeline::Source;
use last::serve::Variant;
use std::path::PathBuf;
use std::time::Duration;

use super::output::Failure;

/// Most timed requests of `bench` (also the cap of `--max-requests`).
pub const MAX_REQUESTS: usize = last::bench::scenario::MAX_REQUESTS;
/// Most threads of `bench` and `soak`.
pub const MAX_THREADS: usize = last::bench::scenario::MAX_THREADS;
/// Longest `soak` (s): one day.
pub const MAX_SOAK_SECONDS: u64 = last::bench::soak::MAX_SOAK.as_secs();
/// Longest latency budget (µs): one hour.
pub const MAX_BUDGET_US: u64 = 3_600_000_000;
/// Most bootstrap resamples.
pub const MAX_BOOTSTRAP: usize = 100_000;
/// Most lists per request (the server's K limit).
pub const MAX_K: usize = last::serve::MAX_K;

/// A `usize` flag in `lo..=hi`.
pub fn usize_in(lo: usize, hi: usize) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(lo as u64..=hi as u64)
}

/// The datasets `--data` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DataKind {
    /// The embedded synthetic world (no files).
    Synthetic,
    /// Any LETOR / SVMlight files (--train, --test; --features, --train-groups, --test-groups).
    Letor,
    /// The MSLR-WEB samples' settings: 136 features, the last query of each file dropped.
    Mslr,
    /// WSCD click logs (--train trainSample, --test testSample).
    Wscd,
}

/// Which dataset, and its files.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// Dataset.
    #[arg(long, value_enum, default_value_t = DataKind::Synthetic)]
    pub data: DataKind,
    /// Training file (letor, mslr: LETOR train file; wscd: trainSample).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Test file (letor, mslr: LETOR test file; wscd: testSample).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// letor: feature count (default: the largest index used in the files).
    #[arg(long, value_parser = usize_in(1, last::data::letor::MAX_FEATURES))]
    pub features: Option<usize>,
    /// letor: group file of a qid-less training file (one document count per line).
    #[arg(long)]
    pub train_groups: Option<PathBuf>,
    /// letor: group file of a qid-less test file.
    #[arg(long)]
    pub test_groups: Option<PathBuf>,
    /// Seed of request sampling and logging (any u64).
    #[arg(long, default_value_t = 1)]
    pub data_seed: u64,
}

impl DataArgs {
    /// The source, or a usage error when files are missing or superfluous.
    pub fn source(&self) -> Result<Source, Failure> {
        let files = |kind: &str| match (&self.train, &self.test) {
            (Some(a), Some(b)) => Ok((a.clone(), b.clone())),
            _ => Err(Failure::Usage(format!(
                "--data {kind} needs --train FILE and --test FILE"
            ))),
        };
        let letor_only =
            self.features.is_some() || self.train_groups.is_some() || self.test_groups.is_some();
        if letor_only && self.data != DataKind::Letor {
            return Err(Failure::Usage(
                "--features, --train-groups and --test-groups are for --data letor".into(),
            ));
        }
        match self.data {
            DataKind::Synthetic => {
                if self.train.is_some() || self.test.is_some() {
                    return Err(Failure::Usage(
                        "--data synthetic takes no --train / --test files".into(),
                    ));
                }
                Ok(Source::Synthetic(last::data::world::WorldSpec::default()))
            }
            DataKind::Letor => {
                let (train, test) = files("letor")?;
                Ok(Source::Letor(LetorSpec {
                    features: self.features,
                    train_groups: self.train_groups.clone(),
                    test_groups: self.test_groups.clone(),
                    ..LetorSpec::letor(train, test)
                }))
            }
            DataKind::Mslr => {
                let (train, test) = files("mslr")?;
                Ok(Source::Letor(LetorSpec::mslr(train, test)))
            }
            DataKind::Wscd => {
                let (train, test) = files("wscd")?;
                Ok(Source::Wscd { train, test })
            }
        }
    }
}

/// Comma-separated latency budgets (µs); the empty string is no budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budgets(pub Vec<u64>);

/// Parses `25,50,100` (each in 1..=[`MAX_BUDGET_US`]); `""` is none.
pub fn parse_budgets(s: &str) -> Result<Budgets, String> {
    if s.trim().is_empty() {
        return Ok(Budgets(Vec::new()));
    }
    s.split(',')
        .map(|b| {
            let b = b.trim();
            match b.parse::<u64>() {
                Ok(v) if (1..=MAX_BUDGET_US).contains(&v) => Ok(v),
                Ok(v) => Err(format!("budget {v} µs is not in 1..={MAX_BUDGET_US}")),
                Err(_) => Err(format!("budget {b:?} is not a whole number of µs")),
            }
        })
        .collect::<Result<_, _>>()
        .map(Budgets)
}

/// Evaluation knobs shared by `demo` and `eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Lists per request for every multi-candidate variant (equal K; 2..=1024).
    #[arg(long, default_value_t = 16, value_parser = usize_in(2, MAX_K))]
    pub k: usize,
    /// Latency budget of the main table (µs; 1..=3600000000).
    #[arg(long, default_value_t = 500_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BUDGET_US))]
    pub table_budget_us: u64,
    /// Budgets of the reward-vs-latency sweep (µs, comma-separated, each
    /// 1..=3600000000; an empty value means no sweep: --budget-us "").
    #[arg(long, default_value = "25,50,100,200,400,800,1600,3200",
          value_parser = parse_budgets)]
    pub budget_us: Budgets,
    /// Use at most this many test (and validation) requests (1..=1000000).
    #[arg(long, value_parser = usize_in(1, MAX_REQUESTS))]
    pub max_requests: Option<usize>,
    /// Bootstrap resamples for the 95 % intervals (1..=100000).
    #[arg(long, default_value_t = 2000, value_parser = usize_in(1, MAX_BOOTSTRAP))]
    pub bootstrap: usize,
}

impl EvalArgs {
    /// The evaluation options (every value already bounded by clap).
    pub fn options(&self) -> last::eval::EvalOptions {
        last::eval::EvalOptions {
            k: self.k,
            budget: Duration::from_micros(self.table_budget_us),
            sweep: self
                .budget_us
                .0
                .iter()
                .map(|b| Duration::from_micros(*b))
                .collect(),
            max_requests: self.max_requests,
            bootstrap: self.bootstrap,
            ..last::eval::EvalOptions::default()
        }
    }
}

/// Request shapes of `bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioArg {
    /// N = 50 candidates, lists of L = 10.
    Standard,
    /// N = 8, L = 4 (small enough for `exhaustive`).
    Small,
}

impl ScenarioArg {
    /// The library's scenario.
    pub fn scenario(self) -> last::bench::scenario::Scenario {
        match self {
            ScenarioArg::Standard => last::bench::scenario::Scenario::Standard,
            ScenarioArg::Small => last::bench::scenario::Scenario::Small,
        }
    }
}

/// Edit distance (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The standard variant name nearest to `s` (ignoring knobs), if close
/// and if the name before the knobs is not already valid.
pub fn suggest_variant(s: &str) -> Option<String> {
    let head = s.split(':').next().unwrap_or(s);
    if head.parse::<Variant>().is_ok() {
        return None;
    }
    Variant::standard_set()
        .into_iter()
        .map(|v| v.to_string())
        .map(|n| (distance(head, &n), n))
        .min()
        .filter(|(d, n)| *d <= (n.len() / 3).max(2))
        .map(|(_, n)| n)
}

/// `--variant`: any name of the one scheme (`best-of-32`,
/// `parallel-gaussian-w2-16:sigma=0.1`, …); `--help` lists the standard
/// ones, a typo gets the nearest standard name.
#[derive(Clone, Copy, Debug)]
pub struct VariantParser;

impl TypedValueParser for VariantParser {
    type Value = Variant;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Variant, clap::Error> {
        let s = value.to_string_lossy();
        match s.parse::<Variant>() {
            Ok(v) => Ok(v),
            Err(e) => {
                let mut err = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
                let arg = arg.map_or_else(|| "--variant".to_string(), |a| a.to_string());
                err.insert(ContextKind::InvalidArg, ContextValue::String(arg));
                err.insert(
                    ContextKind::InvalidValue,
                    ContextValue::String(s.to_string()),
                );
                err.insert(
                    ContextKind::ValidValue,
                    ContextValue::Strings(
                        Variant::standard_set()
                            .iter()
                            .map(|v| v.to_string())
                            .collect(),
                    ),
                );
                if let Some(n) = suggest_variant(&s) {
                    err.insert(ContextKind::SuggestedValue, ContextValue::String(n));
                }
                err.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![e.to_string().into()]),
                );
                Err(err)
            }
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            Variant::standard_set()
                .into_iter()
                .map(|v| PossibleValue::new(v.to_string())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_with_empty_meaning_none() {
        assert_eq!(parse_budgets(""), Ok(Budgets(vec![])));
        assert_eq!(parse_budgets("25, 50"), Ok(Budgets(vec![25, 50])));
        assert!(parse_budgets("0").is_err());
        assert!(parse_budgets("25,").is_err());
        assert!(parse_budgets("18446744073709551615").is_err());
    }

    #[test]
    fn typos_get_the_nearest_standard_name() {
        assert_eq!(suggest_variant("bestof-16").as_deref(), Some("best-of-16"));
        assert_eq!(
            suggest_variant("parallel-gausian-w2-16").as_deref(),
            Some("parallel-gaussian-w2-16")
        );
        assert_eq!(suggest_variant("baselin").as_deref(), Some("baseline"));
        assert_eq!(suggest_variant("zzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(suggest_variant("best-of-16:sigma=1"), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
