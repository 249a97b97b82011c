//! Benchmark driver for DICOM series decoding (run by `scripts/bench/decode.sh`).
//!
//! `bench_decode generate DIR SLICES` writes a 512 x 512 phantom CT series (explicit VR
//! little endian); `bench_decode read DIR REPEATS` reads it REPEATS times and prints the
//! fastest wall time in seconds.

use std::path::Path;
use std::time::Instant;

use screener_core::dicom_series::read_series_folder;
use screener_core::phantom::{write_ct_series, CtSeriesOptions, PhantomSpec};
use screener_core::Dims;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => {
            let slices: usize = args[3].parse().expect("SLICES");
            let spec = PhantomSpec::new(11, Dims::new(512, 512, slices), [0.7, 0.7, 1.25]);
            let phantom = spec.generate();
            let opts = CtSeriesOptions {
                uid_seed: Some(11),
                ..CtSeriesOptions::default()
            };
            write_ct_series(&phantom.ct, Path::new(&args[2]), &opts).expect("writing series");
        }
        Some("read") => {
            let repeats: usize = args[3].parse().expect("REPEATS");
            let mut best = f64::MAX;
            let mut checksum = 0.0f64;
            for _ in 0..repeats {
                let t = Instant::now();
                let s = read_series_folder(Path::new(&args[2])).expect("reading series");
                best = best.min(t.elapsed().as_secs_f64());
                checksum = s.volume.data.iter().map(|&v| v as f64).sum();
            }
            println!("{best:.4} {checksum:.1}");
        }
        _ => eprintln!("usage: bench_decode generate DIR SLICES | read DIR REPEATS"),
    }
}
