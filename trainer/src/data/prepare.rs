//! Preprocessing every input once into the cache, on a pool of worker threads. An input that
//! cannot be read or preprocessed is listed in `skipped.json` with the reason; it never stops
//! the others. Volumes already in the cache from an earlier run (same id, same source) are
//! kept as they are.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rayon::prelude::*;
use screener_core::dicom_series::load_series;
use screener_core::input::read_ct;
use screener_core::nifti_io::read_nifti;
use screener_core::nrrd_io::read_nrrd;
use screener_core::phantom::{
    combined_mask, insert_random_lesions, scan_tissue_labels, PhantomSpec,
};
use screener_core::preprocess::{preprocess, PreprocessParams, Preprocessed};
use screener_core::{CtVolume, Dims, Volume};

use super::cache::write_volume;
use super::index::{CachedVolume, DatasetIndex, Skipped, Split};
use super::sources::{discover_sources, is_volume_file, Source};
use crate::config::DataConfig;

/// What `prepare` produced.
#[derive(Debug, Clone)]
pub struct PrepareReport {
    pub cache_dir: PathBuf,
    pub index: DatasetIndex,
    pub skipped: Vec<Skipped>,
    /// Volumes taken from an earlier run's cache.
    pub reused: usize,
}

/// A CT in HU with its masks on the same grid (values 0 / 1).
struct LoadedInput {
    ct: CtVolume,
    body: Option<Volume<f32>>,
    lesion: Option<Volume<f32>>,
}

fn read_mask(path: &Path) -> anyhow::Result<Volume<f32>> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".nrrd") {
        Ok(read_nrrd(path)?)
    } else if is_volume_file(path) {
        Ok(read_nifti(path)?)
    } else {
        bail!("{}: masks must be NIfTI or NRRD files", path.display())
    }
}

fn load(source: &Source) -> anyhow::Result<LoadedInput> {
    let plain = |ct| LoadedInput {
        ct,
        body: None,
        lesion: None,
    };
    match source {
        Source::Dicom(files) => Ok(plain(load_series(files)?.volume)),
        Source::File(path) => Ok(plain(read_ct(path)?.volume)),
        Source::Phantom { set, index } => {
            let seed = set.seed + *index as u64;
            let [i, j, k] = set.dims;
            let mut phantom = PhantomSpec::new(seed, Dims::new(i, j, k), set.spacing).generate();
            let lesion = (set.lesions > 0).then(|| {
                let inserted = insert_random_lesions(
                    &mut phantom.ct,
                    &phantom.organs,
                    set.lesions,
                    seed ^ 0x00c0_ffee,
                );
                combined_mask(&inserted)
                    .unwrap_or_else(|| phantom.body.map(|_| 0u8))
                    .map(|&v| f32::from(v != 0))
            });
            Ok(LoadedInput {
                body: Some(phantom.body.map(|&v| f32::from(v != 0))),
                ct: phantom.ct,
                lesion,
            })
        }
        Source::Labelled(pair) => {
            let ct = read_ct(&pair.image)?.volume;
            let mask = read_mask(&pair.mask)?;
            if mask.dims() != ct.dims() {
                bail!(
                    "mask {} has {:?} voxels, image has {:?}",
                    pair.mask.display(),
                    mask.dims(),
                    ct.dims()
                );
            }
            Ok(LoadedInput {
                ct,
                body: None,
                lesion: Some(mask.map(|&v| f32::from(v > 0.5))),
            })
        }
        Source::LesionScan(scan) => {
            let mut ct = read_ct(&scan.image)?.volume;
            let labels = scan_tissue_labels(&ct);
            let inserted = insert_random_lesions(&mut ct, &labels, scan.lesions, scan.seed);
            let Some(mask) = combined_mask(&inserted) else {
                bail!(
                    "no synthetic lesion could be placed in {}",
                    scan.image.display()
                );
            };
            Ok(LoadedInput {
                ct,
                body: None,
                lesion: Some(mask.map(|&v| f32::from(v != 0))),
            })
        }
    }
}

fn to_mask(p: &Preprocessed, map: &Volume<f32>) -> Volume<u8> {
    p.from_original_grid(map).map(|&v| u8::from(v >= 0.5))
}

/// Preprocesses one input and writes its files as `<cache>/<id>.*`.
fn cache_one(
    source: &Source,
    split: Split,
    id: &str,
    params: &PreprocessParams,
    cache_dir: &Path,
) -> anyhow::Result<CachedVolume> {
    let input = load(source)?;
    if input.ct.dims().is_empty() {
        bail!("empty volume");
    }
    let p = preprocess(&input.ct, params);
    let body_original = input
        .body
        .unwrap_or_else(|| input.ct.map(|&hu| f32::from(hu > params.body_threshold_hu)));
    let body = to_mask(&p, &body_original);
    let image_stem = format!("{id}.image");
    let body_stem = format!("{id}.body");
    write_volume(&p.volume, &cache_dir.join(&image_stem))?;
    write_volume(&body, &cache_dir.join(&body_stem))?;
    let lesion = match &input.lesion {
        Some(mask) => {
            let stem = format!("{id}.lesion");
            write_volume(&to_mask(&p, mask), &cache_dir.join(&stem))?;
            Some(stem)
        }
        None => None,
    };
    Ok(CachedVolume {
        id: id.to_string(),
        split,
        source: source.describe(),
        dims: p.volume.dims(),
        geometry: p.volume.geometry,
        image: image_stem,
        body: body_stem,
        lesion,
        group: source.group(),
    })
}

fn still_cached(
    previous: &DatasetIndex,
    id: &str,
    source: &str,
    cache_dir: &Path,
) -> Option<CachedVolume> {
    let v = previous
        .volumes
        .iter()
        .find(|v| v.id == id && v.source == source)?;
    let files = [Some(&v.image), Some(&v.body), v.lesion.as_ref()];
    files
        .into_iter()
        .flatten()
        .all(|stem| cache_dir.join(format!("{stem}.json")).exists())
        .then(|| v.clone())
}

/// Discovers, preprocesses and caches every input of `config` into `cache_dir` with
/// `config.workers` threads, calling `on_done` after each input; writes `index.json` and
/// `skipped.json`.
pub fn prepare_dataset(
    config: &DataConfig,
    cache_dir: &Path,
    on_done: &(dyn Fn(usize, &str) + Sync),
) -> anyhow::Result<PrepareReport> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let (sources, mut skipped) = discover_sources(config);
    let params = config.preprocess.params();
    let previous = DatasetIndex::load(cache_dir)
        .ok()
        .filter(|p| p.preprocess.as_ref() == Some(&params))
        .unwrap_or_default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.workers)
        .build()
        .context("starting the preprocessing workers")?;
    let jobs: Vec<(String, Split, Source)> = sources
        .into_iter()
        .enumerate()
        .map(|(n, (split, source))| (format!("{}-{n:05}", split.name()), split, source))
        .collect();
    let total = jobs.len();
    let results: Vec<(Result<CachedVolume, String>, bool, String)> = pool.install(|| {
        jobs.par_iter()
            .map(|(id, split, source)| {
                let described = source.describe();
                let outcome = match still_cached(&previous, id, &described, cache_dir) {
                    Some(v) => (
                        Ok(CachedVolume {
                            group: source.group(),
                            ..v
                        }),
                        true,
                    ),
                    None => (
                        cache_one(source, *split, id, &params, cache_dir)
                            .map_err(|e| format!("{e:#}")),
                        false,
                    ),
                };
                on_done(total, &described);
                (outcome.0, outcome.1, described)
            })
            .collect()
    });
    let mut index = DatasetIndex {
        preprocess: Some(params.clone()),
        volumes: Vec::new(),
    };
    let mut reused = 0;
    for (result, was_cached, source) in results {
        match result {
            Ok(v) => {
                reused += usize::from(was_cached);
                index.volumes.push(v);
            }
            Err(reason) => skipped.push(Skipped { source, reason }),
        }
    }
    index.save(cache_dir)?;
    std::fs::write(
        cache_dir.join(DatasetIndex::SKIPPED_FILE),
        serde_json::to_vec_pretty(&skipped)?,
    )?;
    Ok(PrepareReport {
        cache_dir: cache_dir.to_path_buf(),
        index,
        skipped,
        reused,
    })
}
