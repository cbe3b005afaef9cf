//! Real-data datasets: LETOR files (MSLR, Yahoo LTR, a user's own) and
//! WSCD click logs, turned into [`Dataset`](crate::data::dataset::Dataset)s
//! with a ground truth the models never see. Each module's docs say how its
//! features, requests, logs and judge are made.

mod letor;
mod ridge;
mod wscd;

pub use letor::{letor, LetorSpec, MSLR_FEATURES};
pub use wscd::wscd;

use crate::model::{Config, Dtype};

/// The model shape both real datasets use: `d_x` item features, two user
/// features, lists of `len`, up to 64 candidates.
fn real_config(d_x: usize, hidden: usize, len: usize) -> Config {
    Config {
        d_x,
        d_u: 2,
        hidden,
        eval_h1: 64,
        eval_h2: 32,
        pos_dim: 8,
        max_len: len,
        max_candidates: 64,
        dtype: Dtype::F32,
        position_weights: None,
    }
}
