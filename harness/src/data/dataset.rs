//! What training and evaluation run on: re-ranking **instances** (one
//! request's user, candidates, initial list and hidden ground truth), the
//! **logs** an evaluator learns from, and the split into train, validation
//! and test. Builders for each source live beside it ([`crate::data::world`] for
//! the embedded synthetic world; LETOR and WSCD in [`crate::data::sources`]).

use crate::data::sim::{ClickModel, Truth};
use crate::data::DataError;
use crate::model::Config;
use last_kernels::MatRef;

/// One re-ranking request with everything needed to measure it.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Group key (query id, or user id for the synthetic world).
    pub key: String,
    /// User / context features (d_u).
    pub user: Vec<f32>,
    /// Candidate features, n × d_x row-major.
    pub items: Vec<f32>,
    /// Candidates N.
    pub n: usize,
    /// The initial ranker's list (length L).
    pub initial: Vec<usize>,
    /// Ground truth: for measuring only, never for choosing.
    pub truth: Truth,
}

impl Instance {
    /// The candidate matrix.
    pub fn items(&self) -> MatRef<'_> {
        MatRef::new(&self.items, self.n, self.items.len() / self.n.max(1))
            .expect("items hold n rows by construction")
    }
}

/// One logged impression: the list shown for an instance and its clicks.
#[derive(Debug, Clone)]
pub struct Log {
    /// Index into the log's instance list.
    pub instance: usize,
    /// Shown list.
    pub list: Vec<usize>,
    /// Clicked positions.
    pub clicks: Vec<bool>,
}

/// A dataset prepared for `last train` / `last eval`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Name for reports.
    pub name: String,
    /// Model shapes fitting this data.
    pub cfg: Config,
    /// Output length L.
    pub len: usize,
    /// Ground-truth click model (the judge).
    pub judge: ClickModel,
    /// Training instances (generator training, evaluator logs).
    pub train: Vec<Instance>,
    /// Validation instances (early stopping, hyper-parameter choice).
    pub valid: Vec<Instance>,
    /// Test instances (reported only).
    pub test: Vec<Instance>,
    /// Requests the training logs were shown for ([`Log::instance`] indexes this).
    pub train_log_instances: Vec<Instance>,
    /// Logged impressions for the evaluator to learn from.
    pub train_logs: Vec<Log>,
    /// Requests of the held-out logs.
    pub valid_log_instances: Vec<Instance>,
    /// Held-out logged impressions (evaluator early stopping and quality).
    pub valid_logs: Vec<Log>,
    /// Threshold on labels for MAP's binary relevance.
    pub map_threshold: f32,
    /// Whether clicks on any list of a train or validation request can be
    /// simulated (its `truth` is the simulator's): true for the synthetic
    /// world and LETOR data, false for real logs (WSCD), whose train
    /// requests carry no click model. Enables the second logging round.
    pub simulated_clicks: bool,
    /// Where the data came from and how it was prepared (for the report).
    pub notes: Vec<String>,
}

impl Dataset {
    /// Every split has something in it: train, validation and test
    /// instances, and training and validation logs. A builder calls this
    /// last, so a too-small file is a typed error instead of a model trained
    /// with a NaN validation loss. `why` says what the splits are made from.
    pub fn check_splits(&self, why: &str) -> Result<(), DataError> {
        let splits: [(&'static str, usize); 5] = [
            ("train", self.train.len()),
            ("validation", self.valid.len()),
            ("test", self.test.len()),
            ("training logs", self.train_logs.len()),
            ("validation logs", self.valid_logs.len()),
        ];
        match splits.iter().find(|(_, n)| *n == 0) {
            Some(&(split, _)) => Err(DataError::EmptySplit {
                dataset: self.name.clone(),
                split,
                why: why.to_string(),
            }),
            None => Ok(()),
        }
    }
}
