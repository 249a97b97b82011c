//! Reading the cache back: whole cases (image, body and lesion masks) kept in a small
//! least-recently-used store, random patches from them, and batches of patches as tensors.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use ndarray::Array3;
use rand::Rng;
use screener_core::patches::{patch_array, Patch};
use screener_core::{Dims, Geometry};

use super::cache::read_volume;
use super::index::CachedVolume;

/// A cached volume in memory, arrays `[k, j, i]`.
#[derive(Debug, Clone)]
pub struct CachedCase {
    pub entry: CachedVolume,
    pub image: Array3<f32>,
    pub body: Array3<u8>,
    pub lesion: Option<Array3<u8>>,
    pub geometry: Geometry,
}

impl CachedCase {
    pub fn load(cache_dir: &Path, entry: &CachedVolume) -> anyhow::Result<Self> {
        let image = read_volume::<f32>(&cache_dir.join(&entry.image))?;
        let body = read_volume::<u8>(&cache_dir.join(&entry.body))?;
        let lesion = match &entry.lesion {
            Some(stem) => Some(read_volume::<u8>(&cache_dir.join(stem))?.data),
            None => None,
        };
        Ok(Self {
            entry: entry.clone(),
            geometry: image.geometry,
            image: image.data,
            body: body.data,
            lesion,
        })
    }

    pub fn dims(&self) -> Dims {
        Dims::from_shape(self.image.shape())
    }
}

/// The volumes of one split with at most `capacity` of them in memory at once.
pub struct VolumeStore {
    cache_dir: PathBuf,
    entries: Vec<CachedVolume>,
    capacity: usize,
    /// Most recently used last.
    loaded: VecDeque<(usize, Arc<CachedCase>)>,
}

impl VolumeStore {
    pub fn new(cache_dir: &Path, entries: Vec<CachedVolume>, capacity: usize) -> Self {
        Self {
            cache_dir: cache_dir.to_path_buf(),
            entries,
            capacity: capacity.max(1),
            loaded: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[CachedVolume] {
        &self.entries
    }

    /// Case `n`, read from disk unless it is in memory.
    pub fn case(&mut self, n: usize) -> anyhow::Result<Arc<CachedCase>> {
        if let Some(pos) = self.loaded.iter().position(|(m, _)| *m == n) {
            let item = self.loaded.remove(pos).expect("position is valid");
            let case = item.1.clone();
            self.loaded.push_back(item);
            return Ok(case);
        }
        let case = Arc::new(CachedCase::load(&self.cache_dir, &self.entries[n])?);
        if self.loaded.len() >= self.capacity {
            self.loaded.pop_front();
        }
        self.loaded.push_back((n, case.clone()));
        Ok(case)
    }

    /// A uniformly drawn case and a uniformly drawn patch of `size` (i, j, k) inside it (at
    /// 0 and padded on an axis shorter than the patch).
    pub fn random_patch<R: Rng>(
        &mut self,
        rng: &mut R,
        size: Dims,
    ) -> anyhow::Result<(Arc<CachedCase>, Patch)> {
        anyhow::ensure!(
            !self.entries.is_empty(),
            "no cached volumes to draw patches from"
        );
        let n = rng.gen_range(0..self.entries.len());
        let case = self.case(n)?;
        let d = case.dims().as_array();
        let s = size.as_array();
        let start = [0, 1, 2].map(|a| {
            if d[a] > s[a] {
                rng.gen_range(0..=d[a] - s[a])
            } else {
                0
            }
        });
        Ok((case, Patch { start, size }))
    }
}

/// A patch centred (as far as the volume allows) on voxel `centre` (i, j, k).
pub fn patch_around(centre: [usize; 3], size: Dims, dims: Dims) -> Patch {
    let (d, s) = (dims.as_array(), size.as_array());
    let start = [0, 1, 2].map(|a| {
        let wanted = centre[a].saturating_sub(s[a] / 2);
        wanted.min(d[a].saturating_sub(s[a]))
    });
    Patch { start, size }
}

/// Copies `patch` of an image, zero-padded (air after scaling).
pub fn image_patch(case: &CachedCase, patch: &Patch) -> Array3<f32> {
    patch_array(case.image.view(), patch, 0.0)
}

/// Stacks single-channel `[k, j, i]` arrays of one shape into a `[B, 1, k, j, i]` tensor.
pub fn patches_to_tensor(patches: &[Array3<f32>], device: &Device) -> Tensor<5> {
    let shape = patches[0].shape().to_vec();
    let mut values = Vec::with_capacity(patches.len() * patches[0].len());
    for p in patches {
        assert_eq!(p.shape(), &shape[..], "patches of one batch share a shape");
        values.extend(p.iter().copied());
    }
    Tensor::from_data(
        TensorData::new(values, [patches.len(), 1, shape[0], shape[1], shape[2]]),
        device,
    )
}
