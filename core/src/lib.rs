//! screener-core: the synchronous foundation shared by the node and the trainer.
//!
//! It owns volumes and their patient geometry, the readers and writers of DICOM series,
//! NIfTI and NRRD, the preprocessing of `docs/METHOD.md`, sliding-window patches, evaluation
//! metrics and the synthetic CT phantoms. It is not for networking, databases or neural
//! network runtimes: it depends on none of tokio, sqlx, ort or burn.

pub mod bundle;
pub mod dicom_series;
pub mod dicom_text;
pub mod geometry;
pub mod input;
pub mod metrics;
pub mod nifti_io;
pub mod nrrd_io;
pub mod patches;
pub mod phantom;
pub mod preprocess;
pub mod volume;

pub use geometry::{Dims, Geometry, PatientPoint, VoxelPoint};
pub use volume::{CtVolume, Mask, Volume};
