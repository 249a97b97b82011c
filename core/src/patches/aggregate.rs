//! Blending patch outputs into one map: a weighted sum and a weight sum over the output grid,
//! divided at the end. Memory is those two `f32` volumes plus one patch-sized window.

use ndarray::{s, Array3, ArrayView3, Zip};
use rayon::prelude::*;

use super::{blend::Blending, check_multiple, check_nonzero, grid::Patch, PatchError};
use crate::geometry::{Dims, Geometry, VoxelPoint};

/// Accumulates the outputs of the patches of a [`PatchGrid`](super::PatchGrid).
///
/// With an output `scale` of (f_i, f_j, f_k), a patch of size `p` yields an output of
/// `p / f` voxels, and output voxel `m` stands for input voxels `m * f .. (m + 1) * f`;
/// the aggregated map has `ceil(dims / f)` voxels. Patch starts must then be multiples of `f`
/// (use [`PatchGrid::aligned`](super::PatchGrid::aligned)). Upsampling to the input grid is
/// left to the caller, after [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct Aggregator {
    patch: Dims,
    scale: Dims,
    output_patch: Dims,
    window: Array3<f32>,
    sum: Array3<f32>,
    weight: Array3<f32>,
}

impl Aggregator {
    /// An empty aggregator for a volume of `dims` cut into patches of `patch` voxels whose
    /// outputs are pooled by `scale` (use `Dims::new(1, 1, 1)` for full-resolution outputs).
    pub fn new(
        dims: Dims,
        patch: Dims,
        scale: Dims,
        blending: Blending,
    ) -> Result<Self, PatchError> {
        check_nonzero("volume", dims)?;
        check_nonzero("patch", patch)?;
        check_multiple(patch, scale)?;
        let (d, p, f) = (dims.as_array(), patch.as_array(), scale.as_array());
        let out = Dims::new(
            d[0].div_ceil(f[0]),
            d[1].div_ceil(f[1]),
            d[2].div_ceil(f[2]),
        );
        let output_patch = Dims::new(p[0] / f[0], p[1] / f[1], p[2] / f[2]);
        Ok(Self {
            patch,
            scale,
            output_patch,
            window: blending.window(output_patch),
            sum: Array3::zeros(out.shape()),
            weight: Array3::zeros(out.shape()),
        })
    }

    /// Voxels (i, j, k) of the aggregated map.
    pub fn output_dims(&self) -> Dims {
        Dims::from_shape(self.sum.shape())
    }

    /// Voxels (i, j, k) of one patch output.
    pub fn output_patch(&self) -> Dims {
        self.output_patch
    }

    pub fn scale(&self) -> Dims {
        self.scale
    }

    /// Adds the network output for `patch`, shaped `output_patch().shape()`; the part that
    /// falls outside the map (padding) is dropped.
    pub fn add(&mut self, patch: &Patch, output: ArrayView3<'_, f32>) -> Result<(), PatchError> {
        if patch.size != self.patch {
            return Err(PatchError::ShapeMismatch {
                expected: self.patch.shape().to_vec(),
                found: patch.size.shape().to_vec(),
            });
        }
        let expected = self.output_patch.shape();
        if output.shape() != expected {
            return Err(PatchError::ShapeMismatch {
                expected: expected.to_vec(),
                found: output.shape().to_vec(),
            });
        }
        let f = self.scale.as_array();
        if (0..3).any(|a| patch.start[a] % f[a] != 0) {
            return Err(PatchError::Misaligned {
                start: patch.start,
                scale: self.scale,
            });
        }
        let origin = [0, 1, 2].map(|a| patch.start[a] / f[a]);
        let placed = Patch {
            start: origin,
            size: self.output_patch,
        };
        let [ni, nj, nk] = placed.extent_inside(self.output_dims());
        let [i0, j0, k0] = origin;
        let region = s![k0..k0 + nk, j0..j0 + nj, i0..i0 + ni];
        let local = s![..nk, ..nj, ..ni];
        // Parallel within a patch only: overlapping patches must be added in turn.
        Zip::from(self.sum.slice_mut(region))
            .and(self.weight.slice_mut(region))
            .and(output.slice(local))
            .and(self.window.slice(local))
            .par_for_each(|s, w, &o, &win| {
                *s += win * o;
                *w += win;
            });
        Ok(())
    }

    /// Adds the outputs of a batch: `outputs` is laid out `[b, k, j, i]`, one output per
    /// patch in order; trailing outputs without a patch (a short final batch) are ignored.
    pub fn add_batch(&mut self, patches: &[Patch], outputs: &[f32]) -> Result<(), PatchError> {
        let len = self.output_patch.len();
        if outputs.len() % len != 0 || outputs.len() / len < patches.len() {
            return Err(PatchError::BatchBuffer {
                len: outputs.len(),
                patches: patches.len(),
                patch_len: len,
            });
        }
        for (patch, chunk) in patches.iter().zip(outputs.chunks_exact(len)) {
            let view = ArrayView3::from_shape(self.output_patch.shape(), chunk)
                .expect("chunk length equals the output patch length");
            self.add(patch, view)?;
        }
        Ok(())
    }

    /// Number of output voxels that no patch has reached yet.
    pub fn uncovered(&self) -> usize {
        self.weight.par_iter().filter(|&&w| w == 0.0).count()
    }

    /// The weighted average map, `[k, j, i]` over [`output_dims`](Self::output_dims); voxels
    /// no patch reached get `uncovered`. Reuses the sum volume: no further allocation.
    pub fn finish(self, uncovered: f32) -> Array3<f32> {
        let Aggregator {
            mut sum, weight, ..
        } = self;
        Zip::from(&mut sum).and(&weight).par_for_each(|s, &w| {
            *s = if w > 0.0 { *s / w } else { uncovered };
        });
        sum
    }
}

/// Geometry of a map pooled by `scale` (i, j, k) from a grid with `geometry`: voxel `m`
/// covers input voxels `m * f .. (m + 1) * f`, so its centre is input index `m * f + (f - 1) / 2`.
pub fn pooled_geometry(geometry: &Geometry, scale: Dims) -> Geometry {
    let f = scale.as_array().map(|x| x as f64);
    let origin = geometry
        .voxel_to_patient(VoxelPoint(f.map(|x| (x - 1.0) / 2.0)))
        .0;
    let mut spacing = geometry.spacing;
    for a in 0..3 {
        spacing[a] *= f[a];
    }
    Geometry {
        origin,
        spacing,
        direction: geometry.direction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patches::{patch_array, PatchGrid, DEFAULT_OVERLAP, DEFAULT_PATCH};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const ONE: Dims = Dims { i: 1, j: 1, k: 1 };

    fn random_volume(dims: Dims, seed: u64) -> Array3<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array3::from_shape_simple_fn(dims.shape(), || rng.gen::<f32>())
    }

    /// Runs `network` on every patch of `grid` and aggregates its outputs.
    fn sliding_window(
        volume: &Array3<f32>,
        grid: &PatchGrid,
        scale: Dims,
        blending: Blending,
        network: impl Fn(Array3<f32>) -> Array3<f32>,
    ) -> Array3<f32> {
        let mut agg = Aggregator::new(grid.dims(), grid.patch_size(), scale, blending).unwrap();
        for patch in grid.patches() {
            let input = patch_array(volume.view(), patch, 0.0);
            agg.add(patch, network(input).view()).unwrap();
        }
        assert_eq!(agg.uncovered(), 0);
        agg.finish(f32::NAN)
    }

    fn max_abs_difference(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
        assert_eq!(a.shape(), b.shape());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn identity_reconstructs(blending: Blending) {
        let dims = Dims::new(70, 61, 45);
        let volume = random_volume(dims, 7);
        let grid = PatchGrid::new(dims, Dims::new(32, 24, 16), DEFAULT_OVERLAP).unwrap();
        let out = sliding_window(&volume, &grid, ONE, blending, |x| x);
        assert!(max_abs_difference(&out, &volume) < 1e-6);
    }

    #[test]
    fn identity_network_reconstructs_input_with_uniform_blending() {
        identity_reconstructs(Blending::Uniform);
    }

    #[test]
    fn identity_network_reconstructs_input_with_gaussian_blending() {
        identity_reconstructs(Blending::Gaussian);
    }

    #[test]
    fn constant_patch_output_aggregates_to_the_same_constant_everywhere() {
        for blending in [Blending::Uniform, Blending::Gaussian] {
            let dims = Dims::new(130, 110, 90);
            let grid = PatchGrid::new(dims, DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
            let mut agg = Aggregator::new(dims, DEFAULT_PATCH, ONE, blending).unwrap();
            let constant = Array3::from_elem(DEFAULT_PATCH.shape(), 3.25f32);
            for patch in grid.patches() {
                agg.add(patch, constant.view()).unwrap();
            }
            assert_eq!(agg.uncovered(), 0, "every voxel covered");
            let out = agg.finish(f32::NAN);
            assert!(out.iter().all(|&x| (x - 3.25).abs() < 1e-5), "{blending:?}");
        }
    }

    #[test]
    fn volume_smaller_than_a_patch_is_reconstructed_from_one_padded_patch() {
        let dims = Dims::new(20, 17, 9);
        let volume = random_volume(dims, 3);
        let grid = PatchGrid::new(dims, DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
        assert_eq!(grid.len(), 1);
        for blending in [Blending::Uniform, Blending::Gaussian] {
            let out = sliding_window(&volume, &grid, ONE, blending, |x| x);
            assert!(max_abs_difference(&out, &volume) < 1e-6);
        }
    }

    #[test]
    fn volume_smaller_than_a_patch_on_one_axis_is_reconstructed() {
        let dims = Dims::new(150, 40, 70);
        let volume = random_volume(dims, 5);
        let grid = PatchGrid::new(dims, DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
        let out = sliding_window(&volume, &grid, ONE, Blending::Gaussian, |x| x);
        assert!(max_abs_difference(&out, &volume) < 1e-6);
    }

    /// Mean over blocks of `f` voxels, the pooling of the density model.
    fn average_pool(x: &Array3<f32>, f: Dims) -> Array3<f32> {
        let out = Dims::new(x.shape()[2] / f.i, x.shape()[1] / f.j, x.shape()[0] / f.k);
        Array3::from_shape_fn(out.shape(), |(k, j, i)| {
            x.slice(s![
                k * f.k..(k + 1) * f.k,
                j * f.j..(j + 1) * f.j,
                i * f.i..(i + 1) * f.i
            ])
            .mean()
            .unwrap()
        })
    }

    #[test]
    fn pooled_identity_network_reconstructs_pooled_input_at_the_output_scale() {
        let scale = Dims::new(3, 3, 2);
        let dims = Dims::new(99, 75, 50);
        let volume = random_volume(dims, 11);
        let grid = PatchGrid::aligned(dims, Dims::new(36, 24, 16), DEFAULT_OVERLAP, scale).unwrap();
        for blending in [Blending::Uniform, Blending::Gaussian] {
            let out = sliding_window(&volume, &grid, scale, blending, |x| average_pool(&x, scale));
            assert_eq!(out.shape(), &[25, 25, 33]);
            assert!(max_abs_difference(&out, &average_pool(&volume, scale)) < 1e-5);
        }
    }

    #[test]
    fn pooled_output_covers_a_volume_not_divisible_by_the_scale() {
        let scale = Dims::new(3, 3, 2);
        let dims = Dims::new(100, 71, 33);
        let grid = PatchGrid::aligned(dims, Dims::new(36, 24, 16), 0.5, scale).unwrap();
        let mut agg = Aggregator::new(dims, grid.patch_size(), scale, Blending::Gaussian).unwrap();
        assert_eq!(agg.output_dims(), Dims::new(34, 24, 17));
        let constant = Array3::from_elem(agg.output_patch().shape(), -2.0f32);
        for patch in grid.patches() {
            agg.add(patch, constant.view()).unwrap();
        }
        assert_eq!(agg.uncovered(), 0);
        assert!(agg.finish(f32::NAN).iter().all(|&x| (x + 2.0).abs() < 1e-5));
    }

    #[test]
    fn misaligned_patch_or_wrong_output_shape_is_rejected() {
        let scale = Dims::new(3, 3, 2);
        let size = Dims::new(36, 24, 16);
        let mut agg =
            Aggregator::new(Dims::new(100, 100, 40), size, scale, Blending::Uniform).unwrap();
        let out = Array3::zeros(agg.output_patch().shape());
        let misaligned = Patch {
            start: [1, 0, 0],
            size,
        };
        assert!(matches!(
            agg.add(&misaligned, out.view()),
            Err(PatchError::Misaligned { .. })
        ));
        let wrong = Array3::zeros(size.shape());
        let aligned = Patch {
            start: [3, 0, 2],
            size,
        };
        assert!(agg.add(&aligned, wrong.view()).is_err());
    }

    #[test]
    fn voxels_no_patch_reached_get_the_uncovered_value() {
        let size = Dims::new(4, 4, 4);
        let mut agg = Aggregator::new(Dims::new(8, 4, 4), size, ONE, Blending::Uniform).unwrap();
        let ones = Array3::ones(size.shape());
        agg.add(
            &Patch {
                start: [0, 0, 0],
                size,
            },
            ones.view(),
        )
        .unwrap();
        assert_eq!(agg.uncovered(), 64);
        let out = agg.finish(-1.0);
        assert_eq!(out[[0, 0, 3]], 1.0);
        assert_eq!(out[[0, 0, 4]], -1.0);
    }

    #[test]
    fn batch_outputs_are_added_patch_by_patch() {
        let dims = Dims::new(40, 30, 20);
        let volume = random_volume(dims, 13);
        let size = Dims::new(16, 16, 8);
        let grid = PatchGrid::new(dims, size, 0.5).unwrap();
        let mut agg = Aggregator::new(dims, size, ONE, Blending::Gaussian).unwrap();
        let mut batch = vec![0.0; 4 * size.len()];
        for chunk in grid.patches().chunks(4) {
            crate::patches::fill_batch(volume.view(), chunk, 0.0, &mut batch).unwrap();
            agg.add_batch(chunk, &batch).unwrap();
        }
        assert!(max_abs_difference(&agg.finish(f32::NAN), &volume) < 1e-6);
    }

    #[test]
    fn pooled_geometry_centres_each_output_voxel_on_its_input_block() {
        let g = Geometry::axial([10.0, 20.0, 30.0], [1.5, 1.5, 2.25]);
        let p = pooled_geometry(&g, Dims::new(3, 3, 2));
        assert_eq!(p.spacing, [4.5, 4.5, 4.5]);
        let want = [10.0 + 1.5, 20.0 + 1.5, 30.0 + 0.5 * 2.25];
        assert!((0..3).all(|a| (p.origin[a] - want[a]).abs() < 1e-12));
    }
}
