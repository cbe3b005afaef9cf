use last_kernels::math;
use last_tests::{ulp_diff, f32_ulp_at};

fn sweep(name: &str, f: impl Fn(f32) -> f32, r: impl Fn(f64) -> f64, pts: impl Iterator<Item = f32>, abs: f64) {
    let (mut mu, mut mux, mut ma, mut max_) = (0u64, 0f32, 0f64, 0f32);
    let mut mu_beyond_abs = 0u64; let mut mub_x = 0f32;
    let mut mreal = 0f64; let mut mreal_x = 0f32;
    for x in pts {
        let g = f(x); let rf = r(x as f64);
        let u = ulp_diff(g, rf as f32);
        let a = (g as f64 - rf).abs();
        if u > mu { mu = u; mux = x; }
        if a > ma { ma = a; max_ = x; }
        let real = (a - abs).max(0.0) / f32_ulp_at(rf);
        if real > mreal { mreal = real; mreal_x = x; }
        if a > abs && u > mu_beyond_abs { mu_beyond_abs = u; mub_x = x; }
    }
    eprintln!("{name}: max ulp_diff {mu} at {mux:e}; max abs {ma:e} at {max_:e}; max (err-abs)/ulp {mreal:.3} at {mreal_x:e}; max ulp where abs>tol {mu_beyond_abs} at {mub_x:e}");
}

#[test]
fn probe() {
    let lin = |a: f32, b: f32, n: usize| (0..=n).map(move |i| (a as f64 + (b as f64 - a as f64) * i as f64 / n as f64) as f32);
    sweep("exp", math::exp, f64::exp, lin(-87.0, 88.0, 1_000_000), 0.0);
    sweep("exp small", math::exp, f64::exp, lin(-1.0, 1.0, 1_000_000), 0.0);
    sweep("tanh", math::tanh, f64::tanh, lin(-10.0, 10.0, 1_000_000), 0.0);
    sweep("tanh small", math::tanh, f64::tanh, lin(-1.0, 1.0, 1_000_000), 0.0);
    sweep("tanh tiny", math::tanh, f64::tanh, (1..1_000_000u32).map(|i| f32::from_bits(i * 1000)), 0.0);
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    sweep("sigmoid", math::sigmoid, sig, lin(-30.0, 30.0, 1_000_000), 0.0);
    sweep("sigmoid wide", math::sigmoid, sig, lin(-120.0, 120.0, 1_000_000), 0.0);
    sweep("ln bits", math::ln, f64::ln, (0..1_000_000u32).map(|i| f32::from_bits(0x0080_0000 + ((0x7f7f_ffffu64 - 0x0080_0000) * i as u64 / 999_999) as u32)), 0.0);
    sweep("ln [0.5,2]", math::ln, f64::ln, lin(0.5, 2.0, 1_000_000), 0.0);
    sweep("ln sub", math::ln, f64::ln, (1..0x80_0000u32).step_by(7).map(f32::from_bits), 0.0);
}
