//! Intensity window: clip Hounsfield units to `[lo, hi]` and scale linearly to `[0, 1]`.

use ndarray::Array3;
use rayon::prelude::*;

/// Clips every value to `[lo, hi]` and maps `lo -> 0`, `hi -> 1`, in place.
pub fn clip_and_scale(data: &mut Array3<f32>, lo: f32, hi: f32) {
    assert!(
        hi > lo,
        "intensity window must have hi > lo, got [{lo}, {hi}]"
    );
    // A division rather than a reciprocal multiply: bit-identical to numpy's
    // `(np.clip(x, lo, hi) - lo) / (hi - lo)` on float32, so CLAHE sees the same grey levels.
    let range = hi - lo;
    let apply = move |v: &mut f32| *v = (v.clamp(lo, hi) - lo) / range;
    match data.as_slice_memory_order_mut() {
        Some(s) => s
            .par_chunks_mut(1 << 16)
            .for_each(|c| c.iter_mut().for_each(apply)),
        None => data.iter_mut().for_each(apply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_maps_its_ends_to_zero_and_one_and_clips_outside() {
        let mut a =
            Array3::from_shape_vec((1, 1, 5), vec![-2000.0, -1000.0, -350.0, 300.0, 3000.0])
                .unwrap();
        clip_and_scale(&mut a, -1000.0, 300.0);
        assert_eq!(a.as_slice().unwrap(), &[0.0, 0.0, 0.5, 1.0, 1.0]);
    }
}
