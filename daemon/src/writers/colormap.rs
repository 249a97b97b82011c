//! The heat-map colour scale: a perceptually ordered ramp from near-black purple through red
//! and orange to pale yellow (inferno-like), with monotonically rising lightness so higher
//! scores always look brighter, also in grey-scale print. Nine anchor colours, interpolated
//! linearly to a 256-entry table at compile time.

const ANCHORS: [[u8; 3]; 9] = [
    [0, 0, 4],
    [31, 12, 72],
    [85, 15, 109],
    [136, 34, 106],
    [186, 54, 85],
    [227, 89, 51],
    [249, 140, 10],
    [249, 201, 50],
    [252, 255, 164],
];

/// The colour of each of 256 equally spaced values from 0 to 1.
pub static HEAT_TABLE: [[u8; 3]; 256] = build_table();

const fn build_table() -> [[u8; 3]; 256] {
    let mut table = [[0u8; 3]; 256];
    let segments = (ANCHORS.len() - 1) as u32;
    let mut n = 0;
    while n < 256 {
        // Position along the anchors in 1/255 steps of a segment.
        let pos = n as u32 * segments;
        let seg = pos / 255;
        let frac = pos % 255;
        let (lo, hi) = if seg >= segments {
            (ANCHORS[segments as usize], ANCHORS[segments as usize])
        } else {
            (ANCHORS[seg as usize], ANCHORS[seg as usize + 1])
        };
        let mut c = 0;
        while c < 3 {
            let v = (lo[c] as u32 * (255 - frac) + hi[c] as u32 * frac + 127) / 255;
            table[n][c] = v as u8;
            c += 1;
        }
        n += 1;
    }
    table
}

/// The colour of `t` in [0, 1] (clamped; NaN is 0).
pub fn heat_colour(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    HEAT_TABLE[(t * 255.0).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lightness(c: [u8; 3]) -> f32 {
        0.2126 * f32::from(c[0]) + 0.7152 * f32::from(c[1]) + 0.0722 * f32::from(c[2])
    }

    #[test]
    fn the_heat_scale_runs_from_the_first_to_the_last_anchor() {
        assert_eq!(heat_colour(0.0), ANCHORS[0]);
        assert_eq!(heat_colour(1.0), ANCHORS[8]);
        let middle = heat_colour(0.5);
        assert!(
            (0..3).all(|c| middle[c].abs_diff(ANCHORS[4][c]) <= 2),
            "{middle:?}"
        );
        assert_eq!(heat_colour(f32::NAN), ANCHORS[0]);
    }

    #[test]
    fn the_heat_scale_grows_lighter_with_the_score() {
        for n in 1..256 {
            assert!(
                lightness(HEAT_TABLE[n]) + 0.5 >= lightness(HEAT_TABLE[n - 1]),
                "entry {n}"
            );
        }
    }
}
