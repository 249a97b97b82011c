//! Phantom studies for the service benchmarks (`scripts/bench/turnaround.sh`, `load.sh`).
//!
//! `bench_phantoms OUT COUNT COLUMNS ROWS SLICES SX SY SZ` writes COUNT phantom CT series
//! (explicit VR little endian, spacing SX x SY x SZ mm) into OUT/study000, OUT/study001, ...
//! Each study has its own seed, so its anatomy and its Study, Series and SOP Instance UIDs
//! differ from the others'. Prints one line per study: `folder study_uid series_uid`.

use std::path::Path;

use screener_core::phantom::{write_ct_series, CtSeriesOptions, PhantomSpec};
use screener_core::Dims;

/// Keeps the benchmark's UIDs apart from the tests' (`1.2.826.0.1.3680043.10.1234.*`).
const UID_ROOT: &str = "1.2.826.0.1.3680043.10.4321";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 9 {
        eprintln!("usage: bench_phantoms OUT COUNT COLUMNS ROWS SLICES SX SY SZ");
        std::process::exit(2);
    }
    let number = |i: usize, what: &str| -> usize {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{what}: {}", args[i]))
    };
    let mm = |i: usize| -> f64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("spacing: {}", args[i]))
    };
    let out = Path::new(&args[1]);
    let count = number(2, "COUNT");
    let dims = Dims::new(number(3, "COLUMNS"), number(4, "ROWS"), number(5, "SLICES"));
    let spacing = [mm(6), mm(7), mm(8)];
    // A fresh run of the benchmark uses fresh UIDs, so a node's store never sees a repeat.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    for n in 0..count {
        let seed = 1000 + n as u64;
        let ct = PhantomSpec::new(seed, dims, spacing).generate().ct;
        let study_uid = format!("{UID_ROOT}.{run}.{n}.1");
        let series_uid = format!("{UID_ROOT}.{run}.{n}.2");
        let opts = CtSeriesOptions {
            uid_seed: Some(run * 1000 + seed),
            study_uid: Some(study_uid.clone()),
            series_uid: Some(series_uid.clone()),
            patient_name: format!("BENCH^STUDY{n}"),
            patient_id: format!("BENCH{n:03}"),
            ..CtSeriesOptions::default()
        };
        let dir = out.join(format!("study{n:03}"));
        write_ct_series(&ct, &dir, &opts).expect("writing the phantom series");
        println!("{} {study_uid} {series_uid}", dir.display());
    }
}
