//! Tubular structures of a phantom (vessels, airways, ribs, bowel): straight capsule
//! segments in patient millimetres, random branching trees built from them, and the
//! painting of one segment into one axial slice.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::slice::SliceImage;

/// A capsule: every point within `r` mm of the segment from `a` to `b` (local mm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tube {
    pub a: [f64; 3],
    pub b: [f64; 3],
    pub r: f64,
}

impl Tube {
    pub fn new(a: [f64; 3], b: [f64; 3], r: f64) -> Self {
        Self { a, b, r }
    }

    pub fn z_range(&self, grow: f64) -> (f64, f64) {
        let r = self.r + grow;
        (self.a[2].min(self.b[2]) - r, self.a[2].max(self.b[2]) + r)
    }

    /// In-plane box `[x0, x1, y0, y1]` of the part of the capsule (grown by `grow`) that
    /// meets the plane at height `z`, or `None` when it does not.
    pub fn slice_box(&self, z: f64, grow: f64) -> Option<[f64; 4]> {
        let r = self.r + grow;
        let (z0, z1) = self.z_range(grow);
        if z < z0 || z > z1 {
            return None;
        }
        let dz = self.b[2] - self.a[2];
        // Parameter interval of segment points within r of the plane.
        let (t0, t1) = if dz.abs() < 1e-9 {
            (0.0, 1.0)
        } else {
            let ta = (z - r - self.a[2]) / dz;
            let tb = (z + r - self.a[2]) / dz;
            (ta.min(tb).max(0.0), ta.max(tb).min(1.0))
        };
        let pa = self.point(t0);
        let pb = self.point(t1);
        Some([
            pa[0].min(pb[0]) - r,
            pa[0].max(pb[0]) + r,
            pa[1].min(pb[1]) - r,
            pa[1].max(pb[1]) + r,
        ])
    }

    pub fn point(&self, t: f64) -> [f64; 3] {
        [
            self.a[0] + t * (self.b[0] - self.a[0]),
            self.a[1] + t * (self.b[1] - self.a[1]),
            self.a[2] + t * (self.b[2] - self.a[2]),
        ]
    }

    /// Distance from `p` to the segment's axis.
    pub fn distance(&self, p: [f64; 3]) -> f64 {
        let d = sub(self.b, self.a);
        let w = sub(p, self.a);
        let len2 = dot(d, d);
        let t = if len2 > 0.0 {
            (dot(w, d) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = self.point(t);
        norm(sub(p, q))
    }
}

/// How a tube's value is combined with what the slice already holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Brush {
    /// Grow the tube's radius by this much (mm); walls are drawn as a grown tube first.
    pub grow: f64,
    pub hu: f32,
    /// Label written where the tube covers more than half a pixel (`None`: keep).
    pub label: Option<u8>,
    /// Only pixels whose label is in this set are touched.
    pub only: &'static [u8],
    /// Only pixels whose region code is in this set are touched (empty: any).
    pub regions: &'static [u8],
}

/// Paints `tube` into `img` with partial-volume coverage at its edge.
pub(crate) fn paint(img: &mut SliceImage, tube: &Tube, brush: &Brush) {
    let Some([x0, x1, y0, y1]) = tube.slice_box(img.z, brush.grow) else {
        return;
    };
    let Some((i0, i1, j0, j1)) = img.pixel_box(x0, x1, y0, y1) else {
        return;
    };
    let r = tube.r + brush.grow;
    let h = img.sx.min(img.sy);
    for j in j0..=j1 {
        let y = img.y(j);
        for i in i0..=i1 {
            let idx = j * img.nx + i;
            let lab = img.label[idx];
            if !brush.only.contains(&lab) {
                continue;
            }
            if !brush.regions.is_empty() && !brush.regions.contains(&img.region[idx]) {
                continue;
            }
            let d = tube.distance([img.x(i), y, img.z]);
            let cover = ((r - d) / h + 0.5).clamp(0.0, 1.0) as f32;
            if cover <= 0.0 {
                continue;
            }
            let v = &mut img.hu[idx];
            *v += cover * (brush.hu - *v);
            if cover >= 0.5 {
                if let Some(l) = brush.label {
                    img.label[idx] = l;
                }
            }
        }
    }
}

/// Parameters of a random branching tree (pulmonary vessels, bronchi).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeParams {
    pub min_radius: f64,
    pub max_depth: u32,
    /// Segment length as a multiple of its radius.
    pub length_ratio: (f64, f64),
    /// Branching half-angle range in radians.
    pub angle: (f64, f64),
    /// Radius ratio of the larger and the smaller child.
    pub child_ratio: (f64, f64),
}

/// Grows a binary tree from `start` along `dir`; `inside` keeps branches in their organ
/// and `pull` bends each child towards a point so that trees fan out into the organ.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grow_tree(
    out: &mut Vec<Tube>,
    rng: &mut ChaCha8Rng,
    p: &TreeParams,
    start: [f64; 3],
    dir: [f64; 3],
    radius: f64,
    depth: u32,
    inside: &dyn Fn([f64; 3]) -> bool,
) {
    if radius < p.min_radius || depth > p.max_depth {
        return;
    }
    let len = radius * rng.gen_range(p.length_ratio.0..p.length_ratio.1);
    let mut dir = dir;
    let mut end = add(start, scale(dir, len));
    if depth > 0 {
        // Bend away from the organ's edge a few times before giving up on the branch.
        let mut attempt = 0;
        while !inside(end) {
            attempt += 1;
            if attempt > 6 {
                let half = add(start, scale(dir, len * 0.4));
                if inside(half) {
                    out.push(Tube::new(start, half, radius));
                }
                return;
            }
            let turn = normalize(cross(dir, random_unit(rng)));
            dir = rotate(dir, turn, 0.35 * attempt as f64);
            end = add(start, scale(dir, len));
        }
    }
    out.push(Tube::new(start, end, radius));
    let axis = normalize(cross(dir, random_unit(rng)));
    let a1 = rng.gen_range(p.angle.0..p.angle.1);
    let a2 = rng.gen_range(p.angle.0..p.angle.1) * 1.2;
    let d1 = rotate(dir, axis, a1 * 0.7);
    let d2 = rotate(dir, axis, -a2);
    grow_tree(
        out,
        rng,
        p,
        end,
        d1,
        radius * p.child_ratio.0,
        depth + 1,
        inside,
    );
    grow_tree(
        out,
        rng,
        p,
        end,
        d2,
        radius * p.child_ratio.1,
        depth + 1,
        inside,
    );
}

pub(crate) fn random_unit(rng: &mut ChaCha8Rng) -> [f64; 3] {
    loop {
        let v = [
            rng.gen_range(-1.0..1.0),
            rng.gen_range(-1.0..1.0),
            rng.gen_range(-1.0..1.0),
        ];
        let n = norm(v);
        if n > 0.1 && n <= 1.0 {
            return scale(v, 1.0 / n);
        }
    }
}

/// Rodrigues rotation of `v` about unit `axis` by `angle` radians.
pub(crate) fn rotate(v: [f64; 3], axis: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    let k = axis;
    let kxv = cross(k, v);
    let kdv = dot(k, v);
    [
        v[0] * c + kxv[0] * s + k[0] * kdv * (1.0 - c),
        v[1] * c + kxv[1] * s + k[1] * kdv * (1.0 - c),
        v[2] * c + kxv[2] * s + k[2] * kdv * (1.0 - c),
    ]
}

pub(crate) fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a);
    if n == 0.0 {
        [0.0, 0.0, 1.0]
    } else {
        scale(a, 1.0 / n)
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_box_covers_an_oblique_capsule_cut() {
        let t = Tube::new([0.0, 0.0, 0.0], [10.0, 0.0, 10.0], 1.0);
        let b = t.slice_box(5.0, 0.0).unwrap();
        assert!(b[0] <= 4.0 - 1.0 + 1e-9 && b[1] >= 6.0 + 1.0 - 1e-9);
        assert!(t.slice_box(12.0, 0.0).is_none());
    }

    #[test]
    fn distance_is_measured_to_the_nearest_axis_point() {
        let t = Tube::new([0.0, 0.0, 0.0], [0.0, 0.0, 10.0], 1.0);
        assert!((t.distance([3.0, 4.0, 5.0]) - 5.0).abs() < 1e-12);
        assert!((t.distance([0.0, 0.0, 13.0]) - 3.0).abs() < 1e-12);
    }
}
