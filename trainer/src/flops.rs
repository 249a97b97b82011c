//! Floating-point operations of one forward pass, counted from the modules' weights (a
//! multiply-add is 2 FLOPs; convolutions only: norms and activations add well under 5 %).

use crate::models::gaussian::ConvHead;
use crate::models::{GaussianDensity, UNet3d};
use burn::nn::conv::{Conv3d, ConvTranspose3d};

/// FLOPs of a convolution producing `out_voxels` voxels.
fn conv(c: &Conv3d, out_voxels: usize) -> f64 {
    let [co, ci, k1, k2, k3] = c.weight.val().dims();
    2.0 * (out_voxels * co * ci * k1 * k2 * k3) as f64
}

/// FLOPs of a transposed convolution reading `in_voxels` voxels.
fn conv_t(c: &ConvTranspose3d, in_voxels: usize) -> f64 {
    let [ci, co, k1, k2, k3] = c.weight.val().dims();
    2.0 * (in_voxels * co * ci * k1 * k2 * k3) as f64
}

/// One UNet forward on a patch of `voxels` voxels (level l runs at `voxels / 8^l`).
pub fn unet(net: &UNet3d, voxels: usize) -> f64 {
    let at = |l: usize| voxels >> (3 * l);
    let mut total = conv(&net.stem, at(0));
    for (l, level) in net.encoder.iter().enumerate() {
        if let Some(down) = &level.down {
            total += conv(down, at(l));
        }
        for b in &level.blocks {
            total += conv(&b.conv1, at(l)) + conv(&b.conv2, at(l));
        }
    }
    for (l, level) in net.decoder.iter().enumerate() {
        total += conv_t(&level.up, at(l + 1)) + conv(&level.fuse, at(l));
        for b in &level.blocks {
            total += conv(&b.conv1, at(l)) + conv(&b.conv2, at(l));
        }
    }
    for (l, head) in net.heads.iter().enumerate() {
        total += conv(head, at(l));
    }
    total
}

fn head(h: &ConvHead, voxels: usize) -> f64 {
    conv(&h.hidden, voxels) + conv(&h.out, voxels)
}

/// One Gaussian density forward on `voxels` pooled voxels.
pub fn gaussian(q: &GaussianDensity, voxels: usize) -> f64 {
    head(&q.mean, voxels) + head(&q.log_var, voxels)
}
