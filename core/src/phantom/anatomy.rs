//! The random anatomy of one synthetic patient: body outline and wall layers, diaphragm,
//! spine, heart, abdominal organs, tissue attenuations and the tubular structures (great
//! vessels, airways, pulmonary vessels, ribs, bowel), all drawn from one seeded generator.
//!
//! Coordinates here are local millimetres: `x` towards the patient's left and `y` towards
//! the back from the body centre, `z` upwards from the top of the right diaphragm dome.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::tubes::{self, grow_tree, TreeParams, Tube};
use super::Organ;

/// An ellipsoid rotated about the z axis by `angle` (radians).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ellipsoid {
    pub c: [f64; 3],
    pub semi: [f64; 3],
    pub cos: f64,
    pub sin: f64,
}

impl Ellipsoid {
    pub fn new(c: [f64; 3], semi: [f64; 3], angle: f64) -> Self {
        Self {
            c,
            semi,
            cos: angle.cos(),
            sin: angle.sin(),
        }
    }

    /// The ellipse cut at height `z`, if any.
    pub fn cut(&self, z: f64) -> Option<Ellipse> {
        let t = (z - self.c[2]) / self.semi[2];
        if t.abs() >= 1.0 {
            return None;
        }
        let s = (1.0 - t * t).sqrt();
        Some(Ellipse {
            cx: self.c[0],
            cy: self.c[1],
            a: self.semi[0] * s,
            b: self.semi[1] * s,
            cos: self.cos,
            sin: self.sin,
        })
    }
}

/// A rotated ellipse in one axial plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ellipse {
    pub cx: f64,
    pub cy: f64,
    pub a: f64,
    pub b: f64,
    pub cos: f64,
    pub sin: f64,
}

impl Ellipse {
    /// Squared normalised radius: below 1 inside.
    #[inline]
    pub fn e(&self, x: f64, y: f64) -> f64 {
        let dx = x - self.cx;
        let dy = y - self.cy;
        let u = (dx * self.cos + dy * self.sin) / self.a;
        let v = (-dx * self.sin + dy * self.cos) / self.b;
        u * u + v * v
    }

    /// `e` of the same ellipse shrunk by `d` mm on every side (approximately).
    #[inline]
    pub fn e_inset(&self, x: f64, y: f64, d: f64) -> f64 {
        let dx = x - self.cx;
        let dy = y - self.cy;
        let u = (dx * self.cos + dy * self.sin) / (self.a - d).max(0.1);
        let v = (-dx * self.sin + dy * self.cos) / (self.b - d).max(0.1);
        u * u + v * v
    }
}

/// Attenuation of each tissue in HU for this patient.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tissues {
    pub skin: f32,
    pub fat: f32,
    pub muscle: f32,
    pub lung_anterior: f32,
    pub lung_posterior: f32,
    pub blood: f32,
    pub arterial: f32,
    pub myocardium: f32,
    pub liver: f32,
    pub spleen: f32,
    pub kidney_cortex: f32,
    pub kidney_medulla: f32,
    pub cortical: f32,
    pub cancellous: f32,
    pub disc: f32,
    pub csf: f32,
    pub cord: f32,
    pub fluid: f32,
    pub cartilage: f32,
    pub bowel_wall: f32,
}

impl Tissues {
    fn random(rng: &mut ChaCha8Rng, contrast: bool) -> Self {
        let blood = rng.gen_range(38.0..50.0);
        let (arterial, blood, liver, spleen, cortex, medulla, myo) = if contrast {
            (
                rng.gen_range(180.0..320.0),
                rng.gen_range(140.0..200.0),
                rng.gen_range(95.0..120.0),
                rng.gen_range(105.0..130.0),
                rng.gen_range(150.0..210.0),
                rng.gen_range(90.0..130.0),
                rng.gen_range(90.0..120.0),
            )
        } else {
            (
                blood,
                blood,
                rng.gen_range(52.0..68.0),
                rng.gen_range(42.0..52.0),
                rng.gen_range(30.0..38.0),
                rng.gen_range(28.0..34.0),
                rng.gen_range(44.0..52.0),
            )
        };
        Self {
            skin: rng.gen_range(20.0..50.0),
            fat: rng.gen_range(-115.0..-90.0),
            muscle: rng.gen_range(38.0..55.0),
            lung_anterior: rng.gen_range(-890.0..-850.0),
            lung_posterior: rng.gen_range(-830.0..-760.0),
            blood,
            arterial,
            myocardium: myo,
            liver,
            spleen,
            kidney_cortex: cortex,
            kidney_medulla: medulla,
            cortical: rng.gen_range(750.0..1150.0),
            cancellous: rng.gen_range(170.0..290.0),
            disc: rng.gen_range(70.0..100.0),
            csf: rng.gen_range(5.0..15.0),
            cord: rng.gen_range(30.0..40.0),
            fluid: rng.gen_range(0.0..18.0),
            cartilage: rng.gen_range(90.0..160.0),
            bowel_wall: rng.gen_range(35.0..60.0),
        }
    }
}

/// A tube drawn inside the mediastinum or abdomen with its own label and value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vessel {
    pub tube: Tube,
    pub organ: Organ,
    pub hu: f32,
}

/// A bowel segment: its wall is drawn first, then the lumen content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BowelSegment {
    pub tube: Tube,
    pub content: f32,
}

/// Everything that makes one phantom patient.
#[derive(Debug, Clone)]
pub(crate) struct Anatomy {
    pub contrast: bool,
    pub tissue: Tissues,
    /// Body semi-axes (lateral, antero-posterior) at chest and abdomen levels.
    pub chest: [f64; 2],
    pub abdomen: [f64; 2],
    /// Weight of the squarish component of the outline (0: ellipse).
    pub squareness: f64,
    pub skin: f64,
    pub fat_chest: f64,
    pub fat_abdomen: f64,
    pub muscle: f64,
    pub paraspinal: f64,
    /// Thickness of the rib and intercostal layer inside the muscles.
    pub rib_layer: f64,
    pub lung_top: f64,
    pub left_dome: f64,
    pub dome_x: f64,
    pub mediastinum_x: f64,
    pub spine_y: f64,
    pub spine_pitch: f64,
    pub spine_phase: f64,
    pub heart: Ellipsoid,
    pub liver: [Ellipsoid; 2],
    pub gallbladder: Ellipsoid,
    pub spleen: Ellipsoid,
    pub stomach: Ellipsoid,
    pub kidneys: [Ellipsoid; 2],
    pub carina_z: f64,
    pub table_gap: f64,
    pub vessels: Vec<Vessel>,
    pub airways: Vec<Tube>,
    pub lung_vessels: Vec<Tube>,
    pub ribs: Vec<Tube>,
    pub cartilages: Vec<Tube>,
    pub bowel: Vec<BowelSegment>,
}

/// Skin, fat and muscle thickness (mm) of the body wall in one direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wall {
    pub skin: f64,
    pub fat: f64,
    pub muscle: f64,
}

impl Wall {
    pub fn total(&self) -> f64 {
        self.skin + self.fat + self.muscle
    }
}

impl Anatomy {
    pub fn random(rng: &mut ChaCha8Rng, contrast: bool) -> Self {
        let tissue = Tissues::random(rng, contrast);
        let a = rng.gen_range(150.0..195.0);
        let b = a * rng.gen_range(0.62..0.78);
        let chest = [a, b];
        let abdomen = [a * rng.gen_range(0.92..1.08), b * rng.gen_range(0.95..1.15)];
        let fat_chest = rng.gen_range(3.0..16.0);
        let spine_y = b - rng.gen_range(72.0..88.0);
        let lung_top = rng.gen_range(190.0..240.0);
        let heart_z = rng.gen_range(35.0..55.0);
        let heart_semi = [
            rng.gen_range(50.0..62.0),
            rng.gen_range(38.0..47.0),
            rng.gen_range(48.0..58.0),
        ];
        let heart = Ellipsoid::new(
            [
                rng.gen_range(15.0..30.0),
                -b * rng.gen_range(0.22..0.32),
                heart_z,
            ],
            heart_semi,
            rng.gen_range(0.45..0.75),
        );
        let liver_z = rng.gen_range(-75.0..-55.0);
        let liver = [
            Ellipsoid::new(
                [-a * 0.42, -b * 0.08, liver_z],
                [a * 0.5, b * 0.78, rng.gen_range(85.0..105.0)],
                rng.gen_range(-0.15..0.15),
            ),
            Ellipsoid::new(
                [a * 0.05, -b * 0.42, liver_z + 25.0],
                [a * rng.gen_range(0.35..0.5), b * 0.32, 50.0],
                rng.gen_range(-0.3..-0.1),
            ),
        ];
        let kidney_x = rng.gen_range(58.0..72.0);
        let kidney_z = rng.gen_range(-160.0..-130.0);
        let kidney_semi = [
            rng.gen_range(24.0..30.0),
            rng.gen_range(20.0..25.0),
            rng.gen_range(48.0..60.0),
        ];
        let kidneys = [
            Ellipsoid::new(
                [-kidney_x, spine_y - 2.0, kidney_z - 15.0],
                kidney_semi,
                -0.5,
            ),
            Ellipsoid::new([kidney_x, spine_y - 2.0, kidney_z], kidney_semi, 0.5),
        ];
        let mut anatomy = Self {
            contrast,
            tissue,
            chest,
            abdomen,
            squareness: rng.gen_range(0.15..0.55),
            skin: rng.gen_range(1.5..2.5),
            fat_chest,
            fat_abdomen: fat_chest * rng.gen_range(1.2..2.2),
            muscle: rng.gen_range(5.0..9.0),
            paraspinal: rng.gen_range(30.0..45.0),
            rib_layer: rng.gen_range(8.0..10.0),
            lung_top,
            left_dome: rng.gen_range(-25.0..-8.0),
            dome_x: a * rng.gen_range(0.3..0.4),
            mediastinum_x: rng.gen_range(-4.0..6.0),
            spine_y,
            spine_pitch: rng.gen_range(25.0..30.0),
            spine_phase: rng.gen_range(0.0..30.0),
            heart,
            liver,
            gallbladder: Ellipsoid::new(
                [-a * 0.28, -b * 0.5, liver_z - 35.0],
                [14.0, 17.0, 35.0],
                0.3,
            ),
            spleen: Ellipsoid::new(
                [a * 0.58, b * 0.32, rng.gen_range(-60.0..-35.0)],
                [22.0, rng.gen_range(45.0..58.0), 50.0],
                rng.gen_range(0.5..0.8),
            ),
            stomach: Ellipsoid::new(
                [a * 0.32, -b * 0.3, rng.gen_range(-60.0..-40.0)],
                [rng.gen_range(35.0..50.0), 35.0, 50.0],
                0.4,
            ),
            kidneys,
            carina_z: lung_top - rng.gen_range(75.0..95.0),
            table_gap: rng.gen_range(0.0..12.0),
            vessels: Vec::new(),
            airways: Vec::new(),
            lung_vessels: Vec::new(),
            ribs: Vec::new(),
            cartilages: Vec::new(),
            bowel: Vec::new(),
        };
        anatomy.add_great_vessels(rng);
        anatomy.add_airways(rng);
        anatomy.add_lung_vessels(rng);
        anatomy.add_ribs(rng);
        anatomy.add_bowel(rng);
        anatomy
    }

    /// Body semi-axes at height `z`: chest above the domes, abdomen lower down.
    pub fn body_axes(&self, z: f64) -> [f64; 2] {
        let t = ((z + 20.0) / -90.0).clamp(0.0, 1.0);
        let t = t * t * (3.0 - 2.0 * t);
        [
            self.chest[0] + t * (self.abdomen[0] - self.chest[0]),
            self.chest[1] + t * (self.abdomen[1] - self.chest[1]),
        ]
    }

    /// Normalised radius of the outline (1 on the skin); homogeneous of degree one.
    #[inline]
    pub fn outline(&self, axes: [f64; 2], x: f64, y: f64) -> f64 {
        let u = x / axes[0];
        // The back is flatter than the front where the patient lies on the table.
        let v = y / axes[1] * if y > 0.0 { 0.97 } else { 1.0 };
        let round = (u * u + v * v).sqrt();
        let square = (u * u * u * u + v * v * v * v).sqrt().sqrt();
        round + self.squareness * (square - round) * 1.6
    }

    /// Wall layers along the ray from the body centre through `(dx, dy)` (unit vector).
    #[inline]
    pub fn wall(&self, z: f64, x: f64, dx: f64, dy: f64) -> Wall {
        let t = ((z + 20.0) / -90.0).clamp(0.0, 1.0);
        let fat0 = self.fat_chest + t * (self.fat_abdomen - self.fat_chest);
        let front = (-dy).max(0.0);
        let back = dy.max(0.0);
        let fat = fat0 * (0.55 + 0.6 * dx * dx + 0.5 * front * (1.0 + t));
        let para = self.paraspinal * (-(x / 50.0) * (x / 50.0)).exp() * back * back;
        Wall {
            skin: self.skin,
            fat,
            muscle: self.muscle * (0.8 + 0.3 * dx * dx) + para,
        }
    }

    /// Height of the diaphragm under `(x, y)`: the higher of the two domes.
    #[inline]
    pub fn diaphragm(&self, x: f64, y: f64) -> f64 {
        let dome = |cx: f64, top: f64| {
            let dx = x - cx;
            let dy = y + 0.1 * self.chest[1];
            let ry = if dy > 0.0 { 55.0 } else { 110.0 };
            top - dx * dx / (2.0 * 85.0) - dy * dy / (2.0 * ry)
        };
        dome(-self.dome_x, 0.0)
            .max(dome(self.dome_x, self.left_dome))
            .max(-110.0)
    }

    /// Vertebral body semi-axes at height `z`: larger in the lumbar spine.
    pub fn vertebra_axes(&self, z: f64) -> [f64; 2] {
        let t = ((z + 40.0) / -120.0).clamp(0.0, 1.0);
        [17.0 + 8.0 * t, 14.0 + 4.0 * t]
    }

    fn add_great_vessels(&mut self, rng: &mut ChaCha8Rng) {
        let t = self.tissue;
        let h = self.heart;
        let vb = self.vertebra_axes(0.0);
        let arch_z = self.carina_z + rng.gen_range(20.0..35.0);
        let desc_y = self.spine_y - vb[1] - 12.0;
        let root = [h.c[0] - 25.0, h.c[1] + 5.0, h.c[2] + 25.0];
        let asc_top = [-12.0, h.c[1] + 8.0, arch_z - 10.0];
        let arch_mid = [2.0, (h.c[1] + desc_y) * 0.5, arch_z + 8.0];
        let desc_top = [22.0, desc_y, arch_z - 8.0];
        let desc_dia = [18.0, desc_y - 4.0, 0.0];
        let abd = [8.0, self.spine_y - 22.0 - 12.0, -420.0];
        let r_ao = rng.gen_range(13.0..16.0);
        let aorta = [
            Tube::new(root, asc_top, r_ao),
            Tube::new(asc_top, arch_mid, r_ao * 0.95),
            Tube::new(arch_mid, desc_top, r_ao * 0.9),
            Tube::new(desc_top, desc_dia, r_ao * 0.8),
            Tube::new(desc_dia, abd, r_ao * 0.68),
        ];
        for tube in aorta {
            self.vessels.push(Vessel {
                tube,
                organ: Organ::Aorta,
                hu: t.arterial,
            });
        }
        let pa_start = [h.c[0] + 5.0, h.c[1] - 10.0, h.c[2] + 30.0];
        let pa_fork = [8.0, h.c[1] + 25.0, self.carina_z - 15.0];
        let hilum_y = self.spine_y - vb[1] - 30.0;
        let hila = [
            [-60.0, hilum_y, self.carina_z - 25.0],
            [60.0, hilum_y, self.carina_z - 15.0],
        ];
        let mut great = vec![
            (Tube::new(pa_start, pa_fork, 13.0), t.arterial),
            (Tube::new(pa_fork, hila[0], 10.0), t.arterial),
            (Tube::new(pa_fork, hila[1], 10.0), t.arterial),
            (
                Tube::new(
                    [-30.0, h.c[1] + 12.0, h.c[2] + 20.0],
                    [-28.0, h.c[1] + 15.0, self.lung_top + 40.0],
                    10.0,
                ),
                t.blood,
            ),
            (
                Tube::new(
                    [-22.0, self.spine_y - 28.0, -420.0],
                    [-25.0, self.spine_y - 35.0, h.c[2] - 40.0],
                    11.0,
                ),
                t.blood,
            ),
        ];
        // Pulmonary veins from the hila to the left atrium.
        for hilum in hila {
            let atrium = [h.c[0] - 5.0, h.c[1] + 25.0, h.c[2] + 10.0];
            let v = [hilum[0] * 0.9, hilum[1] + 10.0, hilum[2] - 35.0];
            great.push((Tube::new(v, atrium, 7.0), t.blood));
        }
        for (tube, hu) in great {
            self.vessels.push(Vessel {
                tube,
                organ: Organ::Vessel,
                hu,
            });
        }
        // Oesophagus, collapsed: soft tissue behind the trachea and beside the aorta.
        self.vessels.push(Vessel {
            tube: Tube::new(
                [5.0, self.spine_y - vb[1] - 8.0, self.lung_top + 40.0],
                [20.0, desc_y - 12.0, -30.0],
                7.0,
            ),
            organ: Organ::SoftTissue,
            hu: t.muscle,
        });
    }

    fn add_airways(&mut self, rng: &mut ChaCha8Rng) {
        let vb = self.vertebra_axes(self.carina_z);
        let ty = self.spine_y - vb[1] - 24.0;
        let carina = [self.mediastinum_x * 0.5, ty + 2.0, self.carina_z];
        let trachea_r = rng.gen_range(8.0..10.5);
        self.airways.push(Tube::new(
            [0.0, ty - 8.0, self.lung_top + 60.0],
            carina,
            trachea_r,
        ));
        let hila = [
            [-48.0, ty + 8.0, self.carina_z - 22.0],
            [50.0, ty + 10.0, self.carina_z - 40.0],
        ];
        self.airways
            .push(Tube::new(carina, hila[0], trachea_r * 0.72));
        self.airways
            .push(Tube::new(carina, hila[1], trachea_r * 0.65));
        let params = TreeParams {
            min_radius: 1.4,
            max_depth: 3,
            length_ratio: (4.0, 7.0),
            angle: (0.35, 0.7),
            child_ratio: (0.82, 0.68),
        };
        let mut out = Vec::new();
        for (side, hilum) in [-1.0, 1.0].into_iter().zip(hila) {
            for dir in lobar_directions(side) {
                let inside = |p: [f64; 3]| self.is_lung(p);
                grow_tree(&mut out, rng, &params, hilum, dir, 4.0, 0, &inside);
            }
        }
        self.airways.extend(out);
    }

    fn add_lung_vessels(&mut self, rng: &mut ChaCha8Rng) {
        let vb = self.vertebra_axes(self.carina_z);
        let hy = self.spine_y - vb[1] - 25.0;
        let params = TreeParams {
            min_radius: 0.4,
            max_depth: 14,
            length_ratio: (6.0, 11.0),
            angle: (0.3, 0.7),
            child_ratio: (0.86, 0.72),
        };
        let mut out = Vec::new();
        for side in [-1.0, 1.0] {
            for (k, dz) in [-20.0, -45.0].into_iter().enumerate() {
                let hilum = [side * 58.0, hy + 8.0 * k as f64, self.carina_z + dz];
                for dir in lobar_directions(side) {
                    let dir = tubes::normalize(tubes::add(
                        dir,
                        tubes::scale(tubes::random_unit(rng), 0.3),
                    ));
                    let inside = |p: [f64; 3]| self.is_lung(p);
                    grow_tree(&mut out, rng, &params, hilum, dir, 4.5, 0, &inside);
                }
            }
        }
        self.lung_vessels = out;
    }

    fn add_ribs(&mut self, rng: &mut ChaCha8Rng) {
        let pitch = self.spine_pitch * 0.9;
        let top = self.lung_top - 8.0;
        for n in 0..12 {
            let head_z = top - n as f64 * pitch;
            let end = match n {
                0..=6 => std::f64::consts::PI * 0.9,
                7..=9 => std::f64::consts::PI * 0.78,
                10 => std::f64::consts::PI * 0.6,
                _ => std::f64::consts::PI * 0.45,
            };
            let drop = if n == 0 {
                45.0
            } else {
                rng.gen_range(90.0..120.0)
            };
            let r = if n == 0 { 4.5 } else { rng.gen_range(4.0..5.5) };
            for side in [-1.0, 1.0] {
                let vb = self.vertebra_axes(head_z);
                let head = [side * vb[0] * 0.9, self.spine_y, head_z];
                let mut prev = [side * (vb[0] + 14.0), self.spine_y + 12.0, head_z];
                self.ribs.push(Tube::new(head, prev, r));
                let psi0: f64 = 0.5;
                let steps = 24;
                for s in 1..=steps {
                    let psi = psi0 + (end - psi0) * s as f64 / steps as f64;
                    let frac = (psi - psi0) / (std::f64::consts::PI - psi0);
                    let z = head_z - drop * frac;
                    let (dx, dy) = (side * psi.sin(), psi.cos());
                    let axes = self.body_axes(z);
                    let reach = 1.0 / self.outline(axes, dx, dy);
                    let w = self.wall(z, reach * dx, dx, dy);
                    let t = reach - w.total() - r - 1.0;
                    let p = [dx * t, dy * t, z];
                    let tube = Tube::new(prev, p, r);
                    if psi > std::f64::consts::PI * 0.72 && n < 10 {
                        self.cartilages.push(Tube::new(prev, p, r * 0.9));
                    } else {
                        self.ribs.push(tube);
                    }
                    prev = p;
                }
            }
        }
    }

    fn add_bowel(&mut self, rng: &mut ChaCha8Rng) {
        let [a, b] = self.abdomen;
        let chains = rng.gen_range(100..140);
        // Loops wander mostly in the axial plane, so each slice cuts several of them.
        let flat = |v: [f64; 3]| tubes::normalize([v[0], v[1], 0.6 * v[2]]);
        for _ in 0..chains {
            let mut p = [
                rng.gen_range(-0.65..0.65) * a,
                rng.gen_range(-0.75..0.2) * b,
                rng.gen_range(-420.0..-100.0),
            ];
            let r = rng.gen_range(7.0..15.0);
            let content = match rng.gen_range(0..10) {
                0..=4 => self.tissue.fluid + rng.gen_range(0.0..20.0),
                5..=6 => -980.0,
                _ => rng.gen_range(-300.0..-100.0),
            };
            let mut dir = flat(tubes::random_unit(rng));
            for _ in 0..rng.gen_range(5..10) {
                dir = flat(tubes::add(dir, tubes::scale(tubes::random_unit(rng), 0.8)));
                let q = tubes::add(p, tubes::scale(dir, r * rng.gen_range(1.5..3.0)));
                self.bowel.push(BowelSegment {
                    tube: Tube::new(p, q, r),
                    content,
                });
                p = q;
            }
        }
    }

    /// Whether the local point lies in lung parenchyma (before vessels are drawn).
    pub fn is_lung(&self, p: [f64; 3]) -> bool {
        let ctx = super::slice::SliceContext::new(self, p[2]);
        ctx.classify(self, p[0], p[1]).1 == Organ::Lung as u8
    }
}

/// Main branch directions of one lung (side -1 right, +1 left): up, down, lateral,
/// forwards, backwards.
fn lobar_directions(side: f64) -> [[f64; 3]; 5] {
    [
        tubes::normalize([side * 0.5, 0.0, 1.0]),
        tubes::normalize([side * 0.4, 0.3, -1.0]),
        tubes::normalize([side * 1.0, 0.0, -0.2]),
        tubes::normalize([side * 0.5, -1.0, -0.3]),
        tubes::normalize([side * 0.4, 1.0, -0.5]),
    ]
}
