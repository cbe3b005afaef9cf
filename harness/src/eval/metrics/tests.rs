use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// log2(3) appears in every hand-computed DCG below.
const LOG2_3: f64 = 1.584_962_500_721_156;

#[test]
fn dcg_hand_example() {
    // Labels 3, 2, 3, 0, 1, 2 → gains 7, 3, 7, 0, 1, 3.
    // Discounts log2(2..=7) = 1, 1.584963, 2, 2.321928, 2.584963, 2.807355.
    // 7 + 1.892789 + 3.5 + 0 + 0.386853 + 1.068622 = 13.848264.
    let d = dcg_at(&[3.0, 2.0, 3.0, 0.0, 1.0, 2.0], 6);
    assert!(close(d, 13.848_264, 1e-5), "{d}");
    // k = 2: 7 + 3 / log2(3).
    assert!(close(
        dcg_at(&[3.0, 2.0, 3.0], 2),
        7.0 + 3.0 / LOG2_3,
        1e-12
    ));
    assert_eq!(dcg_at(&[3.0], 0), 0.0);
    assert_eq!(dcg_at(&[], 5), 0.0);
}

#[test]
fn ndcg_with_tied_labels() {
    // Pool 3, 2, 2, 0; list 2, 3, 2; k = 3.
    // DCG   = 3/1 + 7/log2(3) + 3/2 = 3 + 4.416508 + 1.5 = 8.916508
    // IDCG  = 7/1 + 3/log2(3) + 3/2 = 7 + 1.892789 + 1.5 = 10.392789
    // NDCG  = 8.916508 / 10.392789 = 0.857951
    let all = [3.0, 2.0, 2.0, 0.0];
    let v = ndcg_at(&[2.0, 3.0, 2.0], &all, 3);
    assert!(close(v, 0.857_951, 1e-6), "{v}");
    assert!(close(v, (4.5 + 7.0 / LOG2_3) / (8.5 + 3.0 / LOG2_3), 1e-12));
    // The two label-2 items are interchangeable: either order of the
    // ties after the 3 is ideal.
    assert!(close(ndcg_at(&[3.0, 2.0, 2.0], &all, 3), 1.0, 1e-12));
}

#[test]
fn ndcg_list_shorter_than_k() {
    // Pool 1, 0, 1; list 1, 0; k = 5.
    // DCG  = 1/1 + 0 = 1
    // IDCG = 1/1 + 1/log2(3) + 0 = 1.630930
    // NDCG = 1 / 1.630930 = 0.613147
    let v = ndcg_at(&[1.0, 0.0], &[1.0, 0.0, 1.0], 5);
    assert!(close(v, 0.613_147, 1e-6), "{v}");
}

#[test]
fn ndcg_ideal_truncated_at_k() {
    // Pool 2, 1, 1, 1; list 1, 1; k = 2.
    // DCG  = 1 + 1/log2(3) = 1.630930
    // IDCG = 3 + 1/log2(3) = 3.630930 (only the top 2 of the pool count)
    // NDCG = 1.630930 / 3.630930 = 0.449177
    let v = ndcg_at(&[1.0, 1.0], &[2.0, 1.0, 1.0, 1.0], 2);
    assert!(close(v, (1.0 + 1.0 / LOG2_3) / (3.0 + 1.0 / LOG2_3), 1e-12));
    assert!(close(v, 0.449_177, 1e-6), "{v}");
}

#[test]
fn ndcg_all_zero_labels_is_zero() {
    assert_eq!(ndcg_at(&[0.0, 0.0], &[0.0, 0.0, 0.0], 2), 0.0);
    assert_eq!(ndcg_at(&[], &[], 3), 0.0);
    assert_eq!(ndcg_at(&[1.0], &[1.0], 0), 0.0);
}

#[test]
fn ndcg_perfect_list_is_one() {
    let all = [0.0, 3.0, 1.0, 2.0, 0.0];
    assert!(close(ndcg_at(&[3.0, 2.0, 1.0], &all, 3), 1.0, 1e-12));
    assert!(close(
        ndcg_at(&[3.0, 2.0, 1.0, 0.0, 0.0], &all, 10),
        1.0,
        1e-12
    ));
}

#[test]
fn ndcg_nan_does_not_panic() {
    let v = ndcg_at(&[f32::NAN, 1.0], &[f32::NAN, 1.0, 0.0], 2);
    assert!(v.is_nan());
}

#[test]
fn ap_hand_example() {
    // Pool has R = 4 relevant; list rel = 1, 0, 1, 1; k = 4.
    // P@1 = 1, P@3 = 2/3, P@4 = 3/4 → (1 + 0.666667 + 0.75) / 4 = 0.604167
    let all = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let v = average_precision_at(&[1.0, 0.0, 1.0, 1.0], &all, 4, 1.0);
    assert!(close(v, (1.0 + 2.0 / 3.0 + 0.75) / 4.0, 1e-12));
    assert!(close(v, 0.604_167, 1e-6), "{v}");
}

#[test]
fn ap_with_ties_at_threshold() {
    // Graded labels 2, 1, 0, 1 with threshold 1: a label equal to the
    // threshold is relevant → rel = T, T, F, T; pool adds a 0, R = 3.
    // P@1 = 1, P@2 = 1, P@4 = 3/4 → 2.75 / min(3, 4) = 0.916667
    let all = [2.0, 1.0, 0.0, 1.0, 0.0];
    let v = average_precision_at(&[2.0, 1.0, 0.0, 1.0], &all, 4, 1.0);
    assert!(close(v, 2.75 / 3.0, 1e-12), "{v}");
    // Relevance is binary: swapping the tied-relevant 2 and 1 changes nothing.
    let w = average_precision_at(&[1.0, 2.0, 0.0, 1.0], &all, 4, 1.0);
    assert_eq!(v, w);
}

#[test]
fn ap_all_zero_is_zero() {
    assert_eq!(
        average_precision_at(&[0.0, 0.0], &[0.0, 0.0, 0.0], 2, 1.0),
        0.0
    );
    assert_eq!(average_precision_at(&[], &[], 2, 1.0), 0.0);
    assert_eq!(average_precision_at(&[1.0], &[1.0], 0, 1.0), 0.0);
}

#[test]
fn ap_k_smaller_than_r() {
    // R = 5 relevant in the pool, k = 2 → normalise by min(5, 2) = 2.
    let all = [1.0; 5];
    // rel = T, F (the 3rd position is past k): P@1 = 1 → 1 / 2 = 0.5
    assert_eq!(average_precision_at(&[1.0, 0.0, 1.0], &all, 2, 1.0), 0.5);
    // Top 2 both relevant: (1 + 1) / 2 = 1.0
    assert_eq!(average_precision_at(&[1.0, 1.0, 0.0], &all, 2, 1.0), 1.0);
}

#[test]
fn ap_list_shorter_than_k() {
    // R = 2, k = 5, list rel = F, T: P@2 = 1/2 → 0.5 / min(2, 5) = 0.25
    let v = average_precision_at(&[0.0, 1.0], &[0.0, 1.0, 1.0], 5, 0.5);
    assert_eq!(v, 0.25);
}

#[test]
fn auc_hand_examples() {
    // Negatives 0.1, 0.4; positives 0.35, 0.8. Pairs won by the positive:
    // 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4 → 3 / 4 = 0.75.
    assert_eq!(
        auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
        Some(0.75)
    );
    // With ties: negatives 0.5, 0.5; positives 0.5, 0.9.
    // 0.5 vs 0.5 → ½ twice, 0.9 vs each → 1 twice: (½ + ½ + 1 + 1) / 4 = 0.75.
    assert_eq!(
        auc(&[0.5, 0.5, 0.5, 0.9], &[false, true, false, true]),
        Some(0.75)
    );
    // Negatives 0.2, 0.5; positives 0.5, 0.9: (1 + ½ + 1 + 1) / 4 = 0.875.
    assert_eq!(
        auc(&[0.2, 0.5, 0.5, 0.9], &[false, true, false, true]),
        Some(0.875)
    );
    // Everything tied: 0.5. +0 and −0 tie as well.
    assert_eq!(auc(&[1.0, 1.0, 1.0], &[true, false, true]), Some(0.5));
    assert_eq!(auc(&[0.0, -0.0], &[true, false]), Some(0.5));
}

#[test]
fn auc_perfect_reversed_and_undefined() {
    let labels = [false, false, true, true, true];
    assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4, 0.5], &labels), Some(1.0));
    assert_eq!(auc(&[0.5, 0.4, 0.3, 0.2, 0.1], &labels), Some(0.0));
    assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    assert_eq!(auc(&[0.1, 0.2], &[false, false]), None);
    assert_eq!(auc(&[], &[]), None);
    assert_eq!(auc(&[0.1, 0.2], &[true]), None);
}

#[test]
fn auc_matches_pairwise_count_and_survives_nan() {
    let mut rng = crate::rng::Rng::from_state(7);
    for _ in 0..20 {
        let n = 2 + rng.below(40);
        // Coarse scores so ties are common.
        let scores: Vec<f32> = (0..n).map(|_| rng.below(6) as f32 / 5.0).collect();
        let labels: Vec<bool> = (0..n).map(|_| rng.below(2) == 1).collect();
        let (mut won, mut pairs) = (0.0, 0.0);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if labels[i] && !labels[j] {
                    pairs += 1.0;
                    won += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let expected = (pairs > 0.0).then(|| won / pairs);
        match (auc(&scores, &labels), expected) {
            (Some(a), Some(e)) => assert!(close(a, e, 1e-12), "{a} vs {e}"),
            (a, e) => assert_eq!(a, e),
        }
    }
    // NaN ranks above every number and ties with other NaNs.
    assert_eq!(auc(&[f32::NAN, 0.3], &[true, false]), Some(1.0));
    assert_eq!(auc(&[f32::NAN, -f32::NAN], &[true, false]), Some(0.5));
}

#[test]
fn log_loss_hand_values() {
    // −(ln 0.9 + ln(1 − 0.2)) / 2 = (0.105361 + 0.223144) / 2 = 0.164252
    let v = log_loss(&[0.9, 0.2], &[true, false]).unwrap();
    assert!(close(v, 0.164_252, 1e-6), "{v}");
    // p = 0.5 either way → ln 2 = 0.693147
    let v = log_loss(&[0.5, 0.5], &[true, false]).unwrap();
    assert!(close(v, std::f64::consts::LN_2, 1e-12));
    // Clipping: p = 1 for a negative costs −ln(1e-7) = 16.118096, p = 0
    // for a negative costs −ln(1 − 1e-7) ≈ 1e-7.
    let v = log_loss(&[1.0], &[false]).unwrap();
    assert!(close(v, 16.118_096, 1e-6), "{v}");
    let v = log_loss(&[0.0], &[false]).unwrap();
    assert!(close(v, 1e-7, 1e-12), "{v}");
    assert!(log_loss(&[0.0], &[true]).unwrap().is_finite());
}

#[test]
fn log_loss_undefined_and_nan() {
    assert_eq!(log_loss(&[], &[]), None);
    assert_eq!(log_loss(&[0.5], &[true, false]), None);
    assert!(log_loss(&[f32::NAN], &[true]).unwrap().is_nan());
}

/// O(n²) τ-b straight from the definition, for cross-checking.
fn tau_b_naive(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len();
    let (mut s, mut n1, mut n2) = (0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let da = (a[i] - a[j]).signum() as i64 * i64::from(a[i] != a[j]);
            let db = (b[i] - b[j]).signum() as i64 * i64::from(b[i] != b[j]);
            s += da * db;
            n1 += i64::from(da == 0);
            n2 += i64::from(db == 0);
        }
    }
    let n0 = (n * (n - 1) / 2) as i64;
    if n < 2 || n1 == n0 || n2 == n0 {
        return None;
    }
    Some(s as f64 / (((n0 - n1) * (n0 - n2)) as f64).sqrt())
}

#[test]
fn kendall_identical_and_reversed() {
    let a = [1.0, 2.0, 3.0, 4.0, 5.0];
    let r = [5.0, 4.0, 3.0, 2.0, 1.0];
    assert_eq!(kendall_tau_b(&a, &a), Some(1.0));
    assert_eq!(kendall_tau_b(&a, &r), Some(-1.0));
    // Identical with ties is still exactly 1.
    let t = [1.0, 1.0, 2.0, 3.0, 3.0];
    assert_eq!(kendall_tau_b(&t, &t), Some(1.0));
    // Many pairs tied in both sides (n1 + n2 = 12 > n0 = 10, n3 = 6).
    let u = [1.0, 1.0, 1.0, 1.0, 2.0];
    assert_eq!(kendall_tau_b(&u, &u), Some(1.0));
}

#[test]
fn kendall_hand_tied_example() {
    // a = 1, 2, 2, 3; b = 1, 3, 2, 2. The 6 pairs:
    // (0,1) C  (0,2) C  (0,3) C  (1,2) tied in a  (1,3) D  (2,3) tied in b
    // n0 = 6, n1 = 1, n2 = 1, C − D = 3 − 1 = 2
    // τ-b = 2 / √((6 − 1)(6 − 1)) = 2 / 5 = 0.4
    let v = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]).unwrap();
    assert!(close(v, 0.4, 1e-12), "{v}");
    // A pair tied in both: a = 1, 1, 2; b = 5, 5, 6.
    // n0 = 3, n1 = 1, n2 = 1, n3 = 1; (0,2) C, (1,2) C → 2 / √(2·2) = 1.
    assert_eq!(kendall_tau_b(&[1.0, 1.0, 2.0], &[5.0, 5.0, 6.0]), Some(1.0));
}

#[test]
fn kendall_undefined() {
    assert_eq!(kendall_tau_b(&[], &[]), None);
    assert_eq!(kendall_tau_b(&[1.0], &[2.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 2.0], &[3.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[0.0, -0.0, 0.0]), None);
}

#[test]
fn kendall_matches_naive_on_random_tied_data() {
    let mut rng = crate::rng::Rng::from_state(42);
    for round in 0..50 {
        let n = 2 + rng.below(60);
        let levels = 1 + rng.below(8) as u64;
        let a: Vec<f64> = (0..n).map(|_| (rng.next_u64() % levels) as f64).collect();
        let b: Vec<f64> = (0..n).map(|_| (rng.next_u64() % levels) as f64).collect();
        match (kendall_tau_b(&a, &b), tau_b_naive(&a, &b)) {
            (Some(x), Some(y)) => assert!(close(x, y, 1e-12), "round {round}: {x} vs {y}"),
            (x, y) => assert_eq!(x, y, "round {round}"),
        }
    }
}

#[test]
fn kendall_nan_does_not_panic() {
    // NaNs tie with each other and rank above every number:
    // a = 1, NaN, NaN; b = 1, 2, 3 → pairs (0,1) C, (0,2) C, (1,2) tied in a:
    // 2 / √((3 − 1)(3 − 0)) = 2 / √6.
    let v = kendall_tau_b(&[1.0, f64::NAN, f64::NAN], &[1.0, 2.0, 3.0]).unwrap();
    assert!(close(v, 2.0 / 6f64.sqrt(), 1e-12), "{v}");
}

#[test]
fn mean_basic() {
    assert_eq!(mean(&[]), 0.0);
    assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
}

#[test]
fn quantile_interpolates() {
    let xs = [4.0, 1.0, 3.0, 2.0];
    // Sorted 1, 2, 3, 4; h = 3q.
    assert_eq!(quantile(&xs, 0.0), Some(1.0));
    assert_eq!(quantile(&xs, 1.0), Some(4.0));
    // q = 0.5 → h = 1.5 → 2 + 0.5·(3 − 2) = 2.5
    assert_eq!(quantile(&xs, 0.5), Some(2.5));
    // q = 0.25 → h = 0.75 → 1 + 0.75·(2 − 1) = 1.75
    assert_eq!(quantile(&xs, 0.25), Some(1.75));
    // q = 0.9 → h = 2.7 → 3 + 0.7·(4 − 3) = 3.7
    assert!(close(quantile(&xs, 0.9).unwrap(), 3.7, 1e-12));
    assert_eq!(quantile(&[7.0], 0.3), Some(7.0));
    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&xs, f64::NAN), None);
    // Out-of-range q clamps.
    assert_eq!(quantile(&xs, 2.0), Some(4.0));
    assert_eq!(quantile(&xs, -1.0), Some(1.0));
    // Equal infinite neighbours do not produce NaN.
    let inf = f64::INFINITY;
    assert_eq!(quantile(&[1.0, inf, inf], 0.75), Some(inf));
    assert!(quantile(&[f64::NAN, 1.0], 0.5).unwrap().is_nan());
}

#[test]
fn splitmix_reference_output() {
    // First outputs of SplitMix64 from state 0 (the reference implementation).
    let mut rng = crate::rng::Rng::from_state(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
}

#[test]
fn bootstrap_deterministic_and_contains_mean() {
    let diffs: Vec<f64> = (0..100)
        .map(|i| ((i * 37) % 11) as f64 / 10.0 - 0.4)
        .collect();
    let a = bootstrap_mean_ci(&diffs, 2000, 0.95, 1).unwrap();
    let b = bootstrap_mean_ci(&diffs, 2000, 0.95, 1).unwrap();
    let c = bootstrap_mean_ci(&diffs, 2000, 0.95, 2).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let m = mean(&diffs);
    assert!(a.low < m && m < a.high, "{a:?} vs {m}");
    // A wider level gives a wider interval from the same resamples.
    let w = bootstrap_mean_ci(&diffs, 2000, 0.99, 1).unwrap();
    assert!(w.low <= a.low && a.high <= w.high);
}

#[test]
fn bootstrap_constant_and_undefined() {
    let ci = bootstrap_mean_ci(&[0.25; 17], 500, 0.95, 9).unwrap();
    assert_eq!(
        ci,
        Interval {
            low: 0.25,
            high: 0.25
        }
    );
    let one = bootstrap_mean_ci(&[-3.0], 10, 0.9, 0).unwrap();
    assert_eq!(
        one,
        Interval {
            low: -3.0,
            high: -3.0
        }
    );
    assert_eq!(bootstrap_mean_ci(&[], 100, 0.95, 0), None);
    assert_eq!(bootstrap_mean_ci(&[1.0], 0, 0.95, 0), None);
    assert_eq!(bootstrap_mean_ci(&[1.0], 10, 0.0, 0), None);
    assert_eq!(bootstrap_mean_ci(&[1.0], 10, 1.5, 0), None);
    assert_eq!(bootstrap_mean_ci(&[1.0], 10, f64::NAN, 0), None);
    let nan = bootstrap_mean_ci(&[1.0, f64::NAN], 10, 0.9, 0).unwrap();
    assert!(nan.high.is_nan());
}

#[test]
fn bootstrap_covers_about_95_percent() {
    // 200 datasets of 40 draws from Uniform(−1, 1) (true mean 0), each
    // with its own fixed seed; the 95 % percentile interval should contain
    // 0 in roughly 95 % of them (percentile intervals run a little
    // narrow at n = 40, so expect ~93 %). Deterministic by construction.
    let mut data_rng = crate::rng::Rng::from_state(2024);
    let mut covered = 0;
    let datasets = 200;
    for d in 0..datasets {
        let xs: Vec<f64> = (0..40).map(|_| 2.0 * data_rng.uniform() - 1.0).collect();
        let ci = bootstrap_mean_ci(&xs, 1000, 0.95, 1000 + d).unwrap();
        if ci.low <= 0.0 && 0.0 <= ci.high {
            covered += 1;
        }
    }
    let rate = covered as f64 / datasets as f64;
    assert!((0.88..=0.99).contains(&rate), "coverage {rate}");
}

#[test]
fn interval_serializes() {
    let s = serde_json::to_string(&Interval {
        low: -0.5,
        high: 1.25,
    })
    .unwrap();
    assert_eq!(s, r#"{"low":-0.5,"high":1.25}"#);
}

#[test]
fn group_bootstrap_with_singletons_is_the_plain_bootstrap() {
    let mut rng = crate::rng::Rng::from_state(5);
    let xs: Vec<f64> = (0..57).map(|_| rng.uniform() - 0.4).collect();
    let single: Vec<usize> = (0..xs.len()).collect();
    let a = bootstrap_mean_ci(&xs, 500, 0.95, 77).unwrap();
    let b = bootstrap_group_mean_ci(&xs, &single, 500, 0.95, 77).unwrap();
    assert_eq!(
        (a.low.to_bits(), a.high.to_bits()),
        (b.low.to_bits(), b.high.to_bits())
    );
}

#[test]
fn group_bootstrap_widens_with_correlated_groups() {
    // 8 groups of 30 identical values: 8 independent draws, not 240.
    let mut rng = crate::rng::Rng::from_state(9);
    let per: Vec<f64> = (0..8).map(|_| rng.uniform() - 0.5).collect();
    let xs: Vec<f64> = per.iter().flat_map(|&v| [v; 30]).collect();
    let groups: Vec<usize> = (0..8).flat_map(|g| [g; 30]).collect();
    let plain = bootstrap_mean_ci(&xs, 1000, 0.95, 1).unwrap();
    let grouped = bootstrap_group_mean_ci(&xs, &groups, 1000, 0.95, 1).unwrap();
    let w = |i: Interval| i.high - i.low;
    assert!(w(grouped) > 3.0 * w(plain), "{grouped:?} vs {plain:?}");
    // Bad group vectors are refused.
    assert!(bootstrap_group_mean_ci(&xs, &groups[1..], 10, 0.95, 1).is_none());
    let mut gap = groups.clone();
    gap[0] = 9;
    assert!(bootstrap_group_mean_ci(&xs, &gap, 10, 0.95, 1).is_none());
}

#[test]
fn groups_are_the_key_before_the_hash() {
    assert_eq!(
        groups_of(["q1#0", "q1#1", "q2#0", "u7", "q1#2", "u7"]),
        [0, 0, 1, 2, 0, 2]
    );
}
