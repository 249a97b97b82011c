//! Network forward benchmark (run by `scripts/bench/forward.sh`): runs each network of a bundle
//! through the engine's `Network` on a fixed pseudo-random patch batch and prints, per role,
//! the median seconds per call and a checksum of the output.
//!
//! Usage: bench_forward BUNDLE THREADS BATCH REPEATS INPUT_DIR
//! INPUT_DIR receives the inputs as raw little-endian f32 (`<role>.<input>.f32`) so the
//! Python reference runs the very same tensors.

use std::path::Path;
use std::time::Instant;

use ndarray::{ArrayD, IxDyn};
use screener_core::bundle::ModelBundle;
use screener_daemon::engine::{EngineOptions, Network};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bundle = ModelBundle::open(Path::new(&args[1]))?;
    let options = EngineOptions {
        threads: args[2].parse()?,
        batch_size: args[3].parse()?,
        use_gpu: false,
    };
    let repeats: usize = args[4].parse()?;
    let input_dir = Path::new(&args[5]);
    std::fs::create_dir_all(input_dir)?;
    let m = &bundle.manifest;
    let [pi, pj, pk] = m.patch.size;
    let [fi, fj, fk] = m.patch.pooling;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    for (role, spec) in &m.networks {
        let mut net = Network::open(&bundle.dir.join(&spec.file), spec, &options)?;
        let inputs: Vec<ArrayD<f32>> = spec
            .inputs
            .iter()
            .map(|t| {
                let channels = t.shape[1].max(1) as usize;
                let dims = if role == "density" {
                    [options.batch_size, channels, pk / fk, pj / fj, pi / fi]
                } else {
                    [options.batch_size, channels, pk, pj, pi]
                };
                let a = ArrayD::from_shape_fn(IxDyn(&dims), |_| next());
                let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
                let name = format!("{role}.{}.f32", t.name);
                std::fs::write(input_dir.join(name), bytes).expect("writing input");
                a
            })
            .collect();
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let mut out = net.run(&views)?; // warm-up
        let mut times = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let t = Instant::now();
            out = net.run(&views)?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let checksum: f64 = out.iter().map(|&v| v as f64).sum();
        println!("{role} {:.4} {checksum:.3}", times[times.len() / 2]);
    }
    Ok(())
}
