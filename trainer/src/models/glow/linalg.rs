//! Small dense f64 linear algebra on the host (row-major `n x n`), used to initialise the
//! LU-parametrised channel mixing and to invert it; sizes are the channel count (~32).

/// Orthonormalises the rows of a square matrix (modified Gram-Schmidt); used to turn a
/// Gaussian matrix into a random rotation.
pub fn orthonormalise(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for i in 0..n {
        for j in 0..i {
            let dot: f64 = (0..n).map(|k| a[i * n + k] * a[j * n + k]).sum();
            for k in 0..n {
                a[i * n + k] -= dot * a[j * n + k];
            }
        }
        let norm = (0..n).map(|k| a[i * n + k].powi(2)).sum::<f64>().sqrt();
        assert!(norm > 1e-12, "rank-deficient matrix");
        for k in 0..n {
            a[i * n + k] /= norm;
        }
    }
    a
}

/// `A = P L U` with partial pivoting: `P` a permutation matrix, `L` unit lower triangular,
/// `U` upper triangular.
pub struct Lu {
    pub p: Vec<f64>,
    pub l: Vec<f64>,
    pub u: Vec<f64>,
}

pub fn lu_decompose(a: &[f64], n: usize) -> Lu {
    let mut u = a.to_vec();
    let mut l = vec![0.0; n * n];
    // rows[r] = index of the original row now at position r.
    let mut rows: Vec<usize> = (0..n).collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| u[x * n + col].abs().total_cmp(&u[y * n + col].abs()))
            .expect("non-empty");
        if pivot != col {
            for k in 0..n {
                u.swap(col * n + k, pivot * n + k);
                l.swap(col * n + k, pivot * n + k);
            }
            rows.swap(col, pivot);
        }
        let diag = u[col * n + col];
        assert!(diag.abs() > 1e-12, "singular matrix");
        for r in col + 1..n {
            let f = u[r * n + col] / diag;
            l[r * n + col] = f;
            for k in col + 1..n {
                u[r * n + k] -= f * u[col * n + k];
            }
            u[r * n + col] = 0.0;
        }
    }
    for i in 0..n {
        l[i * n + i] = 1.0;
    }
    // Pivoting computed Q A = L U with Q[r, rows[r]] = 1, so P = Q^T.
    let mut p = vec![0.0; n * n];
    for (r, &orig) in rows.iter().enumerate() {
        p[orig * n + r] = 1.0;
    }
    Lu { p, l, u }
}

pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

/// Inverse by Gauss-Jordan elimination with partial pivoting.
pub fn inverse(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut inv: Vec<f64> = (0..n * n)
        .map(|x| if x / n == x % n { 1.0 } else { 0.0 })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| m[x * n + col].abs().total_cmp(&m[y * n + col].abs()))
            .expect("non-empty");
        for k in 0..n {
            m.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = m[col * n + col];
        assert!(d.abs() > 1e-12, "singular matrix");
        for k in 0..n {
            m[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for r in (0..n).filter(|&r| r != col) {
            let f = m[r * n + col];
            for k in 0..n {
                m[r * n + k] -= f * m[col * n + k];
                inv[r * n + k] -= f * inv[col * n + k];
            }
        }
    }
    inv
}

/// Determinant by LU (the sign of the permutation included).
pub fn determinant(a: &[f64], n: usize) -> f64 {
    let lu = lu_decompose(a, n);
    let diag: f64 = (0..n).map(|i| lu.u[i * n + i]).product();
    // det P = det P^{-1} = sign of the permutation; computed from the matrix itself.
    diag * permutation_sign(&lu.p, n)
}

fn permutation_sign(p: &[f64], n: usize) -> f64 {
    let target: Vec<usize> = (0..n)
        .map(|r| (0..n).find(|&c| p[r * n + c] > 0.5).expect("permutation"))
        .collect();
    let mut seen = vec![false; n];
    let mut sign = 1.0;
    for start in 0..n {
        let mut len = 0;
        let mut i = start;
        while !seen[i] {
            seen[i] = true;
            i = target[i];
            len += 1;
        }
        if len > 0 && len % 2 == 0 {
            sign = -sign;
        }
    }
    sign
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 9] = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];

    #[test]
    fn lu_factors_multiply_back_to_the_matrix() {
        let lu = lu_decompose(&A, 3);
        let back = matmul(&matmul(&lu.p, &lu.l, 3), &lu.u, 3);
        for (x, y) in back.iter().zip(A) {
            assert!((x - y).abs() < 1e-12);
        }
        for i in 0..3 {
            assert_eq!(lu.l[i * 3 + i], 1.0);
            for j in 0..3 {
                if j > i {
                    assert_eq!(lu.l[i * 3 + j], 0.0);
                }
                if j < i {
                    assert_eq!(lu.u[i * 3 + j], 0.0);
                }
            }
        }
    }

    #[test]
    fn inverse_times_matrix_is_identity_and_determinant_is_exact() {
        let inv = inverse(&A, 3);
        let id = matmul(&A, &inv, 3);
        for (k, v) in id.iter().enumerate() {
            let expected = if k / 3 == k % 3 { 1.0 } else { 0.0 };
            assert!((v - expected).abs() < 1e-12);
        }
        // det = 0*(1*1-0*0) - 2*(1*1-0*3) + 1*(1*0-1*3) = -5
        assert!((determinant(&A, 3) + 5.0).abs() < 1e-12);
    }

    #[test]
    fn orthonormalised_rows_form_a_rotation_or_reflection() {
        let q = orthonormalise(A.to_vec(), 3);
        let mut qt = vec![0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                qt[j * 3 + i] = q[i * 3 + j];
            }
        }
        let id = matmul(&q, &qt, 3);
        for (k, v) in id.iter().enumerate() {
            let expected = if k / 3 == k % 3 { 1.0 } else { 0.0 };
            assert!((v - expected).abs() < 1e-12);
        }
        assert!((determinant(&q, 3).abs() - 1.0).abs() < 1e-12);
    }
}
