//! safetensors + JSON storage of a model pair.

use super::{member_prefix, Config, Dtype, Evaluator, Generator, Layer, Model, ModelError};
use last_kernels::Backend;
use std::path::Path;

impl Model {
    /// Writes `DIR/model.safetensors` and `DIR/config.json`. Layer weights
    /// are written in the config's storage type (f32, f16 or bf16: the
    /// values the kernels hold, so exactly); biases, `generator.v` and the
    /// position embeddings, which every precision keeps in f32, as F32. A
    /// saved model loads back bit for bit.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        use safetensors::tensor::TensorView;
        use safetensors::Dtype as St;
        let io = |path: &Path, source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let dtype = self.cfg.dtype;
        let mut owned: Vec<(String, Vec<usize>, St, Vec<u8>)> = Vec::new();
        let mut put = |name: String, shape: Vec<usize>, vals: &[f32], stored: Dtype| {
            let (st, bytes) = match stored {
                Dtype::F16 => (
                    St::F16,
                    vals.iter()
                        .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
                        .collect(),
                ),
                Dtype::Bf16 => (
                    St::BF16,
                    vals.iter()
                        .flat_map(|v| last_kernels::bf16::to_bf16(*v).to_le_bytes())
                        .collect(),
                ),
                Dtype::F32 => (St::F32, vals.iter().flat_map(|v| v.to_le_bytes()).collect()),
            };
            owned.push((name, shape, st, bytes));
        };
        for (name, l) in self.layers() {
            put(format!("{name}.weight"), vec![l.n, l.k], &l.w, dtype);
            put(format!("{name}.bias"), vec![l.n], &l.b, Dtype::F32);
        }
        put(
            "generator.v".into(),
            vec![self.gen.v.len()],
            &self.gen.v,
            Dtype::F32,
        );
        for i in 0..self.members() {
            put(
                format!("{}.pos", member_prefix(i)),
                vec![self.cfg.max_len, self.cfg.pos_dim],
                &self.member(i).pos,
                Dtype::F32,
            );
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, st, b)| {
                TensorView::new(*st, s.clone(), b)
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

    /// Loads `DIR/config.json` + `DIR/model.safetensors`, and the serving
    /// defaults `DIR/serving.json` if it exists (a malformed one is a
    /// [`ModelError::Config`] naming the file).
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
        let serving = super::ServingSettings::read(dir)?;
        let mut m = Self::from_bytes(cfg, &bytes, backend)?;
        m.serving = serving;
        Ok(m)
    }

    /// Builds a model from a config and safetensors bytes, checking every
    /// tensor's presence, dtype (F32, F16 or BF16, converted once
    /// to f32 and then stored as the config's `dtype` says), shape and finiteness, and
    /// rejecting tensors the config does not name. Ensemble members
    /// `ensemble.0`, `ensemble.1`, … are read while `ensemble.{i}.l1.weight`
    /// exists (each complete, at most [`super::MAX_MEMBERS`] in all); a
    /// member out of sequence is an extra tensor.
    pub fn from_bytes(cfg: Config, bytes: &[u8], backend: Backend) -> Result<Self, ModelError> {
        use safetensors::{Dtype as St, SafeTensors};
        cfg.check()?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format(e.to_string()))?;
        let (h, dx, du) = (cfg.hidden, cfg.d_x, cfg.d_u);
        let names: Vec<&str> = st.names();
        let members = 1
            + (0..super::MAX_MEMBERS - 1)
                .take_while(|i| names.contains(&format!("ensemble.{i}.l1.weight").as_str()))
                .count();
        let expected: Vec<(String, Vec<usize>)> = {
            let mut v = Vec::new();
            let mut lay = |name: &str, n: usize, k: usize| {
                v.push((format!("{name}.weight"), vec![n, k]));
                v.push((format!("{name}.bias"), vec![n]));
            };
            lay("generator.w1", h, 2 * dx + du);
            lay("generator.w2", h, h);
            lay("generator.a", h, h);
            lay("generator.w0", h, h + du);
            lay("generator.b", h, h);
            lay("generator.ws", h, 2 * h);
            for i in 0..members {
                let p = member_prefix(i);
                lay(&format!("{p}.l1"), cfg.eval_h1, cfg.eval_in());
                lay(&format!("{p}.l2"), cfg.eval_h2, cfg.eval_h1);
                lay(&format!("{p}.l3"), 1, cfg.eval_h2);
            }
            v.push(("generator.v".into(), vec![h]));
            for i in 0..members {
                let p = member_prefix(i);
                v.push((format!("{p}.pos"), vec![cfg.max_len, cfg.pos_dim]));
            }
            v
        };
        for name in names {
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
                // bfloat16 is the top half of an f32: widening is exact.
                St::BF16 => t
                    .data()
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                d => return Err(bad(format!("dtype {d:?}, expected F32, F16 or BF16"))),
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
            w1: layer("generator.w1", h, 2 * dx + du)?,
            w2: layer("generator.w2", h, h)?,
            a: layer("generator.a", h, h)?,
            w0: layer("generator.w0", h, h + du)?,
            b: layer("generator.b", h, h)?,
            ws: layer("generator.ws", h, 2 * h)?,
            v: get("generator.v")?,
        };
        let member = |i: usize| -> Result<Evaluator, ModelError> {
            let p = member_prefix(i);
            Ok(Evaluator {
                l1: layer(&format!("{p}.l1"), cfg.eval_h1, cfg.eval_in())?,
                l2: layer(&format!("{p}.l2"), cfg.eval_h2, cfg.eval_h1)?,
                l3: layer(&format!("{p}.l3"), 1, cfg.eval_h2)?,
                pos: get(&format!("{p}.pos"))?,
            })
        };
        let eval = member(0)?;
        let ensemble = (1..members).map(member).collect::<Result<_, _>>()?;
        let mut m = Model::assemble(cfg, gen, eval, backend);
        m.ensemble = ensemble;
        Ok(m)
    }
}
