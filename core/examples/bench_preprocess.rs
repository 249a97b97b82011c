//! Benchmark of the preprocessing on a synthetic 512 x 512 x 300 CT at 0.7 x 0.7 x 1.25 mm.
//! Driven by `scripts/bench/preprocess.sh`, which times the Python reference on the arrays
//! written here.
//!
//! `bench_preprocess run DIR`: times resampling of the whole CT to 1.5 x 1.5 x 2.25 mm and CLAHE
//! of the preprocessed (cropped, resampled, windowed) volume; writes the inputs and our outputs
//! as raw f32 plus `rust.json` with shapes and timings into DIR.
//! `bench_preprocess rss`: runs the full `preprocess` once and prints the peak resident set
//! size (VmHWM) of the process, which includes the 300 MiB input CT.

use std::time::Instant;

use ndarray::Array3;
use rayon::prelude::*;
use screener_core::preprocess::{
    body_crop_box, clahe, clip_and_scale, preprocess, resample_linear, resample_to_spacing,
    PreprocessParams,
};
use screener_core::{Dims, Geometry, Volume};

const SHAPE: [usize; 3] = [300, 512, 512];
const SPACING: [f64; 3] = [0.7, 0.7, 1.25];

fn hash(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

/// A deterministic chest-like CT: air, an elliptic body, lungs, a spine, a table, noise.
/// The body spans i 38..474 and j 103..410; the table lies at j 448..463.
fn synthetic_ct() -> Volume<f32> {
    let [nk, nj, ni] = SHAPE;
    let mut data = Array3::<f32>::zeros((nk, nj, ni));
    data.as_slice_mut()
        .unwrap()
        .par_chunks_mut(nj * ni)
        .enumerate()
        .for_each(|(k, plane)| {
            let z = k as f32 / nk as f32 * 2.0 - 1.0;
            for (n, v) in plane.iter_mut().enumerate() {
                let (j, i) = (n / ni, n % ni);
                let x = i as f32 / ni as f32 * 2.0 - 1.0;
                let y = j as f32 / nj as f32 * 2.0 - 1.0;
                let e = |cx: f32, cy: f32, rx: f32, ry: f32| {
                    ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
                };
                let mut hu = -1000.0;
                if e(0.0, 0.0, 0.85, 0.6) {
                    hu = -90.0;
                    if e(0.0, 0.0, 0.78, 0.53) {
                        hu = 40.0 + 15.0 * (x * 9.0 + z * 5.0).sin();
                    }
                    for cx in [-0.38f32, 0.38] {
                        if e(cx, -0.05, 0.28, 0.36 * (1.0 - 0.3 * z * z)) {
                            hu = -850.0;
                        }
                    }
                    if e(0.0, 0.4, 0.1, 0.1) {
                        hu = 700.0;
                    }
                } else if (0.75..0.757).contains(&y) || (0.8..0.807).contains(&y) {
                    // Table: two ~1.4 mm shells around a foam core, spanning the field of view.
                    hu = 200.0;
                } else if (0.757..0.8).contains(&y) {
                    hu = -950.0;
                }
                let h = hash((k * nj * ni + n) as u64);
                let noise = ((h & 0xffff) as f32 / 65535.0 - 0.5)
                    + ((h >> 16 & 0xffff) as f32 / 65535.0 - 0.5);
                *v = hu + noise * if hu > -950.0 { 60.0 } else { 10.0 };
            }
        });
    Volume::new(data, Geometry::axial([-179.0, -179.0, -400.0], SPACING))
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

fn write_raw(path: &std::path::Path, a: &Array3<f32>) {
    let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn run(dir: &std::path::Path) {
    let params = PreprocessParams::default();
    let ct = synthetic_ct();
    write_raw(&dir.join("ct.f32"), &ct.data);
    let (_, out_dims) = ct.geometry.with_spacing(ct.dims(), params.target_spacing);
    let (t_resample, resampled) = best_of(3, || resample_linear(ct.data.view(), out_dims));
    write_raw(&dir.join("resampled.f32"), &resampled);
    // CLAHE also on the whole field of view (no crop), the size the targets were set for.
    let mut fov = resampled.clone();
    clip_and_scale(&mut fov, params.clip_hu[0], params.clip_hu[1]);
    write_raw(&dir.join("fov_windowed.f32"), &fov);
    let (t_clahe_fov, eq_fov) = best_of(3, || clahe(fov.view(), &params.clahe()));
    write_raw(&dir.join("fov_clahe.f32"), &eq_fov);

    // The CLAHE input: cropped, resampled, windowed, as inside `preprocess`.
    let b = body_crop_box(
        &ct,
        params.body_threshold_hu,
        params.body_block_mm,
        params.body_block_fraction,
    );
    let mut pre = resample_to_spacing(
        b.view(&ct.data),
        &ct.geometry.cropped(b.start),
        params.target_spacing,
    );
    clip_and_scale(&mut pre.data, params.clip_hu[0], params.clip_hu[1]);
    write_raw(&dir.join("windowed.f32"), &pre.data);
    let (t_clahe, eq) = best_of(3, || clahe(pre.data.view(), &params.clahe()));
    write_raw(&dir.join("clahe.f32"), &eq);
    let (t_full, _) = best_of(3, || preprocess(&ct, &params));

    let report = serde_json::json!({
        "threads": rayon::current_num_threads(),
        "ct_shape": SHAPE,
        "resampled_shape": resampled.shape(),
        "crop": b,
        "windowed_shape": pre.data.shape(),
        "resample_s": t_resample,
        "clahe_s": t_clahe,
        "clahe_fov_s": t_clahe_fov,
        "full_preprocess_s": t_full,
    });
    std::fs::write(dir.join("rust.json"), report.to_string()).unwrap();
    println!("{report}");
}

fn rss() {
    let ct = synthetic_ct();
    let before = peak_rss_bytes();
    let t = Instant::now();
    let p = preprocess(&ct, &PreprocessParams::default());
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_bytes();
    let dims: Dims = p.volume.dims();
    println!(
        "{}",
        serde_json::json!({
            "preprocess_s": secs,
            "preprocessed_dims_ijk": dims.as_array(),
            "peak_rss_after_input_bytes": before,
            "peak_rss_bytes": peak,
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run") => run(std::path::Path::new(args.get(2).expect("run DIR"))),
        Some("rss") => rss(),
        _ => eprintln!("usage: bench_preprocess run DIR | bench_preprocess rss"),
    }
}
