//! Ridge regression, the LETOR datasets' initial ranker.

/// Solves `(XᵀX + λI) w = Xᵀy` by Cholesky (f64).
pub(super) fn ridge(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Vec<f64> {
    let d = x.first().map(|r| r.len()).unwrap_or(0);
    let mut a = vec![0f64; d * d];
    let mut b = vec![0f64; d];
    for (r, &t) in x.iter().zip(y) {
        for i in 0..d {
            b[i] += r[i] * t;
            for j in 0..=i {
                a[i * d + j] += r[i] * r[j];
            }
        }
    }
    for i in 0..d {
        a[i * d + i] += lambda;
    }
    // Cholesky A = L Lᵀ in the lower triangle.
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        let l = s.max(1e-12).sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / l;
        }
    }
    let mut z = b;
    for i in 0..d {
        for k in 0..i {
            z[i] -= a[i * d + k] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            z[i] -= a[k * d + i] * z[k];
        }
        z[i] /= a[i * d + i];
    }
    z
}
