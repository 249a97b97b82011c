//! The cache's volume format: raw little-endian samples (`<stem>.f32` or `<stem>.u8`) and a
//! JSON header (`<stem>.json`) with the dimensions and the patient geometry. Readable with
//! numpy: `np.fromfile(path, '<f4').reshape(k, j, i)`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ndarray::Array3;
use screener_core::{Dims, Geometry, Volume};
use serde::{Deserialize, Serialize};

/// A sample type the cache stores.
pub trait CacheSample: Copy + Default + Send + Sync + 'static {
    const EXTENSION: &'static str;
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

impl CacheSample for f32 {
    const EXTENSION: &'static str = "f32";
    const SIZE: usize = 4;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl CacheSample for u8 {
    const EXTENSION: &'static str = "u8";
    const SIZE: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn get(bytes: &[u8]) -> Self {
        bytes[0]
    }
}

/// `<stem>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeHeader {
    pub dims: Dims,
    pub geometry: Geometry,
    /// `"f32"` or `"u8"`, little endian, `[k, j, i]` order (i fastest).
    pub sample: String,
}

fn with_extension(stem: &Path, ext: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Writes `<stem>.<f32|u8>` and `<stem>.json`.
pub fn write_volume<T: CacheSample>(volume: &Volume<T>, stem: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(volume.data.len() * T::SIZE);
    for &v in volume.data.iter() {
        v.put(&mut bytes);
    }
    let data_path = with_extension(stem, T::EXTENSION);
    std::fs::write(&data_path, bytes)
        .with_context(|| format!("writing {}", data_path.display()))?;
    let header = VolumeHeader {
        dims: volume.dims(),
        geometry: volume.geometry,
        sample: T::EXTENSION.to_string(),
    };
    std::fs::write(
        with_extension(stem, "json"),
        serde_json::to_vec_pretty(&header)?,
    )?;
    Ok(())
}

/// Reads a volume written by [`write_volume`].
pub fn read_volume<T: CacheSample>(stem: &Path) -> anyhow::Result<Volume<T>> {
    let header_path = with_extension(stem, "json");
    let header: VolumeHeader = serde_json::from_slice(
        &std::fs::read(&header_path)
            .with_context(|| format!("reading {}", header_path.display()))?,
    )
    .with_context(|| format!("parsing {}", header_path.display()))?;
    if header.sample != T::EXTENSION {
        bail!(
            "{}: holds {} samples, not {}",
            header_path.display(),
            header.sample,
            T::EXTENSION
        );
    }
    let data_path = with_extension(stem, T::EXTENSION);
    let bytes =
        std::fs::read(&data_path).with_context(|| format!("reading {}", data_path.display()))?;
    if bytes.len() != header.dims.len() * T::SIZE {
        bail!(
            "{}: {} bytes, expected {} for {:?}",
            data_path.display(),
            bytes.len(),
            header.dims.len() * T::SIZE,
            header.dims
        );
    }
    let values: Vec<T> = bytes.chunks_exact(T::SIZE).map(T::get).collect();
    let data = Array3::from_shape_vec(header.dims.shape(), values)?;
    Ok(Volume::new(data, header.geometry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_round_trips_with_its_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let geometry = Geometry::axial([-10.0, 5.5, 100.0], [1.5, 1.5, 2.25]);
        let data =
            Array3::from_shape_fn([3, 4, 5], |(k, j, i)| (k * 100 + j * 10 + i) as f32 * 0.5);
        let v = Volume::new(data, geometry);
        write_volume(&v, &dir.path().join("a")).unwrap();
        let back: Volume<f32> = read_volume(&dir.path().join("a")).unwrap();
        assert_eq!(back, v);
        assert!(read_volume::<u8>(&dir.path().join("a")).is_err());
    }
}
