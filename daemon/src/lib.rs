//! screener-daemon: the Screener DICOM node: DICOM listener and sender ([`dicom`]), scoring
//! engine ([`engine`]), SEG and overlay writers ([`writers`]), store ([`store`]), the
//! service that ties them together ([`service`]), the admin page ([`web`]) and configuration
//! ([`config`]).

pub mod calibrate_cmd;
pub mod config;
pub mod dicom;
pub mod engine;
pub mod outputs;
pub mod score_cmd;
pub mod service;
pub mod store;
pub mod web;
pub mod writers;

use std::path::Path;

use anyhow::Context;
use screener_core::input::read_ct;

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
