//! The deployed models: a pointer-network **generator** and a list-wise
//! **evaluator** (DESIGN §5), their configuration, seeded initialisation,
//! and safetensors + JSON storage. A [`Model`] is immutable after loading and
//! `Send + Sync`; requests only borrow it.
//!
//! Tensor names (row-major, PyTorch `Linear` layout `[out, in]`):
//!
//! | name | shape | role |
//! |---|---|---|
//! | `gen.w1.weight` / `.bias` | `[hidden, 2·d_x + d_u]` / `[hidden]` | encoder layer 1 on `[x_i; u; mean x]`, ReLU |
//! | `gen.w2.weight` / `.bias` | `[hidden, hidden]` | encoder layer 2, ReLU (the layer LAST perturbs) |
//! | `gen.a.weight` / `.bias` | `[hidden, hidden]` | pointer keys `k_i = A h_i` |
//! | `gen.w0.weight` / `.bias` | `[hidden, hidden + d_u]` | decoder start `s_0 = tanh(W0 [mean h; u])` |
//! | `gen.b.weight` / `.bias` | `[hidden, hidden]` | query `B s_t` |
//! | `gen.v` | `[hidden]` | score `v · tanh(k_i + B s_t)` |
//! | `gen.ws.weight` / `.bias` | `[hidden, 2·hidden]` | `s_{t+1} = tanh(Ws [s_t; h_chosen])` |
//! | `eval.l1.weight` / `.bias` | `[eval_h1, 2·d_x + d_u + pos_dim]` | on `[x_{π_t}; u; mean x above t; P_t]`, ReLU |
//! | `eval.l2.weight` / `.bias` | `[eval_h2, eval_h1]` | ReLU |
//! | `eval.l3.weight` / `.bias` | `[1, eval_h2]` | sigmoid: click probability |
//! | `eval.pos` | `[max_len, pos_dim]` | position embeddings `P_t` |

use crate::noise_table::NoiseTable;
use last_kernels::{pack, Activation, Backend, MatMut, MatRef, Weights};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Storage type of the weights the kernels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// IEEE binary16 storage, f32 accumulation.
    F16,
}

/// Model sizes and serving limits (the JSON config beside the weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Item feature width.
    pub d_x: usize,
    /// User feature width.
    pub d_u: usize,
    /// Generator hidden width.
    pub hidden: usize,
    /// Evaluator first hidden layer.
    pub eval_h1: usize,
    /// Evaluator second hidden layer.
    pub eval_h2: usize,
    /// Position-embedding width.
    pub pos_dim: usize,
    /// Longest list the evaluator has position embeddings for (max L).
    pub max_len: usize,
    /// Largest candidate set a request may bring (max N).
    pub max_candidates: usize,
    /// Weight storage type.
    #[serde(default)]
    pub dtype: Dtype,
    /// Per-position weights of the list score (default: all 1).
    #[serde(default)]
    pub position_weights: Option<Vec<f32>>,
}

impl Config {
    /// The standard scenario of DESIGN §5 (N = 50, d_x = 64, d_u = 32, L = 10).
    pub fn standard() -> Self {
        Config {
            d_x: 64,
            d_u: 32,
            hidden: 128,
            eval_h1: 128,
            eval_h2: 64,
            pos_dim: 16,
            max_len: 10,
            max_candidates: 256,
            dtype: Dtype::F32,
            position_weights: None,
        }
    }
    /// A tiny model (d_x 3, d_u 2, hidden 4, evaluator 4 / 3, L ≤ 3,
    /// N ≤ 8): what tests, fuzz targets and their seed corpora build.
    pub fn tiny() -> Self {
        Config {
            d_x: 3,
            d_u: 2,
            hidden: 4,
            eval_h1: 4,
            eval_h2: 3,
            pos_dim: 2,
            max_len: 3,
            max_candidates: 8,
            dtype: Dtype::F32,
            position_weights: None,
        }
    }
    /// Input width of the evaluator's first layer.
    pub fn eval_in(&self) -> usize {
        2 * self.d_x + self.d_u + self.pos_dim
    }
    /// Weight of position `t` in the list score.
    pub fn position_weight(&self, t: usize) -> f32 {
        self.position_weights
            .as_ref()
            .and_then(|w| w.get(t).copied())
            .unwrap_or(1.0)
    }
    /// Parses and checks a JSON config (the `config.json` beside the weights).
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|e| ModelError::Config(e.to_string()))?;
        cfg.check()?;
        Ok(cfg)
    }
    /// Serialises the config as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }
    fn check(&self) -> Result<(), ModelError> {
        let dims = [
            ("d_x", self.d_x),
            ("d_u", self.d_u),
            ("hidden", self.hidden),
            ("eval_h1", self.eval_h1),
            ("eval_h2", self.eval_h2),
            ("pos_dim", self.pos_dim),
            ("max_len", self.max_len),
            ("max_candidates", self.max_candidates),
        ];
        for (name, v) in dims {
            if v == 0 || v > 4096 {
                return Err(ModelError::Config(format!(
                    "{name} = {v} must be in 1..=4096"
                )));
            }
        }
        if let Some(w) = &self.position_weights {
            if w.len() != self.max_len || w.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::Config(
                    "position_weights must hold max_len finite values".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Why a model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The JSON config is invalid.
    #[error("config: {0}")]
    Config(String),
    /// A tensor is missing, mis-shaped, of the wrong dtype, or non-finite.
    #[error("tensor {name}: {why}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The safetensors container could not be parsed.
    #[error("weight file: {0}")]
    Format(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Packed storage of one layer, 64-byte aligned.
#[derive(Debug, Clone)]
enum Packed {
    F32(Vec<pack::Block32>),
    F16(Vec<pack::Block16>),
}

/// One dense layer: the row-major master copy (for saving, training and
/// gradients) and the packed copy the kernels read.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    w: Vec<f32>,
    b: Vec<f32>,
    packed: Packed,
    rms: f32,
}

impl Layer {
    /// Builds and packs a layer from row-major `w` (n × k) and bias `b` (n).
    pub fn new(
        n: usize,
        k: usize,
        w: Vec<f32>,
        b: Vec<f32>,
        dtype: Dtype,
    ) -> Result<Self, ModelError> {
        let bad = |why: String| ModelError::Tensor {
            name: "layer".into(),
            why,
        };
        if n == 0 || k == 0 || w.len() != n * k || b.len() != n {
            return Err(bad(format!(
                "weight {} / bias {} elements for a {n}×{k} layer",
                w.len(),
                b.len()
            )));
        }
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(bad("non-finite value".into()));
        }
        let packed = match dtype {
            Dtype::F32 => {
                let mut blocks = vec![pack::Block32::default(); pack::blocks_f32(n, k)];
                pack::pack_f32(&w, n, k, pack::as_f32_mut(&mut blocks)).expect("sized above");
                Packed::F32(blocks)
            }
            Dtype::F16 => {
                let mut blocks = vec![pack::Block16::default(); pack::blocks_f16(n, k)];
                pack::pack_f16(&w, n, k, pack::as_u16_mut(&mut blocks)).expect("sized above");
                Packed::F16(blocks)
            }
        };
        let mut l = Layer {
            n,
            k,
            w,
            b,
            packed,
            rms: 0.0,
        };
        if dtype == Dtype::F16 {
            // The master copy holds exactly what the kernels compute with.
            for v in &mut l.w {
                *v = half::f16::from_f32(*v).to_f32();
            }
        }
        let ss: f64 = l.w.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        l.rms = (ss / l.w.len() as f64).sqrt() as f32;
        Ok(l)
    }
    /// Root-mean-square of the weights (the scale of σ in LAST's noise).
    pub fn rms(&self) -> f32 {
        self.rms
    }
    /// Row-major weights.
    pub fn weight(&self) -> &[f32] {
        &self.w
    }
    /// Bias.
    pub fn bias(&self) -> &[f32] {
        &self.b
    }
    /// The packed weights as the kernels take them.
    pub fn packed(&self) -> Weights<'_> {
        let len = pack::packed_len(self.n, self.k);
        match &self.packed {
            Packed::F32(b) => {
                let s: &[f32] = bytemuck::cast_slice(b);
                pack::PackedF32::from_packed(&s[..len], self.n, self.k)
                    .expect("packed at construction")
                    .into()
            }
            Packed::F16(b) => {
                let s: &[u16] = bytemuck::cast_slice(b);
                pack::PackedF16::from_packed(&s[..len], self.n, self.k)
                    .expect("packed at construction")
                    .into()
            }
        }
    }
    /// `y = act(x·Wᵀ + b)`.
    pub fn forward(
        &self,
        be: Backend,
        x: MatRef<'_>,
        act: Activation,
        y: MatMut<'_>,
    ) -> Result<(), last_kernels::KernelError> {
        be.dense(x, self.packed(), Some(&self.b), act, y)
    }
    /// Byte view of weights and bias (for hashing the deployed model).
    pub fn bytes(&self) -> impl Iterator<Item = &[u8]> {
        let packed: &[u8] = match &self.packed {
            Packed::F32(b) => bytemuck::cast_slice(b),
            Packed::F16(b) => bytemuck::cast_slice(b),
        };
        [
            bytemuck::cast_slice::<f32, u8>(&self.w),
            bytemuck::cast_slice::<f32, u8>(&self.b),
            packed,
        ]
        .into_iter()
    }
}

/// Generator parameters θ.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Encoder layer 1.
    pub w1: Layer,
    /// Encoder layer 2 (perturbed by default).
    pub w2: Layer,
    /// Pointer keys.
    pub a: Layer,
    /// Decoder start.
    pub w0: Layer,
    /// Query projection.
    pub b: Layer,
    /// State update.
    pub ws: Layer,
    /// Score vector.
    pub v: Vec<f32>,
}

/// Evaluator parameters.
#[derive(Debug, Clone)]
pub struct Evaluator {
    /// First layer.
    pub l1: Layer,
    /// Second layer.
    pub l2: Layer,
    /// Click-probability head.
    pub l3: Layer,
    /// Position embeddings, max_len × pos_dim.
    pub pos: Vec<f32>,
}

/// A loaded, immutable model pair plus the kernel backend chosen for it.
#[derive(Debug, Clone)]
pub struct Model {
    /// Sizes and limits.
    pub cfg: Config,
    /// Generator θ.
    pub gen: Generator,
    /// Evaluator.
    pub eval: Evaluator,
    /// Instruction-set path, decided once at load.
    pub backend: Backend,
    /// Shared pre-drawn noise for [`crate::serve::NoiseSpec::Table`].
    noise_table: NoiseTable,
}

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
        let eval = Evaluator {
            l1: rand_layer(seed, 11, cfg.eval_h1, cfg.eval_in(), 1.4, dt)?,
            l2: rand_layer(seed, 12, cfg.eval_h2, cfg.eval_h1, 1.4, dt)?,
            l3: rand_layer(seed, 13, 1, cfg.eval_h2, 1.0, dt)?,
            pos: init(seed, 14, cfg.max_len * cfg.pos_dim, 0.5),
        };
        Ok(Model::assemble(cfg, gen, eval, backend))
    }

    /// A model from its parts (derives the shared noise table).
    pub fn assemble(cfg: Config, gen: Generator, eval: Evaluator, backend: Backend) -> Self {
        let h = cfg.hidden;
        Model {
            noise_table: NoiseTable::new(pack::packed_len(h, h)),
            cfg,
            gen,
            eval,
            backend,
        }
    }

    /// The shared noise table (see [`crate::noise_table`]).
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

    fn layers(&self) -> [(&'static str, &Layer); 9] {
        [
            ("gen.w1", &self.gen.w1),
            ("gen.w2", &self.gen.w2),
            ("gen.a", &self.gen.a),
            ("gen.w0", &self.gen.w0),
            ("gen.b", &self.gen.b),
            ("gen.ws", &self.gen.ws),
            ("eval.l1", &self.eval.l1),
            ("eval.l2", &self.eval.l2),
            ("eval.l3", &self.eval.l3),
        ]
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
        eat(bytemuck::cast_slice(&self.eval.pos));
        eat(bytemuck::cast_slice(self.noise_table.values()));
        h
    }

    /// Writes `DIR/model.safetensors` (f32 tensors, or f16 when the config
    /// says so) and `DIR/config.json`.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        use safetensors::tensor::TensorView;
        use safetensors::Dtype as St;
        let io = |path: &Path, source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let f16 = self.cfg.dtype == Dtype::F16;
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut put = |name: String, shape: Vec<usize>, vals: &[f32]| {
            let bytes = if f16 {
                vals.iter()
                    .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
                    .collect()
            } else {
                vals.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            owned.push((name, shape, bytes));
        };
        for (name, l) in self.layers() {
            put(format!("{name}.weight"), vec![l.n, l.k], &l.w);
            put(format!("{name}.bias"), vec![l.n], &l.b);
        }
        put("gen.v".into(), vec![self.gen.v.len()], &self.gen.v);
        put(
            "eval.pos".into(),
            vec![self.cfg.max_len, self.cfg.pos_dim],
            &self.eval.pos,
        );
        let dtype = if f16 { St::F16 } else { St::F32 };
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(dtype, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ModelError::Format(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let bytes =
            safetensors::serialize(views, None).map_err(|e| ModelError::Format(e.to_string()))?;
        let wpath = dir.join("model.safetensors");
        std::fs::write(&wpath, bytes).map_err(|e| io(&wpath, e))?;
        let cpath = dir.join("config.json");
        std::fs::write(&cpath, self.cfg.to_json()).map_err(|e| io(&cpath, e))?;
        Ok(())
    }

    /// Loads `DIR/config.json` + `DIR/model.safetensors`.
    pub fn load(dir: &Path, backend: Backend) -> Result<Self, ModelError> {
        let io = |path: &Path, source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let cpath = dir.join("config.json");
        let text = std::fs::read_to_string(&cpath).map_err(|e| io(&cpath, e))?;
        let cfg = Config::from_json(&text)?;
        let wpath = dir.join("model.safetensors");
        let bytes = std::fs::read(&wpath).map_err(|e| io(&wpath, e))?;
        Self::from_bytes(cfg, &bytes, backend)
    }

    /// Builds a model from a config and safetensors bytes, checking every
    /// tensor's presence, dtype (F32 or F16), shape and finiteness, and
    /// rejecting tensors the config does not name.
    pub fn from_bytes(cfg: Config, bytes: &[u8], backend: Backend) -> Result<Self, ModelError> {
        use safetensors::{Dtype as St, SafeTensors};
        cfg.check()?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format(e.to_string()))?;
        let (h, dx, du) = (cfg.hidden, cfg.d_x, cfg.d_u);
        let expected: Vec<(String, Vec<usize>)> = {
            let mut v = Vec::new();
            let mut lay = |name: &str, n: usize, k: usize| {
                v.push((format!("{name}.weight"), vec![n, k]));
                v.push((format!("{name}.bias"), vec![n]));
            };
            lay("gen.w1", h, 2 * dx + du);
            lay("gen.w2", h, h);
            lay("gen.a", h, h);
            lay("gen.w0", h, h + du);
            lay("gen.b", h, h);
            lay("gen.ws", h, 2 * h);
            lay("eval.l1", cfg.eval_h1, cfg.eval_in());
            lay("eval.l2", cfg.eval_h2, cfg.eval_h1);
            lay("eval.l3", 1, cfg.eval_h2);
            v.push(("gen.v".into(), vec![h]));
            v.push(("eval.pos".into(), vec![cfg.max_len, cfg.pos_dim]));
            v
        };
        for name in st.names() {
            if !expected.iter().any(|(n, _)| n == name) {
                return Err(ModelError::Tensor {
                    name: name.to_string(),
                    why: "not part of this model (extra tensor)".into(),
                });
            }
        }
        let get = |name: &str| -> Result<Vec<f32>, ModelError> {
            let bad = |why: String| ModelError::Tensor {
                name: name.to_string(),
                why,
            };
            let shape = &expected
                .iter()
                .find(|(n, _)| n == name)
                .expect("expected names only")
                .1;
            let t = st.tensor(name).map_err(|_| bad("missing".into()))?;
            if t.shape() != shape.as_slice() {
                return Err(bad(format!("shape {:?}, expected {:?}", t.shape(), shape)));
            }
            let vals: Vec<f32> = match t.dtype() {
                St::F32 => t
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                St::F16 => t
                    .data()
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                d => return Err(bad(format!("dtype {d:?}, expected F32 or F16"))),
            };
            if let Some(i) = vals.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("non-finite value at element {i}")));
            }
            Ok(vals)
        };
        let dt = cfg.dtype;
        let layer = |name: &str, n: usize, k: usize| -> Result<Layer, ModelError> {
            Layer::new(
                n,
                k,
                get(&format!("{name}.weight"))?,
                get(&format!("{name}.bias"))?,
                dt,
            )
            .map_err(|e| match e {
                ModelError::Tensor { why, .. } => ModelError::Tensor {
                    name: name.to_string(),
                    why,
                },
                e => e,
            })
        };
        let gen = Generator {
            w1: layer("gen.w1", h, 2 * dx + du)?,
            w2: layer("gen.w2", h, h)?,
            a: layer("gen.a", h, h)?,
            w0: layer("gen.w0", h, h + du)?,
            b: layer("gen.b", h, h)?,
            ws: layer("gen.ws", h, 2 * h)?,
            v: get("gen.v")?,
        };
        let eval = Evaluator {
            l1: layer("eval.l1", cfg.eval_h1, cfg.eval_in())?,
            l2: layer("eval.l2", cfg.eval_h2, cfg.eval_h1)?,
            l3: layer("eval.l3", 1, cfg.eval_h2)?,
            pos: get("eval.pos")?,
        };
        Ok(Model::assemble(cfg, gen, eval, backend))
    }
}
