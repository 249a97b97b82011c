//! `prepare` indexes a folder tree and the phantom sets; unreadable inputs are skipped and
//! listed with their reason, never fatal.

mod common;

use screener_core::nifti_io::write_nifti;
use screener_core::phantom::PhantomSpec;
use screener_core::Dims;
use screener_trainer::config::{LabelledRole, LesionScan};
use screener_trainer::data::{read_volume, DatasetIndex, Skipped, Split};
use screener_trainer::stages::{self, RunLayout};

#[test]
fn a_corrupt_file_is_skipped_and_listed_while_the_rest_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("good")).unwrap();
    std::fs::create_dir_all(data.join("bad")).unwrap();
    let phantom = PhantomSpec::new(5, Dims::new(48, 48, 20), [6.0, 6.0, 9.0]).generate();
    write_nifti(&phantom.ct, &data.join("good/ct.nii.gz")).unwrap();
    std::fs::write(data.join("bad/broken.nii.gz"), b"not a nifti file at all").unwrap();

    let mut config = common::ci_config();
    config.data.roots = vec![data.clone()];
    let layout = RunLayout::new(&dir.path().join("run"), &config);
    let report = stages::prepare::run(&config, &layout).unwrap();

    let index = DatasetIndex::load(layout.cache_dir()).unwrap();
    let train = index.split(Split::Train);
    // The good NIfTI plus the two lesion-free phantoms.
    assert_eq!(train.len(), 3, "{train:#?}");
    assert!(train.iter().any(|v| v.source.ends_with("ct.nii.gz")));
    assert_eq!(index.split(Split::Evaluate).len(), 2);
    assert!(index
        .split(Split::Evaluate)
        .iter()
        .all(|v| v.lesion.is_some()));

    let skipped: Vec<Skipped> =
        serde_json::from_slice(&std::fs::read(layout.cache_dir().join("skipped.json")).unwrap())
            .unwrap();
    assert_eq!(skipped, report.skipped);
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert!(skipped[0].source.ends_with("broken.nii.gz"));
    assert!(!skipped[0].reason.is_empty());

    let image = read_volume::<f32>(&layout.cache_dir().join(&train[0].image)).unwrap();
    assert_eq!(image.dims(), train[0].dims);
    assert!(image.data.iter().all(|v| (0.0..=1.0).contains(v)));

    // A second prepare reuses every cached volume.
    let again = stages::prepare::run(&config, &layout).unwrap();
    assert_eq!(again.reused, index.volumes.len());
}

#[test]
fn a_lesion_scan_is_cached_with_the_mask_of_its_inserted_lesions() {
    let dir = tempfile::tempdir().unwrap();
    let phantom = PhantomSpec::new(6, Dims::new(64, 64, 24), [5.0, 5.0, 8.0]).generate();
    let image = dir.path().join("scan.nii.gz");
    write_nifti(&phantom.ct, &image).unwrap();

    let mut config = common::ci_config();
    config.data.eval_phantoms.count = 0;
    config.data.lesion_scans = vec![LesionScan {
        image: image.clone(),
        lesions: 3,
        seed: 40_000,
        role: LabelledRole::Evaluate,
    }];
    let layout = RunLayout::new(&dir.path().join("run"), &config);
    let report = stages::prepare::run(&config, &layout).unwrap();
    assert!(report.skipped.is_empty(), "{:#?}", report.skipped);

    let evaluate = report.index.split(Split::Evaluate);
    assert_eq!(evaluate.len(), 1);
    assert_eq!(evaluate[0].group, "scan.nii.gz + lesions");
    let cache = layout.cache_dir();
    let lesion = read_volume::<u8>(&cache.join(evaluate[0].lesion.as_ref().unwrap())).unwrap();
    let image = read_volume::<f32>(&cache.join(&evaluate[0].image)).unwrap();
    let lesion_voxels = lesion.data.iter().filter(|&&v| v != 0).count();
    assert!(lesion_voxels > 0);
    // The lesions changed the image where they are: it differs from the lesion-free scan.
    let plain =
        screener_core::preprocess::preprocess(&phantom.ct, &config.data.preprocess.params());
    assert_eq!(plain.volume.dims(), image.dims());
    let changed = image
        .data
        .iter()
        .zip(plain.volume.data.iter())
        .zip(lesion.data.iter())
        .filter(|((a, b), &m)| m != 0 && (*a - *b).abs() > 0.01)
        .count();
    assert!(changed * 2 > lesion_voxels, "{changed} of {lesion_voxels}");
}
