//! Invertible 1x1x1 channel mixing, LU-parametrised (Glow): `W = P L (U + diag(sign * exp(log_s)))`.

use burn::module::{Module, Param};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::linalg::{inverse, lu_decompose, orthonormalise};

/// Parameters (all `[D, D]` or `[D]`): `perm` (fixed permutation matrix, not trained),
/// `lower` (only its strictly lower triangle is used), `upper` (only its strictly upper
/// triangle is used), `log_s`, `sign_s` (fixed +-1, not trained).
///
/// `W = perm @ (tril(lower, -1) + I) @ (triu(upper, 1) + diag(sign_s * exp(log_s)))`.
/// Forward: Conv with weight `W` reshaped to `[D, D, 1, 1, 1]`, no bias (i.e. `y[:, o] =
/// sum_i W[o, i] x[:, i]`); per-voxel log|det| = `sum(log_s)`. An exporter computes `W` once
/// from these parameters and writes it as a Conv weight.
#[derive(Module, Debug)]
pub struct InvConv1x1 {
    pub perm: Param<Tensor<2>>,
    pub lower: Param<Tensor<2>>,
    pub upper: Param<Tensor<2>>,
    pub log_s: Param<Tensor<1>>,
    pub sign_s: Param<Tensor<1>>,
}

impl InvConv1x1 {
    /// Starts as a random rotation (Glow's initialisation), drawn from the device's RNG.
    pub fn new(channels: usize, device: &Device) -> Self {
        let n = channels;
        let gaussian: Vec<f64> =
            Tensor::<2>::random([n, n], Distribution::Normal(0.0, 1.0), device)
                .into_data()
                .iter::<f64>()
                .collect();
        let lu = lu_decompose(&orthonormalise(gaussian, n), n);
        let diag: Vec<f64> = (0..n).map(|i| lu.u[i * n + i]).collect();
        let matrix = |v: &[f64]| -> Tensor<2> {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::from_data(TensorData::new(v, [n, n]), device)
        };
        let vector = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), device);
        Self {
            perm: Param::from_tensor(matrix(&lu.p)).set_require_grad(false),
            lower: Param::from_tensor(matrix(&lu.l)),
            upper: Param::from_tensor(matrix(&lu.u)),
            log_s: Param::from_tensor(vector(diag.iter().map(|d| d.abs().ln() as f32).collect())),
            sign_s: Param::from_tensor(vector(diag.iter().map(|d| d.signum() as f32).collect()))
                .set_require_grad(false),
        }
    }

    pub fn channels(&self) -> usize {
        self.log_s.dims()[0]
    }

    /// The mixing matrix `W [D, D]`.
    pub fn weight(&self) -> Tensor<2> {
        let n = self.channels();
        let device = self.log_s.val().device();
        let eye = Tensor::<2>::eye(n, &device);
        let l = self.lower.val().tril(-1) + eye.clone();
        let diag = self.sign_s.val() * self.log_s.val().exp();
        let u = self.upper.val().triu(1) + eye * diag.reshape([1, n]);
        self.perm.val().matmul(l).matmul(u)
    }

    /// `(y, log|det|)`, the log-determinant per voxel as a `[1, 1, 1, 1, 1]` tensor.
    pub fn forward(&self, x: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let logdet = self.log_s.val().sum().reshape([1, 1, 1, 1, 1]);
        (mix(x, self.weight()), logdet)
    }

    /// Inverse; `W^-1` is computed on the host in f64, so no gradient flows through it.
    pub fn inverse(&self, y: Tensor<5>) -> Tensor<5> {
        let n = self.channels();
        let w: Vec<f64> = self.weight().into_data().iter::<f64>().collect();
        let inv: Vec<f32> = inverse(&w, n).iter().map(|&x| x as f32).collect();
        let inv = Tensor::from_data(TensorData::new(inv, [n, n]), &y.device());
        mix(y, inv)
    }
}

fn mix(x: Tensor<5>, w: Tensor<2>) -> Tensor<5> {
    let n = w.dims()[0];
    conv3d(
        x,
        w.reshape([n, n, 1, 1, 1]),
        None,
        ConvOptions::new([1, 1, 1], [0, 0, 0], [1, 1, 1], 1),
    )
}
