//! Positive pairs of a crop pair point at the same source point in both views, after
//! resampling at different spacings, flips and rotations: checked on coordinate-encoding
//! volumes (the value of every voxel is one of its own coordinates) over many seeds.

use ndarray::{Array3, ArrayView3};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use screener_trainer::augment::{
    sample_crop_pair, AugmentConfig, AugmentError, ColourConfig, CropPair,
};

const DIMS: (usize, usize, usize) = (30, 60, 56);
const SPACING_MM: [f64; 3] = [2.25, 1.5, 1.5];

/// Trilinear interpolation of `view` at a fractional index, written out with plain loops.
fn interpolate(view: ArrayView3<f32>, c: [f32; 3]) -> f64 {
    let shape = view.shape();
    let mut base = [0usize; 3];
    let mut frac = [0f64; 3];
    for d in 0..3 {
        let x = (c[d] as f64).clamp(0.0, (shape[d] - 1) as f64);
        base[d] = (x.floor() as usize).min(shape[d].saturating_sub(2));
        frac[d] = x - base[d] as f64;
    }
    let mut total = 0.0;
    for corner in 0..8 {
        let mut w = 1.0;
        let mut idx = [0usize; 3];
        for d in 0..3 {
            let up = (corner >> d) & 1 == 1;
            idx[d] = (base[d] + usize::from(up)).min(shape[d] - 1);
            w *= if up { frac[d] } else { 1.0 - frac[d] };
        }
        total += w * view[idx] as f64;
    }
    total
}

/// A body that fills most of the volume but not its rim: an ellipsoid.
fn body() -> Array3<u8> {
    Array3::from_shape_fn(DIMS, |(k, j, i)| {
        let (z, y, x) = (
            (k as f64 - 14.5) / 14.0,
            (j as f64 - 29.5) / 27.0,
            (i as f64 - 27.5) / 26.0,
        );
        u8::from(z * z + y * y + x * x <= 1.0)
    })
}

fn coordinate_volume(axis: usize) -> Array3<f32> {
    Array3::from_shape_fn(DIMS, |(k, j, i)| [k, j, i][axis] as f32)
}

fn config() -> AugmentConfig {
    AugmentConfig {
        crop_size: [24, 24, 16],
        positives_per_pair: 64,
        colour: ColourConfig::none(),
        ..AugmentConfig::default()
    }
}

fn draw(volume: &Array3<f32>, body: &Array3<u8>, cfg: &AugmentConfig, seed: u64) -> CropPair {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample_crop_pair(volume.view(), body.view(), SPACING_MM, cfg, &mut rng).unwrap()
}

#[test]
fn each_positive_pair_maps_to_one_source_point_in_both_views() {
    let cfg = config();
    let body = body();
    let coords = [0, 1, 2].map(coordinate_volume);
    let (mut flipped, mut rotated, mut pairs) = (0, 0, 0);
    for seed in 0..300 {
        let per_axis = coords.each_ref().map(|v| draw(v, &body, &cfg, seed));
        let layout = &per_axis[0];
        assert!(!layout.positives.is_empty(), "seed {seed}");
        for other in &per_axis[1..] {
            assert_eq!(
                other.positives, layout.positives,
                "seed {seed}: layouts differ"
            );
        }
        for (axis, pair) in per_axis.iter().enumerate() {
            for p in &pair.positives {
                let want = p.source[axis] as f64;
                for (view, c) in [(&pair.views[0], p.a), (&pair.views[1], p.b)] {
                    let got = interpolate(view.image.view(), c);
                    assert!(
                        (got - want).abs() < 2e-3,
                        "seed {seed}, axis {axis}: view at {c:?} reads {got}, source {want}"
                    );
                    assert!(body[p.source] != 0);
                }
            }
        }
        for v in &layout.views {
            assert_eq!(v.image.shape(), &[16, 24, 24]);
            flipped += v.geometry.flipped.iter().filter(|&&f| f).count();
            rotated += usize::from(v.geometry.axes == [0, 2, 1]);
        }
        pairs += layout.positives.len();
    }
    // The property held under flips and in-plane rotations, not just the identity.
    assert!(
        flipped > 600 && rotated > 200,
        "flips {flipped}, rotations {rotated}"
    );
    assert!(pairs > 300 * 32, "{pairs} positive pairs");
}

#[test]
fn a_marked_voxel_shows_up_at_its_positive_indices_in_both_views() {
    let cfg = AugmentConfig {
        positives_per_pair: 1_000_000,
        ..config()
    };
    let mut body = Array3::<u8>::zeros(DIMS);
    let marked = [15, 30, 28];
    body[marked] = 1;
    let mut image = Array3::<f32>::zeros(DIMS);
    image[marked] = 1.0;
    let mut found = 0;
    for seed in 0..200 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pair = match sample_crop_pair(image.view(), body.view(), SPACING_MM, &cfg, &mut rng) {
            Ok(pair) => pair,
            Err(AugmentError::NoBodyInOverlap { .. }) => continue,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(pair.positives.len(), 1);
        let p = pair.positives[0];
        assert_eq!(p.source, marked);
        // The view holds a tent around the mark (trilinear resampling of one bright voxel),
        // which is brightest at the view voxel nearest to the mark's position in that view:
        // flips and rotations must have been tracked for that voxel to be the rounded index.
        for (view, c) in [(&pair.views[0], p.a), (&pair.views[1], p.b)] {
            let brightest = view.image.iter().cloned().fold(0.0f32, f32::max);
            let nearest = c.map(|x| x.round() as usize);
            assert!(brightest > 0.0, "seed {seed}: the mark is missing");
            assert_eq!(view.image[nearest], brightest, "seed {seed}: {c:?}");
        }
        found += 1;
    }
    assert!(
        found > 20,
        "only {found} layouts contained the marked voxel"
    );
}

#[test]
fn overlap_follows_the_drawn_fraction_when_the_volume_has_room() {
    let cfg = AugmentConfig {
        overlap_fraction: [0.5, 0.5],
        min_spacing_mm: [1.0, 1.0, 1.5],
        max_spacing_mm: [1.0, 1.0, 1.5],
        crop_size: [16, 16, 8],
        ..config()
    };
    let body = Array3::from_elem(DIMS, 1u8);
    let image = coordinate_volume(0);
    for seed in 0..50 {
        let pair = draw(&image, &body, &cfg, seed);
        for a in 0..3 {
            assert!(
                (pair.overlap_fraction[a] - 0.5).abs() < 1e-9,
                "seed {seed} axis {a}"
            );
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_pair_and_another_seed_a_different_one() {
    let cfg = AugmentConfig {
        colour: ColourConfig::default(),
        ..config()
    };
    let body = body();
    let image = coordinate_volume(1).mapv(|v| v / DIMS.1 as f32);
    let a = draw(&image, &body, &cfg, 5);
    let b = draw(&image, &body, &cfg, 5);
    let c = draw(&image, &body, &cfg, 6);
    assert_eq!(a, b);
    assert_ne!(a.positives, c.positives);
}

#[test]
fn a_volume_without_body_voxels_is_reported() {
    let cfg = config();
    let body = Array3::<u8>::zeros(DIMS);
    let image = coordinate_volume(0);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let err = sample_crop_pair(image.view(), body.view(), SPACING_MM, &cfg, &mut rng).unwrap_err();
    assert!(
        matches!(err, AugmentError::NoBodyInOverlap { attempts: 16, .. }),
        "{err}"
    );
}
