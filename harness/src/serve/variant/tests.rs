//! The naming scheme round trip and its refusals.

use super::*;

fn round_trip(v: Variant) {
    let s = v.to_string();
    let back: Variant = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    // Bitwise on the floats (PartialEq would let −0 pass as 0).
    assert_eq!(format!("{back:?}"), format!("{v:?}"), "{s}");
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(json, format!("\"{s}\""));
    let de: Variant = serde_json::from_str(&json).unwrap();
    assert_eq!(de.to_string(), s);
}

#[test]
fn standard_names() {
    let names: Vec<String> = Variant::standard_set()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "baseline",
            "best-of-16",
            "parallel-gaussian-w2-16",
            "parallel-rademacher-w2-16",
            "parallel-antithetic-w2-16",
            "parallel-table-w2-16",
            "parallel-lowrank1-keys-16",
            "parallel-gaussian-keys-16",
            "safe-rademacher-w2-16",
            "gradient-l4-s3",
            "serial-r8-p2",
            "exhaustive",
        ]
    );
    for v in Variant::standard_set() {
        round_trip(v);
    }
    assert_eq!(
        Variant::parallel_standard().to_string(),
        "parallel-gaussian-w2-16"
    );
}

#[test]
fn knobs_appear_only_when_not_default() {
    let v = Variant::Serial {
        rounds: 4,
        pairs: 2,
        sigma: 0.1,
        step: 0.04,
        trust: 0.4,
        patience: 2,
    };
    assert_eq!(
        v.to_string(),
        "serial-r4-p2:sigma=0.1,step=0.04,trust=0.4,patience=2"
    );
    let p: Variant = "parallel-lowrank3-keys-32:sigma=0.2".parse().unwrap();
    assert_eq!(
        p,
        Variant::Parallel {
            k: 32,
            sigma: 0.2,
            noise: NoiseSpec::LowRank(3),
            target: Target::Keys
        }
    );
    // Knobs in any order.
    let g: Variant = "gradient-l8-s7:gamma=0.5,scale=0.02".parse().unwrap();
    assert_eq!(g.to_string(), "gradient-l8-s7:scale=0.02,gamma=0.5");
}

/// Random knobs of every kind, including extreme and negative floats.
#[test]
fn random_knobs_round_trip() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state = last_kernels::rng::splitmix64(state);
        state
    };
    for _ in 0..20_000 {
        let mut f = || loop {
            let x = f32::from_bits(next() as u32);
            if x.is_finite() {
                break x;
            }
        };
        let (a, b, c, d) = (f(), f(), f(), f());
        let n = next();
        let u = |x: u64| (x % 5000) as usize;
        let noise = match n % 5 {
            0 => NoiseSpec::Gaussian,
            1 => NoiseSpec::Rademacher,
            2 => NoiseSpec::Antithetic,
            3 => NoiseSpec::Table,
            _ => NoiseSpec::LowRank(u(n >> 8)),
        };
        let target = if n & 64 == 0 {
            Target::W2
        } else {
            Target::Keys
        };
        let big = next() as usize;
        for v in [
            Variant::BestOfK { k: big },
            Variant::Parallel {
                k: u(next()),
                sigma: a,
                noise,
                target,
            },
            Variant::Safe {
                k: u(next()),
                sigma: b,
                noise,
                target,
                lambda: c,
                margin: d,
            },
            Variant::Serial {
                rounds: u(next()),
                pairs: u(next()),
                sigma: a,
                step: b,
                trust: c,
                patience: u(next()),
            },
            Variant::GradientExploration {
                ladder: big,
                samples: u(next()),
                scale: c,
                gamma: d,
            },
        ] {
            round_trip(v);
        }
    }
}

#[test]
fn bad_names_are_rejected() {
    for bad in [
        "",
        "best-of-k",
        "best-of-",
        "best-of-+3",
        "best-of-016",
        "best_of_16",
        "parallel",
        "parallel-gaussian-w2",
        "parallel-gauss-w2-16",
        "parallel-gaussian-w3-16",
        "parallel-lowrank-keys-16",
        "parallel-gaussian-w2-16:",
        "parallel-gaussian-w2-16:sigma",
        "parallel-gaussian-w2-16:sigma=x",
        "parallel-gaussian-w2-16:sigma=inf",
        "parallel-gaussian-w2-16:sigma=NaN",
        "parallel-gaussian-w2-16:sigma=0.1,sigma=0.2",
        "parallel-gaussian-w2-16:step=0.1",
        "parallel-gaussian-w2-16:lambda=1",
        "safe-gaussian-w2",
        "safe-gaussian-w2-16:lambda=nan",
        "baseline:sigma=0.1",
        "serial-8-2",
        "serial-r8-p2:patience=1.5",
        "gradient-l4",
        "best-of-99999999999999999999999",
    ] {
        assert!(bad.parse::<Variant>().is_err(), "{bad:?} parsed");
    }
}
