//! screener-daemon: the Screener DICOM node. For now only the command line exists; the
//! listener, engine, writers, store and web page arrive with their issues.

pub mod calibrate_cmd;
pub mod config;
pub mod dicom;
pub mod engine;
pub mod score_cmd;
pub mod store;
pub mod writers;

use std::path::Path;

use anyhow::Context;
use screener_core::input::read_ct;

/// What `screener serve` will do once the node is built.
pub fn serve_plan() {
    println!(
        "screener serve: the DICOM node is not built yet.\n\
         When it is, it will: listen for C-STORE on a non-privileged port, spool each CT\n\
         series, score it with the bundled model on the CPU, send a DICOM Segmentation and a\n\
         heat-map overlay back to the PACS, flag abnormal studies on a worklist, and record\n\
         everything in an SQLite database in its data folder.\n\
         Today `screener inspect INPUT` reads a CT (DICOM folder, NIfTI, NRRD) and describes it."
    );
}

/// Reads a CT and prints its size, geometry and HU range.
pub fn inspect(input: &Path) -> anyhow::Result<()> {
    let ct = read_ct(input).with_context(|| format!("reading {}", input.display()))?;
    let v = &ct.volume;
    let d = v.dims();
    let g = v.geometry;
    let (min, max) = v
        .data
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    println!("{}", input.display());
    println!(
        "  voxels     {} x {} x {} (columns x rows x slices)",
        d.i, d.j, d.k
    );
    println!(
        "  spacing    {:.4} x {:.4} x {:.4} mm",
        g.spacing[0], g.spacing[1], g.spacing[2]
    );
    println!(
        "  origin     ({:.2}, {:.2}, {:.2}) mm LPS",
        g.origin[0], g.origin[1], g.origin[2]
    );
    for (name, dir) in ["i", "j", "k"].iter().zip(g.direction) {
        println!(
            "  axis {name}     ({:+.4}, {:+.4}, {:+.4})",
            dir[0], dir[1], dir[2]
        );
    }
    println!("  values     [{min}, {max}] HU");
    if let Some(note) = ct.note {
        println!("  note       {note}");
    }
    Ok(())
}
