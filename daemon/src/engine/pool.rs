//! Average pooling of a batch of feature maps by whole blocks, as the density model expects
//! (METHOD.md: kernel = stride = 3 x 3 x 2 in (i, j, k)).

use ndarray::parallel::prelude::*;
use ndarray::{Array4, Array5, ArrayView5, Axis};

/// Mean over `factor` blocks of a `[batch, channels, k, j, i]` array whose spatial sizes are
/// multiples of the factors `(i, j, k)`.
pub fn mean_pool(x: ArrayView5<f32>, factor: [usize; 3]) -> Array5<f32> {
    let (b, c, nk, nj, ni) = x.dim();
    let [fi, fj, fk] = factor;
    assert!(
        nk % fk == 0 && nj % fj == 0 && ni % fi == 0,
        "patch {ni}x{nj}x{nk} is not a multiple of the pooling {fi}x{fj}x{fk}"
    );
    let (ok, oj, oi) = (nk / fk, nj / fj, ni / fi);
    let scale = 1.0 / (fi * fj * fk) as f32;
    let mut out = Array4::<f32>::zeros((b * c, ok, oj, oi));
    let x = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((b * c, nk, nj, ni))
        .expect("standard layout reshapes");
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut o, src)| {
            for ((k, j, i), v) in src.indexed_iter() {
                o[[k / fk, j / fj, i / fi]] += v;
            }
            o.mapv_inplace(|s| s * scale);
        });
    out.into_shape_with_order((b, c, ok, oj, oi))
        .expect("pooled maps reshape")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_each_block() {
        let x = Array5::from_shape_fn((1, 2, 4, 6, 6), |(_, c, k, j, i)| {
            (c * 1000 + k * 100 + j * 10 + i) as f32
        });
        let p = mean_pool(x.view(), [3, 3, 2]);
        assert_eq!(p.dim(), (1, 2, 2, 2, 2));
        // Block (k 0..2, j 0..3, i 0..3) of channel 1: mean of k = 50, j = 10, i = 1.
        assert!((p[[0, 1, 0, 0, 0]] - (1000.0 + 50.0 + 10.0 + 1.0)).abs() < 1e-3);
        assert!((p[[0, 0, 1, 1, 1]] - (250.0 + 40.0 + 4.0)).abs() < 1e-3);
    }
}
