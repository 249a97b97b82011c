//! Rendering of one axial slice of a phantom: the per-pixel tissue classification of the
//! analytic anatomy, then the tubular structures painted over it in a fixed order.

use std::f64::consts::PI;

use super::anatomy::{Anatomy, Ellipse};
use super::tubes::{paint, Brush, Tube};
use super::Organ;

pub(crate) const REGION_OUTSIDE: u8 = 0;
pub(crate) const REGION_WALL: u8 = 1;
pub(crate) const REGION_THORAX: u8 = 2;
pub(crate) const REGION_ABDOMEN: u8 = 3;

const OUTSIDE: u8 = Organ::Outside as u8;
const SOFT: u8 = Organ::SoftTissue as u8;
const LUNG: u8 = Organ::Lung as u8;
const AIRWAY: u8 = Organ::Airway as u8;
const HEART: u8 = Organ::Heart as u8;
const LIVER: u8 = Organ::Liver as u8;
const BONE: u8 = Organ::Bone as u8;
const BOWEL: u8 = Organ::Bowel as u8;

/// One axial slice being drawn: values, labels and the body region of every pixel, with
/// the local millimetre position of pixel (0, 0).
pub(crate) struct SliceImage {
    pub nx: usize,
    pub ny: usize,
    pub x0: f64,
    pub y0: f64,
    pub sx: f64,
    pub sy: f64,
    pub z: f64,
    pub hu: Vec<f32>,
    pub label: Vec<u8>,
    pub region: Vec<u8>,
}

impl SliceImage {
    pub fn new(nx: usize, ny: usize, origin: [f64; 3], spacing: [f64; 2]) -> Self {
        Self {
            nx,
            ny,
            x0: origin[0],
            y0: origin[1],
            sx: spacing[0],
            sy: spacing[1],
            z: origin[2],
            hu: vec![0.0; nx * ny],
            label: vec![0; nx * ny],
            region: vec![0; nx * ny],
        }
    }

    #[inline]
    pub fn x(&self, i: usize) -> f64 {
        self.x0 + i as f64 * self.sx
    }

    #[inline]
    pub fn y(&self, j: usize) -> f64 {
        self.y0 + j as f64 * self.sy
    }

    /// Pixel index ranges (inclusive) covering a local mm box, clipped to the image.
    pub fn pixel_box(
        &self,
        x0: f64,
        x1: f64,
        y0: f64,
        y1: f64,
    ) -> Option<(usize, usize, usize, usize)> {
        let i0 = ((x0 - self.x0) / self.sx).floor().max(0.0);
        let i1 = ((x1 - self.x0) / self.sx).ceil().min(self.nx as f64 - 1.0);
        let j0 = ((y0 - self.y0) / self.sy).floor().max(0.0);
        let j1 = ((y1 - self.y0) / self.sy).ceil().min(self.ny as f64 - 1.0);
        if i0 > i1 || j0 > j1 {
            return None;
        }
        Some((i0 as usize, i1 as usize, j0 as usize, j1 as usize))
    }

    /// Draws the whole slice of `anatomy`.
    pub fn render(&mut self, anatomy: &Anatomy) {
        let ctx = SliceContext::new(anatomy, self.z);
        for j in 0..self.ny {
            let y = self.y(j);
            for i in 0..self.nx {
                let (hu, label, region) = ctx.classify(anatomy, self.x(i), y);
                let idx = j * self.nx + i;
                self.hu[idx] = hu;
                self.label[idx] = label;
                self.region[idx] = region;
            }
        }
        self.paint_tubes(anatomy);
    }

    fn paint_tubes(&mut self, a: &Anatomy) {
        let t = &a.tissue;
        let z = self.z;
        let near = |tube: &Tube, grow: f64| {
            let (z0, z1) = tube.z_range(grow);
            z >= z0 && z <= z1
        };
        // Fat sleeves keep the lungs off the mediastinal vessels and the trachea.
        for v in a.vessels.iter().filter(|v| near(&v.tube, 4.0)) {
            let brush = Brush {
                grow: 3.5,
                hu: t.fat,
                label: Some(SOFT),
                only: &[LUNG],
                regions: &[],
            };
            paint(self, &v.tube, &brush);
        }
        for tube in a.airways.iter().take(1).filter(|tb| near(tb, 4.0)) {
            let brush = Brush {
                grow: 4.0,
                hu: t.fat,
                label: Some(SOFT),
                only: &[LUNG],
                regions: &[],
            };
            paint(self, tube, &brush);
        }
        for v in a.vessels.iter().filter(|v| near(&v.tube, 0.0)) {
            let brush = Brush {
                grow: 0.0,
                hu: v.hu,
                label: Some(v.organ as u8),
                only: &[
                    SOFT,
                    LUNG,
                    HEART,
                    LIVER,
                    Organ::Aorta as u8,
                    Organ::Vessel as u8,
                ],
                regions: &[],
            };
            paint(self, &v.tube, &brush);
        }
        let lung_blood = if a.contrast {
            0.5 * (t.arterial + t.blood)
        } else {
            t.blood
        };
        for tube in a.lung_vessels.iter().filter(|tb| near(tb, 0.0)) {
            let brush = Brush {
                grow: 0.0,
                hu: lung_blood,
                label: None,
                only: &[LUNG],
                regions: &[],
            };
            paint(self, tube, &brush);
        }
        let airways: Vec<&Tube> = a.airways.iter().filter(|tb| near(tb, 3.0)).collect();
        for tube in &airways {
            let brush = Brush {
                grow: 0.15 * tube.r + 0.4,
                hu: t.muscle,
                label: None,
                only: &[LUNG, SOFT],
                regions: &[],
            };
            paint(self, tube, &brush);
        }
        for tube in &airways {
            let brush = Brush {
                grow: 0.0,
                hu: -995.0,
                label: Some(AIRWAY),
                only: &[LUNG, SOFT, AIRWAY],
                regions: &[],
            };
            paint(self, tube, &brush);
        }
        let ribs: Vec<&Tube> = a.ribs.iter().filter(|tb| near(tb, 0.0)).collect();
        for tube in &ribs {
            let brush = Brush {
                grow: 0.0,
                hu: t.cortical,
                label: Some(BONE),
                only: &[SOFT, LUNG],
                regions: &[REGION_WALL, REGION_THORAX, REGION_ABDOMEN],
            };
            paint(self, tube, &brush);
        }
        for tube in &ribs {
            let brush = Brush {
                grow: -1.6,
                hu: t.cancellous,
                label: None,
                only: &[BONE],
                regions: &[],
            };
            paint(self, tube, &brush);
        }
        for tube in a.cartilages.iter().filter(|tb| near(tb, 0.0)) {
            let brush = Brush {
                grow: 0.0,
                hu: t.cartilage,
                label: Some(SOFT),
                only: &[SOFT, LUNG],
                regions: &[REGION_WALL, REGION_THORAX, REGION_ABDOMEN],
            };
            paint(self, tube, &brush);
        }
        let bowel: Vec<_> = a.bowel.iter().filter(|s| near(&s.tube, 3.0)).collect();
        for seg in &bowel {
            let brush = Brush {
                grow: 2.5,
                hu: t.bowel_wall,
                label: Some(BOWEL),
                only: &[SOFT],
                regions: &[REGION_ABDOMEN],
            };
            paint(self, &seg.tube, &brush);
        }
        for seg in &bowel {
            let brush = Brush {
                grow: 0.0,
                hu: seg.content,
                label: None,
                only: &[BOWEL],
                regions: &[REGION_ABDOMEN],
            };
            paint(self, &seg.tube, &brush);
        }
    }
}

/// What one slice height needs from the anatomy, computed once per slice.
pub(crate) struct SliceContext {
    z: f64,
    axes: [f64; 2],
    heart: Option<Ellipse>,
    heart_top: f64,
    liver: [Option<Ellipse>; 2],
    gallbladder: Option<Ellipse>,
    spleen: Option<Ellipse>,
    stomach: Option<Ellipse>,
    kidneys: [Option<Ellipse>; 2],
    vertebra: [f64; 2],
    canal: [f64; 2],
    disc: bool,
    arch: bool,
    spinous: bool,
    spinous_reach: f64,
    transverse: bool,
    transverse_len: f64,
    psoas: f64,
    sternum: Option<(f64, f64)>,
    apex_taper: f64,
}

impl SliceContext {
    pub fn new(a: &Anatomy, z: f64) -> Self {
        let pitch = a.spine_pitch;
        let phase = (z - a.spine_phase).rem_euclid(pitch);
        let lumbar = z < -60.0;
        let axes = a.body_axes(z);
        let sternum = if z > a.heart.c[2] - 50.0 && z < a.lung_top - 30.0 {
            let reach = 1.0 / a.outline(axes, 0.0, -1.0);
            let w = a.wall(z, 0.0, 0.0, -1.0);
            let half_width = if z > a.lung_top - 85.0 { 24.0 } else { 14.0 };
            Some((-(reach - w.total() - 7.0), half_width))
        } else {
            None
        };
        let start = a.lung_top - 70.0;
        let apex_taper = if z > start {
            let s = (z - start) / 70.0;
            s * s * 150.0
        } else {
            0.0
        };
        Self {
            z,
            axes,
            heart: a.heart.cut(z),
            heart_top: a.heart.c[2] + a.heart.semi[2],
            liver: [a.liver[0].cut(z), a.liver[1].cut(z)],
            gallbladder: a.gallbladder.cut(z),
            spleen: a.spleen.cut(z),
            stomach: a.stomach.cut(z),
            kidneys: [a.kidneys[0].cut(z), a.kidneys[1].cut(z)],
            vertebra: a.vertebra_axes(z),
            canal: if lumbar { [11.0, 9.0] } else { [8.5, 8.0] },
            disc: phase < 6.0,
            arch: true,
            spinous: phase > 0.3 * pitch && phase < 0.95 * pitch,
            spinous_reach: (phase / pitch - 0.3).clamp(0.0, 1.0),
            transverse: phase > 0.3 * pitch && phase < 0.7 * pitch,
            transverse_len: if lumbar { 28.0 } else { 14.0 },
            psoas: if z < -120.0 {
                (6.0 + (-120.0 - z) * 0.12).min(24.0)
            } else {
                0.0
            },
            sternum,
            apex_taper,
        }
    }

    /// Tissue value, organ label and region of the local point `(x, y)` on this slice.
    #[inline]
    pub fn classify(&self, a: &Anatomy, x: f64, y: f64) -> (f32, u8, u8) {
        let t = &a.tissue;
        let rn = a.outline(self.axes, x, y);
        if rn >= 1.0 {
            return outside(a, self.axes, x, y);
        }
        if let Some(v) = self.spine(a, x, y) {
            return v;
        }
        if let Some(v) = self.sternum(a, x, y) {
            return v;
        }
        let rho = (x * x + y * y).sqrt().max(1e-6);
        let depth = rho * (1.0 / rn.max(1e-9) - 1.0);
        let w = a.wall(self.z, x, x / rho, y / rho);
        if depth < w.skin {
            return (t.skin, SOFT, REGION_WALL);
        }
        if depth < w.skin + w.fat {
            return (t.fat, SOFT, REGION_WALL);
        }
        if depth < w.total() {
            return (t.muscle, SOFT, REGION_WALL);
        }
        let inner = depth - w.total();
        if self.z > a.diaphragm(x, y) {
            self.thorax(a, x, y, inner)
        } else {
            self.abdomen(a, x, y, inner)
        }
    }

    fn thorax(&self, a: &Anatomy, x: f64, y: f64, inner: f64) -> (f32, u8, u8) {
        let t = &a.tissue;
        if inner < a.rib_layer {
            return (t.muscle, SOFT, REGION_WALL);
        }
        let fat = (t.fat, SOFT, REGION_THORAX);
        if let Some(h) = &self.heart {
            if h.e(x, y) < 1.0 {
                return (self.heart_value(a, h, x, y), HEART, REGION_THORAX);
            }
            if h.e_inset(x, y, -5.0) < 1.0 {
                return fat;
            }
        }
        // Mediastinal band from the sternum to the spine.
        let b = self.axes[1];
        let s = ((y + b) / (a.spine_y + b)).clamp(0.0, 1.0);
        let mut half = 9.0 + 18.0 * (PI * s).sin().powf(0.6);
        if self.z > self.heart_top - 20.0 {
            half += 6.0;
        }
        if (x - a.mediastinum_x).abs() < half && y < a.spine_y + 5.0 {
            return fat;
        }
        let v = self.vertebra;
        let (ex, ey) = (x / (v[0] + 7.0), (y - a.spine_y) / (v[1] + 6.0));
        if ex * ex + ey * ey < 1.0 {
            return fat;
        }
        let (px, py) = (x / (v[0] + 20.0), (y - a.spine_y - v[1] - 14.0) / 26.0);
        if px * px + py * py < 1.0 {
            return (t.muscle, SOFT, REGION_THORAX);
        }
        if self.z > a.lung_top || inner < a.rib_layer + self.apex_taper {
            return (t.muscle, SOFT, REGION_THORAX);
        }
        let f = ((y + b) / (2.0 * b)).clamp(0.0, 1.0) as f32;
        let hu = t.lung_anterior + f * (t.lung_posterior - t.lung_anterior);
        (hu, LUNG, REGION_THORAX)
    }

    fn heart_value(&self, a: &Anatomy, h: &Ellipse, x: f64, y: f64) -> f32 {
        let t = &a.tissue;
        if h.e_inset(x, y, 9.0) >= 1.0 {
            return t.myocardium;
        }
        // Septum between the ventricles, across the long axis.
        let (dx, dy) = (x - h.cx, y - h.cy);
        let along = dx * h.cos + dy * h.sin;
        if (along - 0.15 * h.a).abs() < 5.0 {
            return t.myocardium;
        }
        if along > 0.15 * h.a {
            t.arterial
        } else {
            t.blood
        }
    }

    fn abdomen(&self, a: &Anatomy, x: f64, y: f64, inner: f64) -> (f32, u8, u8) {
        let t = &a.tissue;
        if inner < 3.0 {
            return (t.muscle, SOFT, REGION_WALL);
        }
        let r = REGION_ABDOMEN;
        for k in self.kidneys.iter().flatten() {
            let e = k.e(x, y);
            if e < 1.0 {
                let medial = (x - k.cx) * k.cx.signum() < 0.0;
                if e < 0.3 && medial {
                    return (t.fat, SOFT, r);
                }
                let hu = if k.e_inset(x, y, 6.0) >= 1.0 {
                    t.kidney_cortex
                } else {
                    t.kidney_medulla
                };
                return (hu, Organ::Kidney as u8, r);
            }
        }
        if let Some(g) = &self.gallbladder {
            if g.e(x, y) < 1.0 {
                return (t.fluid, Organ::Gallbladder as u8, r);
            }
        }
        if self.liver.iter().flatten().any(|l| l.e(x, y) < 1.0) {
            return (t.liver, LIVER, r);
        }
        if let Some(s) = &self.spleen {
            if s.e(x, y) < 1.0 {
                return (t.spleen, Organ::Spleen as u8, r);
            }
        }
        if let Some(s) = &self.stomach {
            if s.e(x, y) < 1.0 {
                let hu = if s.e_inset(x, y, 4.0) >= 1.0 {
                    t.bowel_wall
                } else if y < s.cy - 0.3 * s.b {
                    -990.0
                } else {
                    t.fluid + 10.0
                };
                return (hu, Organ::Stomach as u8, r);
            }
        }
        if self.psoas > 0.0 {
            let cx = self.vertebra[0] + self.psoas * 0.8;
            let dy = y - (a.spine_y - 2.0);
            let dx = x.abs() - cx;
            if dx * dx + dy * dy < self.psoas * self.psoas {
                return (t.muscle, SOFT, r);
            }
        }
        (t.fat, SOFT, r)
    }

    fn spine(&self, a: &Anatomy, x: f64, y: f64) -> Option<(f32, u8, u8)> {
        let t = &a.tissue;
        let [rx, ry] = self.vertebra;
        let [crx, cry] = self.canal;
        if x.abs() > crx + 40.0 || y < a.spine_y - ry - 1.0 || y > a.spine_y + ry + 2.0 * cry + 45.0
        {
            return None;
        }
        let yb = y - a.spine_y;
        let e = (x / rx) * (x / rx) + (yb / ry) * (yb / ry);
        let region = REGION_WALL;
        if e < 1.0 {
            if self.disc {
                return Some((t.disc, SOFT, region));
            }
            let (ix, iy) = (x / (rx - 1.6), yb / (ry - 1.6));
            let hu = if ix * ix + iy * iy >= 1.0 {
                t.cortical
            } else {
                t.cancellous
            };
            return Some((hu, BONE, region));
        }
        let cy = a.spine_y + ry + cry + 1.0;
        let (cx_, cy_) = (x / crx, (y - cy) / cry);
        let ce = cx_ * cx_ + cy_ * cy_;
        if ce < 1.0 {
            let hu = if ce < 0.3 { t.cord } else { t.csf };
            return Some((hu, Organ::SpinalCanal as u8, region));
        }
        if !self.arch {
            return None;
        }
        let arch_hu = 0.5 * (t.cortical + t.cancellous);
        let (ax, ay) = (x / (crx + 5.0), (y - cy) / (cry + 5.0));
        if ax * ax + ay * ay < 1.0 {
            return Some((arch_hu, BONE, region));
        }
        // The spinous process tapers backwards and slopes down, so slices cut it short.
        let tip = cry + 6.0 + 22.0 * self.spinous_reach;
        if self.spinous && y > cy && y < cy + tip && x.abs() < 3.5 - 2.0 * (y - cy) / tip {
            return Some((arch_hu, BONE, region));
        }
        if self.transverse
            && (y - cy + 2.0).abs() < 5.0
            && x.abs() > crx
            && x.abs() < crx + 4.0 + self.transverse_len
        {
            return Some((arch_hu, BONE, region));
        }
        None
    }

    fn sternum(&self, a: &Anatomy, x: f64, y: f64) -> Option<(f32, u8, u8)> {
        let (sy, half) = self.sternum?;
        let (u, v) = (x / half, (y - sy) / 6.0);
        if u * u + v * v >= 1.0 {
            return None;
        }
        let (iu, iv) = (x / (half - 1.5), (y - sy) / 4.5);
        let hu = if iu * iu + iv * iv >= 1.0 {
            a.tissue.cortical
        } else {
            a.tissue.cancellous
        };
        Some((hu, BONE, REGION_WALL))
    }
}

/// Air, or the patient table under the back: a flat top plate over foam and a curved
/// carbon shell below.
fn outside(a: &Anatomy, axes: [f64; 2], x: f64, y: f64) -> (f32, u8, u8) {
    let top = axes[1] / 0.97 + a.table_gap;
    let d = y - top;
    let bottom = 48.0 - 9.0e-4 * x * x;
    if x.abs() < 225.0 && d >= 0.0 && d < bottom {
        let hu = if d < 2.5 || d > bottom - 2.5 {
            300.0
        } else {
            -970.0
        };
        return (hu, Organ::Table as u8, REGION_OUTSIDE);
    }
    (-1000.0, OUTSIDE, REGION_OUTSIDE)
}
