//! The trainable tensors of both networks as named structs, and their
//! gradients (the same types: a gradient has the shape of its parameter).
//!
//! Training reads them out of a [`Model`](super::Model) (`of`), updates
//! them, and writes them back (`apply`, which re-packs the layers); the
//! generator's backward pass ([`Generator::backward`](super::Generator::backward))
//! accumulates into a [`GeneratorParams`].

use super::{Dtype, Evaluator, Generator, Layer, ModelError};

/// Weight (row-major `n × k`, PyTorch `Linear` layout) and bias of one layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DenseParams {
    /// `n × k`, row-major.
    pub w: Vec<f32>,
    /// `n`.
    pub b: Vec<f32>,
}

impl DenseParams {
    fn of(l: &Layer) -> Self {
        DenseParams {
            w: l.weight().to_vec(),
            b: l.bias().to_vec(),
        }
    }
    fn layer(&self, like: &Layer, dtype: Dtype) -> Result<Layer, ModelError> {
        Layer::new(like.n, like.k, self.w.clone(), self.b.clone(), dtype)
    }
}

/// The generator's parameters θ (or their gradient).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratorParams {
    /// Encoder layer 1.
    pub w1: DenseParams,
    /// Encoder layer 2.
    pub w2: DenseParams,
    /// Pointer keys.
    pub a: DenseParams,
    /// Decoder start.
    pub w0: DenseParams,
    /// Query projection.
    pub b: DenseParams,
    /// State update.
    pub ws: DenseParams,
    /// Score vector.
    pub v: Vec<f32>,
}

/// The evaluator's parameters (or their gradient).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluatorParams {
    /// First layer.
    pub l1: DenseParams,
    /// Second layer.
    pub l2: DenseParams,
    /// Click-probability head.
    pub l3: DenseParams,
    /// Position embeddings, `max_len × pos_dim`.
    pub pos: Vec<f32>,
}

/// What the optimiser needs of a parameter set: its tensors in a fixed
/// order, read-only and mutable.
pub trait Params: Clone {
    /// Every tensor, in declaration order.
    fn tensors(&self) -> Vec<&Vec<f32>>;
    /// Every tensor, mutable, in declaration order.
    fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>>;
    /// A set of the same shape, all zeros (a fresh gradient).
    fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.tensors_mut().into_iter().for_each(|t| t.fill(0.0));
        z
    }
}

impl Params for GeneratorParams {
    fn tensors(&self) -> Vec<&Vec<f32>> {
        let mut v = Vec::with_capacity(13);
        for l in [&self.w1, &self.w2, &self.a, &self.w0, &self.b, &self.ws] {
            v.push(&l.w);
            v.push(&l.b);
        }
        v.push(&self.v);
        v
    }
    fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut v = Vec::with_capacity(13);
        for l in [
            &mut self.w1,
            &mut self.w2,
            &mut self.a,
            &mut self.w0,
            &mut self.b,
            &mut self.ws,
        ] {
            v.push(&mut l.w);
            v.push(&mut l.b);
        }
        v.push(&mut self.v);
        v
    }
}

impl Params for EvaluatorParams {
    fn tensors(&self) -> Vec<&Vec<f32>> {
        let mut v = Vec::with_capacity(7);
        for l in [&self.l1, &self.l2, &self.l3] {
            v.push(&l.w);
            v.push(&l.b);
        }
        v.push(&self.pos);
        v
    }
    fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut v = Vec::with_capacity(7);
        for l in [&mut self.l1, &mut self.l2, &mut self.l3] {
            v.push(&mut l.w);
            v.push(&mut l.b);
        }
        v.push(&mut self.pos);
        v
    }
}

impl GeneratorParams {
    /// A copy of `g`'s parameters.
    pub fn of(g: &Generator) -> Self {
        GeneratorParams {
            w1: DenseParams::of(&g.w1),
            w2: DenseParams::of(&g.w2),
            a: DenseParams::of(&g.a),
            w0: DenseParams::of(&g.w0),
            b: DenseParams::of(&g.b),
            ws: DenseParams::of(&g.ws),
            v: g.v.clone(),
        }
    }
    /// Writes these parameters into `g` (re-packing every layer in `dtype`);
    /// `g` is unchanged on error.
    pub fn apply(&self, g: &mut Generator, dtype: Dtype) -> Result<(), ModelError> {
        if self.v.len() != g.v.len() {
            return Err(ModelError::Tensor {
                name: "generator.v".into(),
                why: format!("{} elements, expected {}", self.v.len(), g.v.len()),
            });
        }
        let w1 = self.w1.layer(&g.w1, dtype)?;
        let w2 = self.w2.layer(&g.w2, dtype)?;
        let a = self.a.layer(&g.a, dtype)?;
        let w0 = self.w0.layer(&g.w0, dtype)?;
        let b = self.b.layer(&g.b, dtype)?;
        let ws = self.ws.layer(&g.ws, dtype)?;
        (g.w1, g.w2, g.a, g.w0, g.b, g.ws) = (w1, w2, a, w0, b, ws);
        g.v.copy_from_slice(&self.v);
        Ok(())
    }
}

impl EvaluatorParams {
    /// A copy of `e`'s parameters.
    pub fn of(e: &Evaluator) -> Self {
        EvaluatorParams {
            l1: DenseParams::of(&e.l1),
            l2: DenseParams::of(&e.l2),
            l3: DenseParams::of(&e.l3),
            pos: e.pos.clone(),
        }
    }
    /// Writes these parameters into `e` (re-packing every layer in `dtype`);
    /// `e` is unchanged on error.
    pub fn apply(&self, e: &mut Evaluator, dtype: Dtype) -> Result<(), ModelError> {
        if self.pos.len() != e.pos.len() {
            return Err(ModelError::Tensor {
                name: "evaluator.pos".into(),
                why: format!("{} elements, expected {}", self.pos.len(), e.pos.len()),
            });
        }
        let l1 = self.l1.layer(&e.l1, dtype)?;
        let l2 = self.l2.layer(&e.l2, dtype)?;
        let l3 = self.l3.layer(&e.l3, dtype)?;
        (e.l1, e.l2, e.l3) = (l1, l2, l3);
        e.pos.copy_from_slice(&self.pos);
        Ok(())
    }
}
