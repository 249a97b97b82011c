//! Phantoms with inserted lesions, made as the trainer's evaluation set makes them (same
//! generator, same lesion seed), written as NIfTI so that a bundle can be judged on them with
//! `screener score` (`scripts/eval/lesion_phantoms.sh`).
//!
//! `lesion_phantoms OUT SEED COUNT COLUMNS ROWS SLICES SX SY SZ LESIONS` writes, for seeds
//! SEED..SEED+COUNT-1, OUT/caseNNN/ with `ct`, `body` and `organs` (`Phantom::write_nifti`),
//! `lesions.nii.gz` (0 outside the lesions, n inside the n-th lesion) and `lesions.json`
//! (kind, host organ label, diameter and HU of each).

use std::path::Path;

use screener_core::nifti_io::write_nifti;
use screener_core::phantom::{insert_random_lesions, PhantomSpec};
use screener_core::Dims;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 11 {
        eprintln!("usage: lesion_phantoms OUT SEED COUNT COLUMNS ROWS SLICES SX SY SZ LESIONS");
        std::process::exit(2);
    }
    let int = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("not a count: {}", args[i]))
    };
    let mm = |i: usize| -> f64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("not a spacing: {}", args[i]))
    };
    let out = Path::new(&args[1]);
    let dims = Dims::new(int(4) as usize, int(5) as usize, int(6) as usize);
    let spacing = [mm(7), mm(8), mm(9)];
    for index in 0..int(3) {
        let seed = int(2) + index;
        let mut phantom = PhantomSpec::new(seed, dims, spacing).generate();
        // The lesion seed of the trainer's `prepare` for a phantom set.
        let inserted = insert_random_lesions(
            &mut phantom.ct,
            &phantom.organs,
            int(10) as usize,
            seed ^ 0x00c0_ffee,
        );
        assert!(inserted.len() < 256, "lesion labels are one byte");
        // Where lesions overlap, the later one's label wins; their union is the trainer's mask.
        let mut labels = phantom.body.map(|_| 0u8);
        for (n, lesion) in inserted.iter().enumerate() {
            labels.data.zip_mut_with(&lesion.mask.data, |l, &m| {
                if m != 0 {
                    *l = n as u8 + 1
                }
            });
        }
        let described: Vec<serde_json::Value> = inserted
            .iter()
            .map(|l| {
                serde_json::json!({
                    "kind": format!("{:?}", l.kind),
                    "organ": l.kind.organ().label(),
                    "diameter_mm": l.diameter_mm,
                    "tissue_hu": l.tissue_hu,
                })
            })
            .collect();
        let dir = out.join(format!("case{index:03}"));
        phantom.write_nifti(&dir).expect("writing the phantom");
        write_nifti(&labels, &dir.join("lesions.nii.gz")).expect("writing the lesion labels");
        let json = serde_json::to_string_pretty(&described).expect("lesions as JSON");
        std::fs::write(dir.join("lesions.json"), json).expect("writing lesions.json");
        println!("{} seed {seed}: {} lesions", dir.display(), inserted.len());
    }
}
