//! The UNet backbone (`screener_trainer::models::UNet3d`) as ONNX nodes, following the forward
//! documented on the module: stem, encoder levels (stride-2 down conv, residual blocks),
//! decoder levels (transposed conv, concat with the skip, 1x1x1 fuse, residual blocks) and the
//! per-level heads summed top-down with nearest-neighbour x2 upsampling.

use screener_onnx::{layers, GraphBuilder};
use screener_trainer::models::res_block::ResBlock;
use screener_trainer::models::UNet3d;

use crate::weights::{conv3d, conv_transpose3d, group_norm};

pub fn unet(g: &mut GraphBuilder, name: &str, x: &str, net: &UNet3d) -> String {
    let levels = net.encoder.len();
    let mut h = conv3d(g, &format!("{name}.stem"), x, &net.stem);
    let mut skips = Vec::with_capacity(levels);
    for (l, level) in net.encoder.iter().enumerate() {
        if let Some(down) = &level.down {
            h = conv3d(g, &format!("{name}.encoder.{l}.down"), &h, down);
        }
        for (b, block) in level.blocks.iter().enumerate() {
            h = res_block(g, &format!("{name}.encoder.{l}.blocks.{b}"), &h, block);
        }
        skips.push(h.clone());
    }
    let mut dec = skips.pop().expect("a UNet has levels");
    let mut out = conv3d(
        g,
        &format!("{name}.heads.{}", levels - 1),
        &dec,
        &net.heads[levels - 1],
    );
    for l in (0..levels - 1).rev() {
        let level = &net.decoder[l];
        let prefix = format!("{name}.decoder.{l}");
        let up = conv_transpose3d(g, &format!("{prefix}.up"), &dec, &level.up);
        let skip = skips.pop().expect("one skip per level");
        let joined = layers::concat_channels(g, &[&up, &skip]);
        dec = conv3d(g, &format!("{prefix}.fuse"), &joined, &level.fuse);
        for (b, block) in level.blocks.iter().enumerate() {
            dec = res_block(g, &format!("{prefix}.blocks.{b}"), &dec, block);
        }
        let head = conv3d(g, &format!("{name}.heads.{l}"), &dec, &net.heads[l]);
        let coarse = layers::upsample_nearest3d(g, &format!("{name}.up.{l}"), &out, [2, 2, 2]);
        out = layers::add(g, &head, &coarse);
    }
    out
}

/// `x + conv2(silu(gn2(conv1(silu(gn1(x))))))`.
fn res_block(g: &mut GraphBuilder, name: &str, x: &str, block: &ResBlock) -> String {
    let h = group_norm(g, &format!("{name}.norm1"), x, &block.norm1);
    let h = layers::silu(g, &h);
    let h = conv3d(g, &format!("{name}.conv1"), &h, &block.conv1);
    let h = group_norm(g, &format!("{name}.norm2"), &h, &block.norm2);
    let h = layers::silu(g, &h);
    let h = conv3d(g, &format!("{name}.conv2"), &h, &block.conv2);
    layers::add(g, x, &h)
}
