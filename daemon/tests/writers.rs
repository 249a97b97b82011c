//! The SEG and overlay writers on a real CT series (CPTAC-PDA abdomen, 35 slices) with a
//! spherical phantom lesion: dciodvfy finds no errors, and highdicom reads the segment back
//! onto the same source voxels, by reference and by geometry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dicom_dictionary_std::tags;
use dicom_object::open_file;
use screener_core::dicom_series::{load_series, scan_folder};
use screener_core::{CtVolume, Mask, Volume};
use screener_daemon::writers::{
    overlay_instance_uid, uid_from_seed, write_overlay, write_segmentation, Algorithm,
    ContentDateTime, OverlayParams, SegParams, SegmentationValues, SourceSeries, WriterError,
};

const SERIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/ct/cptac-pda-abdomen"
);
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Lesion centre (column, row, slice; fractional on purpose) and radius in mm.
const CENTRE: [f64; 3] = [318.4, 205.7, 20.3];
const RADIUS_MM: f64 = 14.0;

struct Fixture {
    source: SourceSeries,
    ct: CtVolume,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let scan = scan_folder(Path::new(SERIES)).expect("the CPTAC series is readable");
        assert_eq!(scan.series.len(), 1, "one series in {SERIES}");
        let files = &scan.series[0];
        let loaded = load_series(files).expect("the series loads");
        assert!(!loaded.restacked);
        let source = SourceSeries::open(files.instances.clone()).expect("source opens");
        Fixture {
            source,
            ct: loaded.volume,
        }
    })
}

/// Distance (mm) of every voxel from the lesion centre, mapped by `f`.
fn sphere<T: Clone + Default>(ct: &CtVolume, f: impl Fn(f64) -> T) -> Volume<T> {
    let g = ct.geometry;
    let c = g.voxel_to_patient(screener_core::VoxelPoint(CENTRE)).0;
    let mut v = Volume::zeros(ct.dims(), g);
    for ((k, j, i), out) in v.data.indexed_iter_mut() {
        let p = g
            .voxel_to_patient(screener_core::VoxelPoint([i as f64, j as f64, k as f64]))
            .0;
        let d = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
        *out = f(d);
    }
    v
}

fn lesion_mask(ct: &CtVolume) -> Mask {
    sphere(ct, |d| u8::from(d <= RADIUS_MM))
}

/// Probability falling linearly from 1 at the centre to 0 at 1.5 radii.
fn lesion_probability(ct: &CtVolume) -> Volume<f32> {
    sphere(ct, |d| (1.0 - d / (1.5 * RADIUS_MM)).max(0.0) as f32)
}

fn params(name: &str) -> SegParams {
    let mut p = SegParams::new(
        uid_from_seed(&format!("test series {name}")),
        uid_from_seed(&format!("test instance {name}")),
        Algorithm {
            name: "screener-anomaly".into(),
            version: "0.1.0".into(),
            parameters: "threshold=0.5".into(),
        },
    );
    p.created = ContentDateTime::from_unix_seconds(1_700_000_000);
    p
}

fn out_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write_seg(values: SegmentationValues, name: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{name}.dcm"));
    write_segmentation(&fixture().source, values, &params(name), &path).expect("SEG written");
    path
}

/// dciodvfy's report on `path`; fails (never skips) when dciodvfy is missing.
fn dciodvfy_errors(path: &Path) -> Vec<String> {
    let out = Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("dciodvfy must be installed: run scripts/install-system-deps.sh");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    report
        .lines()
        .filter(|l| l.contains("Error"))
        .map(str::to_owned)
        .collect()
}

fn assert_valid(path: &Path) {
    let errors = dciodvfy_errors(path);
    assert!(
        errors.is_empty(),
        "dciodvfy errors in {}:\n{}",
        path.display(),
        errors.join("\n")
    );
}

/// Source voxels (flat index, stored value) per source SOP Instance UID, as JSON gives them.
type VoxelsByInstance = BTreeMap<String, Vec<(usize, u32)>>;

fn python() -> String {
    let out = Command::new("bash")
        .arg("scripts/python-env.sh")
        .current_dir(REPO)
        .output()
        .expect("bash runs scripts/python-env.sh");
    assert!(
        out.status.success(),
        "python-env.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct HighdicomView {
    segmentation_type: String,
    frames: usize,
    by_reference: VoxelsByInstance,
    by_geometry: VoxelsByInstance,
}

fn read_with_highdicom(seg: &Path) -> HighdicomView {
    let out = Command::new(python())
        .arg("scripts/check_seg_with_highdicom.py")
        .arg(seg)
        .arg(SERIES)
        .current_dir(REPO)
        .output()
        .expect("the venv python runs");
    assert!(
        out.status.success(),
        "check_seg_with_highdicom.py failed on {}: {}",
        seg.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let voxels = |key: &str| -> VoxelsByInstance {
        json[key]
            .as_object()
            .expect("an object")
            .iter()
            .map(|(uid, list)| {
                let v = list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|pair| {
                        (
                            pair[0].as_u64().unwrap() as usize,
                            pair[1].as_u64().unwrap() as u32,
                        )
                    })
                    .collect();
                (uid.clone(), v)
            })
            .collect()
    };
    HighdicomView {
        segmentation_type: json["segmentation_type"].as_str().unwrap().to_owned(),
        frames: json["frames"].as_u64().unwrap() as usize,
        by_reference: voxels("by_reference"),
        by_geometry: voxels("by_geometry"),
    }
}

/// The voxels of `values` per source instance, with the value they should be stored as.
fn expected<T>(values: &Volume<T>, stored: impl Fn(&T) -> u32) -> VoxelsByInstance {
    let source = &fixture().source;
    let mut map = VoxelsByInstance::new();
    for (k, slice) in values.data.outer_iter().enumerate() {
        let found: Vec<(usize, u32)> = slice
            .iter()
            .enumerate()
            .map(|(n, v)| (n, stored(v)))
            .filter(|&(_, s)| s != 0)
            .collect();
        if !found.is_empty() {
            map.insert(source.slice(k).0.sop_instance_uid.clone(), found);
        }
    }
    map
}

#[test]
fn binary_seg_passes_dciodvfy() {
    let dir = out_dir();
    let mask = lesion_mask(&fixture().ct);
    assert_valid(&write_seg(
        SegmentationValues::Binary(&mask),
        "binary",
        dir.path(),
    ));
}

#[test]
fn fractional_seg_passes_dciodvfy() {
    let dir = out_dir();
    let p = lesion_probability(&fixture().ct);
    assert_valid(&write_seg(
        SegmentationValues::Fractional(&p),
        "fractional",
        dir.path(),
    ));
}

#[test]
fn binary_seg_lands_on_the_source_voxels_in_highdicom() {
    let dir = out_dir();
    let mask = lesion_mask(&fixture().ct);
    let want = expected(&mask, |&v| u32::from(v != 0));
    assert!(want.len() >= 4, "the lesion spans several slices");
    let seg = read_with_highdicom(&write_seg(
        SegmentationValues::Binary(&mask),
        "binary",
        dir.path(),
    ));
    assert_eq!(seg.segmentation_type, "BINARY");
    assert_eq!(
        seg.frames,
        want.len(),
        "only slices with the segment are frames"
    );
    assert_eq!(seg.by_reference, want, "by source image reference");
    assert_eq!(seg.by_geometry, want, "by plane position");
}

#[test]
fn fractional_seg_keeps_its_probabilities_on_the_source_voxels_in_highdicom() {
    let dir = out_dir();
    let p = lesion_probability(&fixture().ct);
    let want = expected(
        &p,
        |&v| u32::from((v.clamp(0.0, 1.0) * 255.0).round() as u8),
    );
    let seg = read_with_highdicom(&write_seg(
        SegmentationValues::Fractional(&p),
        "fractional",
        dir.path(),
    ));
    assert_eq!(seg.segmentation_type, "FRACTIONAL");
    assert_eq!(seg.by_reference, want, "by source image reference");
    assert_eq!(seg.by_geometry, want, "by plane position");
}

#[test]
fn an_empty_mask_gives_a_valid_seg_with_one_empty_frame() {
    let dir = out_dir();
    let ct = &fixture().ct;
    let empty: Mask = Volume::zeros(ct.dims(), ct.geometry);
    let path = dir.path().join("empty.dcm");
    let summary = write_segmentation(
        &fixture().source,
        SegmentationValues::Binary(&empty),
        &params("empty"),
        &path,
    )
    .unwrap();
    assert!(summary.empty);
    assert_eq!(summary.frames, 1);
    assert_valid(&path);
    let seg = read_with_highdicom(&path);
    assert_eq!(seg.frames, 1);
    assert!(seg.by_reference.is_empty() && seg.by_geometry.is_empty());
}

#[test]
fn seg_written_twice_with_the_same_params_is_byte_identical() {
    let dir = out_dir();
    let mask = lesion_mask(&fixture().ct);
    let a = write_seg(SegmentationValues::Binary(&mask), "same", dir.path());
    let first = std::fs::read(&a).unwrap();
    let b = write_seg(SegmentationValues::Binary(&mask), "same", dir.path());
    assert_eq!(first, std::fs::read(&b).unwrap());
    let obj = open_file(&b).unwrap();
    let uid = obj
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(uid.trim_end_matches('\0'), params("same").instance_uid);
}

#[test]
fn a_mask_off_the_source_grid_is_refused() {
    let ct = &fixture().ct;
    let mut g = ct.geometry;
    g.origin[2] += 2.5;
    let shifted: Mask = Volume::zeros(ct.dims(), g);
    let err = write_segmentation(
        &fixture().source,
        SegmentationValues::Binary(&shifted),
        &params("shifted"),
        &out_dir().path().join("x.dcm"),
    )
    .unwrap_err();
    assert!(matches!(err, WriterError::GridMismatch { .. }), "{err}");
    assert!(err.to_string().contains(fixture().source.series_uid()));
}

fn overlay_params() -> OverlayParams {
    let mut p = OverlayParams::new(uid_from_seed("test overlay series"));
    p.created = ContentDateTime::from_unix_seconds(1_700_000_000);
    p
}

#[test]
fn overlay_images_pass_dciodvfy_and_carry_the_source_geometry() {
    let dir = out_dir();
    let f = fixture();
    let scores = lesion_probability(&f.ct);
    let params = overlay_params();
    let paths = write_overlay(&f.source, &f.ct, &scores, &params, dir.path()).unwrap();
    assert_eq!(paths.len(), f.ct.dims().k);
    let k_lesion = CENTRE[2].round() as usize;
    for k in [0, k_lesion, paths.len() - 1] {
        assert_valid(&paths[k]);
    }
    let obj = open_file(&paths[k_lesion]).unwrap();
    let text = |tag| {
        obj.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(['\0', ' '])
            .to_owned()
    };
    let (inst, frame) = f.source.slice(k_lesion);
    assert_eq!(
        text(tags::SOP_INSTANCE_UID),
        overlay_instance_uid(&params.series_uid, &inst.sop_instance_uid, frame.frame)
    );
    assert_eq!(
        text(tags::FRAME_OF_REFERENCE_UID),
        f.source.frame_of_reference_uid
    );
    assert_eq!(text(tags::STUDY_INSTANCE_UID), inst.study_uid);
    let ipp = obj
        .element(tags::IMAGE_POSITION_PATIENT)
        .unwrap()
        .to_multi_float64()
        .unwrap();
    for c in 0..3 {
        assert!((ipp[c] - frame.position[c]).abs() < 1e-4, "{ipp:?}");
    }
    let source_ref = obj
        .element(tags::SOURCE_IMAGE_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0]
        .element(tags::REFERENCED_SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_owned();
    assert_eq!(source_ref, inst.sop_instance_uid);
    // The lesion centre is coloured; far from it the pixel is grey.
    let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    let columns = f.ct.dims().i;
    let at = |i: usize, j: usize| {
        let p = 3 * (j * columns + i);
        [pixels[p], pixels[p + 1], pixels[p + 2]]
    };
    let hot = at(CENTRE[0].round() as usize, CENTRE[1].round() as usize);
    assert!(
        hot[0] != hot[2],
        "lesion centre should be coloured: {hot:?}"
    );
    let far = at(100, 400);
    assert!(far[0] == far[1] && far[1] == far[2], "{far:?}");
}

#[test]
fn a_tilted_series_is_refused_as_not_frame_aligned() {
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/ct/dcm-qa-ct-ge-head-tilt"
    );
    let scan = scan_folder(Path::new(folder)).expect("the tilted series is readable");
    let err = SourceSeries::open(scan.series[0].instances.clone()).unwrap_err();
    assert!(matches!(err, WriterError::NotFrameAligned { .. }), "{err}");
    assert!(err.to_string().contains("tilt"), "{err}");
}
