//! Training data: finding CTs (DICOM series, NIfTI, NRRD, generated phantoms), preprocessing
//! each once with core into an on-disk cache listed by `index.json`, and drawing random
//! patches or whole volumes from that cache.

pub mod cache;
pub mod index;
pub mod loader;
pub mod prepare;
pub mod sources;

pub use cache::{read_volume, write_volume, VolumeHeader};
pub use index::{CachedVolume, DatasetIndex, Skipped, Split};
pub use loader::{patches_to_tensor, CachedCase, VolumeStore};
pub use prepare::{prepare_dataset, PrepareReport};
pub use sources::{discover_sources, Source};
