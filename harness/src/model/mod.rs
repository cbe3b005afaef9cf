//! The deployed models: a pointer-network **generator** and a list-wise
//! **evaluator** (docs/DESIGN.md §5), their configuration, seeded initialisation,
//! and safetensors + JSON storage. A [`Model`] is immutable after loading and
//! `Send + Sync`; requests only borrow it.
//!
//! Tensor names (row-major, PyTorch `Linear` layout `[out, in]`):
//!
//! | name | shape | role |
//! |---|---|---|
//! | `generator.w1.weight` / `.bias` | `[hidden, 2·d_x + d_u]` / `[hidden]` | encoder layer 1 on `[x_i; u; mean x]`, ReLU |
//! | `generator.w2.weight` / `.bias` | `[hidden, hidden]` | encoder layer 2, ReLU (the layer LAST perturbs) |
//! | `generator.a.weight` / `.bias` | `[hidden, hidden]` | pointer keys `k_i = A h_i` |
//! | `generator.w0.weight` / `.bias` | `[hidden, hidden + d_u]` | decoder start `s_0 = tanh(W0 [mean h; u])` |
//! | `generator.b.weight` / `.bias` | `[hidden, hidden]` | query `B s_t` |
//! | `generator.v` | `[hidden]` | score `v · tanh(k_i + B s_t)` |
//! | `generator.ws.weight` / `.bias` | `[hidden, 2·hidden]` | `s_{t+1} = tanh(Ws [s_t; h_chosen])` |
//! | `evaluator.l1.weight` / `.bias` | `[eval_h1, 2·d_x + d_u + pos_dim]` | on `[x_{π_t}; u; mean x above t; P_t]`, ReLU |
//! | `evaluator.l2.weight` / `.bias` | `[eval_h2, eval_h1]` | ReLU |
//! | `evaluator.l3.weight` / `.bias` | `[1, eval_h2]` | sigmoid: click probability |
//! | `evaluator.pos` | `[max_len, pos_dim]` | position embeddings `P_t` |
//! | `ensemble.{i}.l1.weight` … `ensemble.{i}.pos` | as `evaluator.*` | optional further ensemble members, `i = 0, 1, …` |
//!
//! The ensemble (the evaluator plus the `ensemble.{i}` members, trained on
//! bootstrap resamples with their own seeds) is only read by pessimistic
//! selection ([`crate::serve::Variant::Safe`]); every other variant scores
//! with `evaluator.*` alone.

mod config;
mod error;
mod evaluator;
mod generator;
mod io;
mod layer;
pub mod noise_table;
mod params;
mod serving;

pub use config::{Config, Dtype};
pub use error::ModelError;
pub use evaluator::{EvalParts, EvalRows, Evaluator};
pub use generator::{DecodeTape, EncoderTape, GenBackwardBufs, Generator, GradTarget};
pub use layer::Layer;
pub use params::{DenseParams, EvaluatorParams, GeneratorParams, Params};
pub use serving::{ServingSettings, Sigmas, MAX_BUDGET_US as MAX_SERVING_BUDGET_US, SERVING_FILE};

use last_kernels::bf16::Bf16Backend;
use last_kernels::{pack, Backend, MatRef};
use noise_table::NoiseTable;

/// A loaded, immutable model pair plus the kernel backend chosen for it.
#[derive(Debug, Clone)]
pub struct Model {
    /// Sizes and limits.
    pub cfg: Config,
    /// Generator θ.
    pub gen: Generator,
    /// Evaluator (ensemble member 0).
    pub eval: Evaluator,
    /// Further ensemble members (empty: an ensemble of one), at most
    /// [`MAX_MEMBERS`]` − 1`.
    pub ensemble: Vec<Evaluator>,
    /// Instruction-set path, decided once at load.
    pub backend: Backend,
    /// bf16 path of a [`Dtype::Bf16`] model's bf16 products (the fastest
    /// this machine has, see [`Model::with_bf16_path`]).
    bf16: Bf16Backend,
    /// Shared pre-drawn noise for [`crate::serve::NoiseSpec::Table`].
    noise_table: NoiseTable,
    /// Defaults from `serving.json` (see [`Model::serving`]).
    serving: Option<ServingSettings>,
}

/// Largest ensemble (evaluator included) a model may hold.
pub const MAX_MEMBERS: usize = 16;

/// Seeded Gaussian-ish initialisation (He/Xavier-scaled) from the counter RNG.
fn init(seed: u64, tag: u32, len: usize, scale: f32) -> Vec<f32> {
    let noise = last_kernels::rng::Noise {
        seed,
        candidate: tag,
        kind: last_kernels::rng::NoiseKind::Gaussian,
        antithetic: false,
    };
    let mut v = vec![0f32; len];
    noise.fill(0, &mut v);
    v.iter_mut().for_each(|x| *x *= scale);
    v
}

fn rand_layer(
    seed: u64,
    tag: u32,
    n: usize,
    k: usize,
    gain: f32,
    dtype: Dtype,
) -> Result<Layer, ModelError> {
    let scale = gain / (k as f32).sqrt();
    Layer::new(
        n,
        k,
        init(seed, tag, n * k, scale),
        init(seed, tag + 1000, n, 0.05),
        dtype,
    )
}

/// Tensor-name prefix of ensemble member `i`: `evaluator`, then
/// `ensemble.0`, `ensemble.1`, … (a PyTorch `ModuleList` named `ensemble`).
pub fn member_prefix(i: usize) -> String {
    if i == 0 {
        "evaluator".into()
    } else {
        format!("ensemble.{}", i - 1)
    }
}

/// The initialisation seed of ensemble member `i` (0: `seed` itself).
pub fn member_seed(seed: u64, i: usize) -> u64 {
    if i == 0 {
        seed
    } else {
        last_kernels::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0xa5a5_5a5a_0f0f))
    }
}

impl Evaluator {
    /// A seeded random evaluator (the initialisation training starts from).
    pub fn random(cfg: &Config, seed: u64) -> Result<Self, ModelError> {
        let dt = cfg.dtype;
        Ok(Evaluator {
            l1: rand_layer(seed, 11, cfg.eval_h1, cfg.eval_in(), 1.4, dt)?,
            l2: rand_layer(seed, 12, cfg.eval_h2, cfg.eval_h1, 1.4, dt)?,
            l3: rand_layer(seed, 13, 1, cfg.eval_h2, 1.0, dt)?,
            pos: init(seed, 14, cfg.max_len * cfg.pos_dim, 0.5),
        })
    }
}

impl Model {
    /// A randomly initialised model (seeded): the benchmark scenario's
    /// stand-in for trained weights, with the same shapes and cost.
    pub fn random(cfg: Config, seed: u64, backend: Backend) -> Result<Self, ModelError> {
        cfg.check()?;
        let (h, dx, du, dt) = (cfg.hidden, cfg.d_x, cfg.d_u, cfg.dtype);
        let gen = Generator {
            w1: rand_layer(seed, 1, h, 2 * dx + du, 1.4, dt)?,
            w2: rand_layer(seed, 2, h, h, 1.4, dt)?,
            a: rand_layer(seed, 3, h, h, 1.0, dt)?,
            w0: rand_layer(seed, 4, h, h + du, 1.0, dt)?,
            b: rand_layer(seed, 5, h, h, 1.0, dt)?,
            ws: rand_layer(seed, 6, h, 2 * h, 1.0, dt)?,
            v: init(seed, 7, h, 1.0 / (h as f32).sqrt()),
        };
        let eval = Evaluator::random(&cfg, seed)?;
        Ok(Model::assemble(cfg, gen, eval, backend))
    }

    /// Replaces the further ensemble members by `members − 1` randomly
    /// initialised evaluators (seeds derived from `seed`): the benchmark's
    /// stand-in for a trained ensemble, with the same shapes and cost.
    pub fn with_random_ensemble(mut self, members: usize, seed: u64) -> Result<Self, ModelError> {
        if members == 0 || members > MAX_MEMBERS {
            return Err(ModelError::Config(format!(
                "an ensemble has 1..={MAX_MEMBERS} members, not {members}"
            )));
        }
        self.ensemble = (1..members)
            .map(|i| Evaluator::random(&self.cfg, member_seed(seed, i)))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Members of the evaluator ensemble, the evaluator included (≥ 1).
    pub fn members(&self) -> usize {
        1 + self.ensemble.len()
    }

    /// Ensemble member `i` (0: the evaluator).
    pub fn member(&self, i: usize) -> &Evaluator {
        if i == 0 {
            &self.eval
        } else {
            &self.ensemble[i - 1]
        }
    }

    /// A model from its parts (derives the shared noise table).
    pub fn assemble(cfg: Config, gen: Generator, eval: Evaluator, backend: Backend) -> Self {
        let h = cfg.hidden;
        Model {
            noise_table: NoiseTable::new(pack::packed_len(h, h)),
            serving: None,
            ensemble: Vec::new(),
            cfg,
            gen,
            eval,
            backend,
            bf16: Bf16Backend::detect(),
        }
    }

    /// The same model with its bf16 products on `path` (e.g. the scalar
    /// reference, to compare paths). Other models are unaffected.
    pub fn with_bf16_path(mut self, path: Bf16Backend) -> Self {
        self.bf16 = path;
        self
    }

    /// The bf16 path the per-candidate products run on: `Some` for a
    /// [`Dtype::Bf16`] model, `None` when every product is f32.
    pub fn bf16_path(&self) -> Option<Bf16Backend> {
        (self.cfg.dtype == Dtype::Bf16).then_some(self.bf16)
    }

    /// The shared noise table (see [`crate::model::noise_table`]).
    pub fn noise_table(&self) -> &NoiseTable {
        &self.noise_table
    }

    /// Writes the evaluator's input rows for `lists` (each `len` long,
    /// concatenated): row `(j, t)` is `[x_{π_t}; u; mean of x above t; P_t]`
    /// (the mean is 0 at t = 0). `z` holds `lists.len()` rows of
    /// [`Config::eval_in`]; `above` is d_x of scratch. Indices must be < N.
    pub fn eval_input(
        &self,
        items: MatRef<'_>,
        user: &[f32],
        lists: &[usize],
        len: usize,
        z: &mut [f32],
        above: &mut [f32],
    ) {
        let (dx, du, pd) = (self.cfg.d_x, self.cfg.d_u, self.cfg.pos_dim);
        let zin = self.cfg.eval_in();
        for (j, list) in lists.chunks_exact(len).enumerate() {
            above.fill(0.0);
            for (t, &item) in list.iter().enumerate() {
                let row = &mut z[(j * len + t) * zin..(j * len + t + 1) * zin];
                row[..dx].copy_from_slice(items.row(item));
                row[dx..dx + du].copy_from_slice(user);
                let inv = if t > 0 { 1.0 / t as f32 } else { 0.0 };
                for (o, a) in row[dx + du..2 * dx + du].iter_mut().zip(above.iter()) {
                    *o = a * inv;
                }
                row[2 * dx + du..].copy_from_slice(&self.eval.pos[t * pd..(t + 1) * pd]);
                for (a, x) in above.iter_mut().zip(items.row(item)) {
                    *a += x;
                }
            }
        }
    }

    /// Every layer with its tensor-name prefix, ensemble members last.
    pub fn layers(&self) -> Vec<(String, &Layer)> {
        let mut v: Vec<(String, &Layer)> = [
            ("generator.w1", &self.gen.w1),
            ("generator.w2", &self.gen.w2),
            ("generator.a", &self.gen.a),
            ("generator.w0", &self.gen.w0),
            ("generator.b", &self.gen.b),
            ("generator.ws", &self.gen.ws),
        ]
        .into_iter()
        .map(|(n, l)| (n.to_string(), l))
        .collect();
        for i in 0..self.members() {
            let e = self.member(i);
            let p = member_prefix(i);
            v.extend([
                (format!("{p}.l1"), &e.l1),
                (format!("{p}.l2"), &e.l2),
                (format!("{p}.l3"), &e.l3),
            ]);
        }
        v
    }

    /// A 64-bit FNV-1a hash of every weight byte (master and packed copies):
    /// the serving tests check it never changes.
    pub fn weights_hash(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (_, l) in self.layers() {
            l.bytes().for_each(&mut eat);
        }
        eat(bytemuck::cast_slice(&self.gen.v));
        for i in 0..self.members() {
            eat(bytemuck::cast_slice(&self.member(i).pos));
        }
        eat(bytemuck::cast_slice(self.noise_table.values()));
        h
    }
}
