//! Parallel LAST: K candidates Δθ = σ·ε drawn at once.

use super::*;

impl Ctx<'_, '_> {
    pub(super) fn parallel_cands(
        &self,
        k: usize,
        sigma: f32,
        noise: NoiseSpec,
        out: &mut Vec<Cand>,
    ) {
        let (kind, anti) = match noise {
            NoiseSpec::Rademacher => (NoiseKind::Rademacher, false),
            NoiseSpec::Antithetic => (NoiseKind::Gaussian, true),
            _ => (NoiseKind::Gaussian, false),
        };
        let target = match self.req.variant {
            Variant::Parallel { target, .. } => target,
            _ => Target::W2,
        };
        let layer = match target {
            Target::W2 => &self.m.gen.w2,
            Target::Keys => &self.m.gen.a,
        };
        let scale = sigma * layer.rms();
        out.clear();
        out.extend((1..k).map(|c| {
            let nz = Noise {
                seed: self.req.seed,
                candidate: (c - 1) as u32,
                kind,
                antithetic: anti,
            };
            match noise {
                NoiseSpec::LowRank(r) => Cand::LowRank(nz, r, scale),
                NoiseSpec::Table => Cand::Table((c - 1) as u32, scale),
                _ => Cand::Noise(nz, scale),
            }
        }));
    }
}

/// Draws `U` (n × r, packed) and `Vᵀ` (r × k) for a low-rank candidate.
/// Entries are unit-variance, so `σ/√r` gives `U·Vᵀ` entries the same
/// standard deviation σ as full-rank noise.
#[allow(clippy::too_many_arguments)]
pub(super) fn low_rank<'b>(
    be: last_kernels::Backend,
    u: &'b mut Vec<f32>,
    up: &'b mut Vec<f32>,
    vt: &'b mut Vec<f32>,
    nz: &Noise,
    r: usize,
    sigma: f32,
    n_out: usize,
    k_in: usize,
) -> Result<LowRank<'b>, ServeError> {
    let uu = grow(u, n_out * r);
    be.noise_fill(nz, 0, uu);
    be.noise_fill(nz, (n_out * r) as u32, grow(vt, r * k_in));
    let upk = grow(up, pack::packed_len(n_out, r));
    let u = pack::pack_f32(&u[..n_out * r], n_out, r, upk)?;
    Ok(LowRank {
        u,
        vt: MatRef::new(&vt[..r * k_in], r, k_in)?,
        sigma: sigma / (r as f32).sqrt(),
    })
}
