//! Draws `docs/images/phantoms.png`: axial slices of several phantoms (one with inserted
//! lesions) beside a slice of a real chest CT, so a reader can judge how CT-like they are.
//!
//! Usage: `cargo run --release -p screener-core --example phantom_gallery [OUT.png]`
//! or `... -- --slice SEED HEIGHT_MM LUNG|SOFT OUT.png` for a single phantom slice,
//! `--real FILE.dcm LUNG|SOFT OUT.png` for a real slice, `--time` to time a 512x512x300 phantom.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use dicom_pixeldata::PixelDecoder;
use screener_core::phantom::{insert_lesion, LesionKind, LesionSpec, PhantomSpec};
use screener_core::Dims;

const TILE: usize = 448;
const REAL_SLICE: &str = "../shared/data/ct/itkelastix-chest/00-slice070.dcm";

#[derive(Clone, Copy)]
enum Window {
    Lung,
    Soft,
}

impl Window {
    fn range(self) -> (f32, f32) {
        let (w, l) = match self {
            Window::Lung => (1500.0, -600.0),
            Window::Soft => (400.0, 40.0),
        };
        (l - w / 2.0, l + w / 2.0)
    }
}

/// A grey image, row-major.
struct Grey {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--slice") {
        let seed: u64 = args[1].parse()?;
        let height: f64 = args[2].parse()?;
        let window = if args[3] == "SOFT" {
            Window::Soft
        } else {
            Window::Lung
        };
        let tile = phantom_tile(seed, height, window, false, false);
        return write_png(&tile, Path::new(&args[4]));
    }
    if args.first().map(String::as_str) == Some("--time") {
        let spec = PhantomSpec::new(1, Dims::new(512, 512, 300), [0.7, 0.7, 1.0]);
        let start = Instant::now();
        let p = spec.generate();
        println!(
            "512x512x300 in {:.2?} on {} threads",
            start.elapsed(),
            rayon_threads()
        );
        drop(p);
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--real") {
        let window = if args[2] == "SOFT" {
            Window::Soft
        } else {
            Window::Lung
        };
        let tile = real_tile(Path::new(&args[1]), window)?;
        return write_png(&tile, Path::new(&args[3]));
    }
    let out = args
        .first()
        .cloned()
        .unwrap_or_else(|| "docs/images/phantoms.png".to_string());
    let tiles = vec![
        phantom_tile(1, 45.0, Window::Lung, false, false),
        phantom_tile(2, 95.0, Window::Lung, false, false),
        phantom_tile(3, 40.0, Window::Lung, true, false),
        phantom_tile(4, 60.0, Window::Soft, false, true),
        phantom_tile(5, -135.0, Window::Soft, false, true),
        real_tile(Path::new(REAL_SLICE), Window::Lung)?,
    ];
    let sheet = grid(&tiles, 3);
    write_png(&sheet, Path::new(&out))?;
    println!("wrote {out}");
    Ok(())
}

/// One slice through the middle of a 512 x 512 phantom at `height` mm above the liver dome.
fn phantom_tile(seed: u64, height: f64, window: Window, lesions: bool, contrast: bool) -> Grey {
    let mut spec = PhantomSpec::new(seed, Dims::new(512, 512, 41), [0.74, 0.74, 1.0]);
    spec.centre_height_mm = height;
    spec.contrast = contrast;
    let start = Instant::now();
    let mut phantom = spec.generate();
    eprintln!("seed {seed}: 512x512x41 in {:.2?}", start.elapsed());
    let mut k = 20;
    if lesions {
        let kinds = [
            (LesionKind::SolidNodule, 16.0),
            (LesionKind::GroundGlassNodule, 22.0),
            (LesionKind::SolidNodule, 9.0),
            (LesionKind::GroundGlassNodule, 12.0),
        ];
        let mut per_slice = vec![0usize; phantom.ct.dims().k];
        for (n, (kind, d)) in kinds.into_iter().enumerate() {
            let spec = LesionSpec {
                kind,
                diameter_mm: d,
                seed: seed * 10 + n as u64,
            };
            match insert_lesion(&mut phantom.ct, &phantom.organs, &spec) {
                Ok(l) => {
                    for ((kk, _, _), &v) in l.mask.data.indexed_iter() {
                        per_slice[kk] += v as usize;
                    }
                }
                Err(e) => eprintln!("lesion {n}: {e}"),
            }
        }
        // Show the slice that cuts the most lesion voxels.
        k = (0..per_slice.len())
            .max_by_key(|&s| per_slice[s])
            .unwrap_or(k);
    }
    let d = phantom.ct.dims();
    let slice = phantom.ct.data.index_axis(ndarray::Axis(0), k.min(d.k - 1));
    let hu: Vec<f32> = slice.iter().copied().collect();
    resize(&windowed(&hu, d.i, d.j, window), TILE)
}

fn rayon_threads() -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".to_string())
}

fn real_tile(path: &Path, window: Window) -> Result<Grey, Box<dyn std::error::Error>> {
    let obj = dicom_object::open_file(path)?;
    let pixels = obj.decode_pixel_data()?;
    let (w, h) = (pixels.columns() as usize, pixels.rows() as usize);
    let hu: Vec<f32> = pixels.to_vec()?;
    Ok(resize(&windowed(&hu, w, h, window), TILE))
}

fn windowed(hu: &[f32], w: usize, h: usize, window: Window) -> Grey {
    let (lo, hi) = window.range();
    let px = hu
        .iter()
        .map(|&v| (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    Grey { w, h, px }
}

/// Bilinear resize to a square of side `n`.
fn resize(img: &Grey, n: usize) -> Grey {
    let mut px = vec![0u8; n * n];
    for y in 0..n {
        let fy = ((y as f32 + 0.5) * img.h as f32 / n as f32 - 0.5).max(0.0);
        let (y0, ty) = (fy.floor() as usize, fy.fract());
        let y1 = (y0 + 1).min(img.h - 1);
        for x in 0..n {
            let fx = ((x as f32 + 0.5) * img.w as f32 / n as f32 - 0.5).max(0.0);
            let (x0, tx) = (fx.floor() as usize, fx.fract());
            let x1 = (x0 + 1).min(img.w - 1);
            let p = |xx: usize, yy: usize| img.px[yy * img.w + xx] as f32;
            let top = p(x0, y0) * (1.0 - tx) + p(x1, y0) * tx;
            let bottom = p(x0, y1) * (1.0 - tx) + p(x1, y1) * tx;
            px[y * n + x] = (top * (1.0 - ty) + bottom * ty).round() as u8;
        }
    }
    Grey { w: n, h: n, px }
}

/// Tiles in rows of `cols`, separated by a 4-pixel black gutter.
fn grid(tiles: &[Grey], cols: usize) -> Grey {
    let gap = 4;
    let rows = tiles.len().div_ceil(cols);
    let w = cols * TILE + (cols + 1) * gap;
    let h = rows * TILE + (rows + 1) * gap;
    let mut px = vec![0u8; w * h];
    for (n, t) in tiles.iter().enumerate() {
        let (ox, oy) = (
            gap + (n % cols) * (TILE + gap),
            gap + (n / cols) * (TILE + gap),
        );
        for y in 0..t.h {
            let dst = (oy + y) * w + ox;
            px[dst..dst + t.w].copy_from_slice(&t.px[y * t.w..(y + 1) * t.w]);
        }
    }
    Grey { w, h, px }
}

fn write_png(img: &Grey, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut enc = png::Encoder::new(
        BufWriter::new(File::create(path)?),
        img.w as u32,
        img.h as u32,
    );
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img.px)?;
    Ok(())
}
