//! Benchmark driver for the SEG and overlay writers (run by `scripts/bench/writers.sh`).
//!
//! `bench_writers generate DIR SLICES` writes a 512 x 512 phantom CT series into DIR.
//! `bench_writers write SERIES OUT REPEATS` loads the series in SERIES (untimed), draws a
//! spherical lesion (radius 30 mm, at the volume centre) as mask and score map, then writes
//! the BINARY SEG and the overlay series into OUT REPEATS times and prints the fastest wall
//! times in seconds: `seg overlay`. It also leaves in OUT what the highdicom reference needs
//! to write the same SEG: `mask.u8` (slices x rows x columns, slice order) and `frames.txt`
//! (the source SOP Instance UID of each slice).

use std::path::Path;
use std::time::Instant;

use screener_core::dicom_series::{load_series, scan_folder};
use screener_core::phantom::{write_ct_series, CtSeriesOptions, PhantomSpec};
use screener_core::{CtVolume, Dims, Volume, VoxelPoint};
use screener_daemon::writers::{
    uid_from_seed, write_overlay, write_segmentation, Algorithm, OverlayParams, SegParams,
    SegmentationValues, SourceSeries,
};

const RADIUS_MM: f64 = 30.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => {
            let slices: usize = args[3].parse().expect("SLICES");
            let spec = PhantomSpec::new(12, Dims::new(512, 512, slices), [0.7, 0.7, 1.25]);
            let opts = CtSeriesOptions {
                uid_seed: Some(12),
                ..CtSeriesOptions::default()
            };
            write_ct_series(&spec.generate().ct, Path::new(&args[2]), &opts)
                .expect("writing series");
        }
        Some("write") => {
            let repeats: usize = args[4].parse().expect("REPEATS");
            write(Path::new(&args[2]), Path::new(&args[3]), repeats);
        }
        _ => eprintln!("usage: bench_writers generate DIR SLICES | write SERIES OUT REPEATS"),
    }
}

/// Score 1 at the centre falling to 0 at 1.5 radii; the mask is score >= 1/3 (the radius).
fn lesion(ct: &CtVolume) -> Volume<f32> {
    let g = ct.geometry;
    let d = ct.dims();
    let c = g
        .voxel_to_patient(VoxelPoint([
            d.i as f64 / 2.0,
            d.j as f64 / 2.0,
            d.k as f64 / 2.0,
        ]))
        .0;
    let mut v = Volume::zeros(d, g);
    for ((k, j, i), out) in v.data.indexed_iter_mut() {
        let p = g
            .voxel_to_patient(VoxelPoint([i as f64, j as f64, k as f64]))
            .0;
        let r = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
        *out = (1.0 - r / (1.5 * RADIUS_MM)).max(0.0) as f32;
    }
    v
}

fn write(series: &Path, out: &Path, repeats: usize) {
    let scan = scan_folder(series).expect("scanning the series");
    let files = &scan.series[0];
    let ct = load_series(files).expect("loading the series").volume;
    let scores = lesion(&ct);
    let mask = scores.map(|&s| u8::from(s >= 1.0 / 3.0));
    std::fs::create_dir_all(out).expect("output folder");
    std::fs::write(
        out.join("mask.u8"),
        mask.data.as_slice().expect("standard layout"),
    )
    .expect("mask.u8");

    let algorithm = Algorithm {
        name: "screener-anomaly".into(),
        version: "bench".into(),
        parameters: String::new(),
    };
    let seg_params = SegParams::new(
        uid_from_seed("bench seg series"),
        uid_from_seed("bench seg instance"),
        algorithm,
    );
    let overlay_params = OverlayParams::new(uid_from_seed("bench overlay series"));
    let (mut best_seg, mut best_overlay) = (f64::MAX, f64::MAX);
    let mut frames = String::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let source = SourceSeries::open(files.instances.clone()).expect("source series");
        write_segmentation(
            &source,
            SegmentationValues::Binary(&mask),
            &seg_params,
            &out.join("seg.dcm"),
        )
        .expect("writing the SEG");
        best_seg = best_seg.min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        write_overlay(&source, &ct, &scores, &overlay_params, &out.join("overlay"))
            .expect("writing the overlay");
        best_overlay = best_overlay.min(t.elapsed().as_secs_f64());

        frames = (0..source.dims().k)
            .map(|k| source.slice(k).0.sop_instance_uid.clone() + "\n")
            .collect();
    }
    std::fs::write(out.join("frames.txt"), frames).expect("frames.txt");
    println!("{best_seg:.4} {best_overlay:.4}");
}
