//! Prints the default model's FLOPs per patch and per volume: `flops PATCHES`.
use burn::tensor::Device;
use screener_export::flops;
use screener_trainer::models::{
    ConditionModelConfig, DescriptorModelConfig, GaussianDensityConfig,
};

fn main() {
    let patches: usize = std::env::args()
        .nth(1)
        .map_or(80, |s| s.parse().expect("PATCHES"));
    let device = Device::flex();
    let voxels = 96 * 96 * 64;
    let pooled = voxels / 18;
    let f = flops::unet(&DescriptorModelConfig::new().init(&device).backbone, voxels);
    let g = flops::unet(&ConditionModelConfig::new().init(&device).backbone, voxels);
    let q = flops::gaussian(&GaussianDensityConfig::new().init(&device), pooled);
    let per_patch = f + g + q;
    println!(
        "descriptor {:.2} GFLOP, condition {:.2} GFLOP, density {:.3} GFLOP per 96x96x64 patch",
        f / 1e9,
        g / 1e9,
        q / 1e9
    );
    println!(
        "per patch {:.2} GFLOP; {patches} patches: {:.1} GFLOP per volume",
        per_patch / 1e9,
        per_patch * patches as f64 / 1e9
    );
}
