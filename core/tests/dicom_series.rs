//! DICOM series -> volume on the real CT in `../shared/data/ct`, on every transfer syntax
//! that dcmtk and GDCM can write, and on series with each kind of defect.
//!
//! dcmtk (dcmconv, dcmcjpeg, dcmcrle, dcmcjpls, dcmodify) and GDCM (gdcmconv) are installed by
//! `scripts/install-system-deps.sh`; the tests fail, not skip, without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use screener_core::dicom_series::{read_series_folder, scan_folder, LoadedSeries, SeriesError};

fn shared_ct(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/ct")
        .join(name)
}

fn dicom_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with(".gz"))
        .collect();
    files.sort();
    files
}

/// Copies `files` into a new folder under random names, so that neither file name nor
/// directory order says anything about slice order.
fn shuffled_copy(files: &[PathBuf], seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<usize> = (0..files.len()).collect();
    names.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    for (f, n) in files.iter().zip(names) {
        std::fs::copy(f, dir.path().join(format!("x{n:04}"))).unwrap();
    }
    dir
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); run scripts/install-system-deps.sh"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path) -> LoadedSeries {
    read_series_folder(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn max_abs_diff(a: &LoadedSeries, b: &LoadedSeries) -> f32 {
    assert_eq!(a.volume.dims(), b.volume.dims());
    a.volume
        .data
        .iter()
        .zip(b.volume.data.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_shared_series_reads_the_same_whatever_the_file_order() {
    // (folder, slices, in-plane spacing, slice spacing)
    let expected = [
        ("acrin-flt-breast-013", 49, 1.3671875, 4.0),
        ("cptac-pda-abdomen", 35, 0.859375, 5.0),
        ("itkelastix-chest", 141, 0.9765625, 2.0),
        ("totalsegmentator/example_ct_dicom", 20, 0.9765625, 2.0),
    ];
    for (n, (name, slices, pixel, gap)) in expected.into_iter().enumerate() {
        let dir = shared_ct(name);
        let original = read(&dir);
        let shuffled = read(shuffled_copy(&dicom_files(&dir), n as u64).path());
        let v = &shuffled.volume;
        assert_eq!(v.dims().k, slices, "{name}");
        assert!((v.geometry.spacing[0] - pixel).abs() < 1e-6, "{name}");
        assert!((v.geometry.spacing[2] - gap).abs() < 1e-3, "{name}");
        assert_eq!(shuffled.volume, original.volume, "{name}");
        assert!(!shuffled.restacked, "{name}");
        // Air outside the body and bone inside: the rescale was applied.
        let min = v.data.iter().cloned().fold(f32::MAX, f32::min);
        let max = v.data.iter().cloned().fold(f32::MIN, f32::max);
        assert!(
            min <= -1000.0 && max > 700.0,
            "{name}: HU range [{min}, {max}]"
        );
    }
}

#[test]
fn slices_are_stacked_by_position_not_by_instance_number() {
    let dir = shared_ct("itkelastix-chest");
    let series = &scan_folder(&dir).unwrap().series[0];
    let loaded = read(&dir);
    let g = loaded.volume.geometry;
    // Every file's position is exactly where its slice index says it is.
    let first = loaded
        .volume
        .data
        .index_axis(ndarray::Axis(0), 0)
        .to_owned();
    let lowest = series
        .instances
        .iter()
        .min_by(|a, b| a.frames[0].position[2].total_cmp(&b.frames[0].position[2]))
        .unwrap();
    assert!((lowest.frames[0].position[2] - g.origin[2]).abs() < 1e-6);
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&lowest.path, alone.path().join("a")).unwrap();
    let next = series
        .instances
        .iter()
        .find(|i| (i.frames[0].position[2] - g.origin[2] - g.spacing[2]).abs() < 1e-3)
        .unwrap();
    std::fs::copy(&next.path, alone.path().join("b")).unwrap();
    let pair = read(alone.path());
    assert_eq!(pair.volume.data.index_axis(ndarray::Axis(0), 0), first);
}

#[test]
fn gantry_tilt_is_resampled_onto_an_orthogonal_grid() {
    let dir = shared_ct("dcm-qa-ct-ge-head-tilt");
    let loaded = read(shuffled_copy(&dicom_files(&dir), 7).path());
    assert!(loaded.restacked);
    assert!(
        (loaded.tilt_degrees - 18.5).abs() < 0.1,
        "{}",
        loaded.tilt_degrees
    );
    let g = loaded.volume.geometry;
    assert!(g.is_orthonormal(1e-9));
    // The slice (k) axis is the slice normal, not the table direction.
    let n = g.slice_normal();
    assert!(
        (n[0] * g.direction[2][0] + n[1] * g.direction[2][1] + n[2] * g.direction[2][2] - 1.0)
            .abs()
            < 1e-9
    );
    // 4 mm then 7 mm slices over 151.9 mm along z, i.e. 144 mm along the normal.
    let extent = g.spacing[2] * (loaded.volume.dims().k - 1) as f64;
    assert!((extent - 144.0).abs() < 4.5, "extent {extent}");
    let brain = loaded
        .volume
        .data
        .iter()
        .filter(|&&v| (20.0..60.0).contains(&v))
        .count();
    assert!(brain > 100_000, "{brain} brain voxels");
}

/// Lossless syntaxes decode to exactly the values of the uncompressed original.
#[test]
fn every_lossless_transfer_syntax_decodes_to_the_original_values() {
    let source = dicom_files(&shared_ct("itkelastix-chest"));
    let src = tempfile::tempdir().unwrap();
    for f in &source[60..66] {
        std::fs::copy(f, src.path().join(f.file_name().unwrap())).unwrap();
    }
    let reference = read(src.path());
    let explicit = transcode(src.path(), "dcmconv", &["+te"]);
    let cases: [(&str, &str, &[&str]); 7] = [
        ("explicit VR little endian", "dcmconv", &["+te"]),
        ("deflated explicit VR little endian", "dcmconv", &["+td"]),
        ("JPEG lossless process 14", "dcmcjpeg", &["+el"]),
        ("JPEG lossless SV1", "dcmcjpeg", &["+e1"]),
        ("RLE lossless", "dcmcrle", &[]),
        ("JPEG-LS lossless", "dcmcjpls", &[]),
        ("JPEG 2000 lossless", "gdcmconv", &["--j2k"]),
    ];
    for (name, tool, args) in cases {
        let input = if tool == "gdcmconv" {
            explicit.path()
        } else {
            src.path()
        };
        let out = transcode(input, tool, args);
        let decoded = read(out.path());
        assert_eq!(decoded.volume.geometry, reference.volume.geometry, "{name}");
        assert_eq!(max_abs_diff(&decoded, &reference), 0.0, "{name}");
    }
}

/// JPEG baseline is lossy and 8-bit: dcmcjpeg rescales the 12-bit values and records the
/// new slope and intercept, so the decoded HU are close to, not equal to, the original.
#[test]
fn jpeg_baseline_decodes_close_to_the_original() {
    let source = dicom_files(&shared_ct("itkelastix-chest"));
    let src = tempfile::tempdir().unwrap();
    for f in &source[60..64] {
        std::fs::copy(f, src.path().join(f.file_name().unwrap())).unwrap();
    }
    let reference = read(src.path());
    let decoded = read(transcode(src.path(), "dcmcjpeg", &["+eb"]).path());
    let n = reference.volume.data.len() as f32;
    let mean_abs = decoded
        .volume
        .data
        .iter()
        .zip(reference.volume.data.iter())
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / n;
    // One 8-bit step is 16 HU here; the mean error stays within it.
    assert!(mean_abs < 16.0, "mean abs error {mean_abs} HU");
}

/// 12-bit JPEG extended (process 2 and 4) is beyond dicom-pixeldata's JPEG decoder: it must
/// fail with an error naming the file and the transfer syntax, so the listener never offers it.
#[test]
fn jpeg_extended_is_refused_with_a_clear_error() {
    let source = dicom_files(&shared_ct("itkelastix-chest"));
    let src = tempfile::tempdir().unwrap();
    for f in &source[60..62] {
        std::fs::copy(f, src.path().join(f.file_name().unwrap())).unwrap();
    }
    let e = error_of(transcode(src.path(), "dcmcjpeg", &["+ee"]).path());
    let text = e.to_string();
    assert!(matches!(e, SeriesError::Decode { .. }), "{text}");
    assert!(
        text.contains("1.2.840.10008.1.2.4.51") && text.contains("00-slice06"),
        "{text}"
    );
}

fn transcode(input: &Path, tool: &str, args: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    for f in dicom_files(input) {
        let target = out.path().join(f.file_name().unwrap());
        let mut all: Vec<&str> = args.to_vec();
        all.push(f.to_str().unwrap());
        all.push(target.to_str().unwrap());
        run(tool, &all);
    }
    out
}

/// A writable copy of 8 consecutive slices of a real series.
fn small_series() -> (tempfile::TempDir, Vec<PathBuf>) {
    let source = dicom_files(&shared_ct("cptac-pda-abdomen"));
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (n, f) in source[10..18].iter().enumerate() {
        let target = dir.path().join(format!("s{n}.dcm"));
        std::fs::copy(f, &target).unwrap();
        let mut perms = std::fs::metadata(&target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&target, perms).unwrap();
        files.push(target);
    }
    (dir, files)
}

fn modify(file: &Path, assignment: &str) {
    run(
        "dcmodify",
        &["-nb", "-m", assignment, file.to_str().unwrap()],
    );
}

fn error_of(dir: &Path) -> SeriesError {
    match read_series_folder(dir) {
        Ok(_) => panic!("{} should not load", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn non_ct_modality_is_reported_with_its_file() {
    let (dir, files) = small_series();
    modify(&files[3], "(0008,0060)=MR");
    let e = error_of(dir.path());
    assert!(
        matches!(e, SeriesError::NotCt { ref path, .. } if path == &files[3]),
        "{e}"
    );
    assert!(e.to_string().contains("s3.dcm") && e.to_string().contains("MR"));
}

#[test]
fn missing_slice_is_reported_with_its_position() {
    let (dir, files) = small_series();
    std::fs::remove_file(&files[4]).unwrap();
    match error_of(dir.path()) {
        SeriesError::MissingSlices {
            before,
            after,
            missing,
            gap_mm,
            ..
        } => {
            let names =
                [&before, &after].map(|p| p.file_name().unwrap().to_str().unwrap().to_owned());
            let mut names = names.to_vec();
            names.sort();
            assert_eq!(names, ["s3.dcm", "s5.dcm"]);
            assert_eq!(missing, 1);
            assert!((gap_mm - 10.0).abs() < 1e-3);
        }
        e => panic!("wrong error: {e}"),
    }
}

#[test]
fn duplicate_position_names_both_files() {
    let (dir, files) = small_series();
    let copy = dir.path().join("copy.dcm");
    std::fs::copy(&files[2], &copy).unwrap();
    modify(&copy, "(0008,0018)=1.2.3.4.5.6.7.8.9");
    let e = error_of(dir.path());
    assert!(matches!(e, SeriesError::DuplicatePosition { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("copy.dcm") && text.contains("s2.dcm"),
        "{text}"
    );
}

#[test]
fn mixed_orientation_is_reported() {
    let (dir, files) = small_series();
    modify(&files[5], "(0020,0037)=1\\0\\0\\0\\0\\-1");
    let e = error_of(dir.path());
    assert!(matches!(e, SeriesError::MixedOrientation { .. }), "{e}");
    assert!(e.to_string().contains("s5.dcm") || e.to_string().contains("s0.dcm"));
}

#[test]
fn inconsistent_rows_and_pixel_spacing_are_reported() {
    let (dir, files) = small_series();
    modify(&files[6], "(0028,0030)=0.5\\0.5");
    let e = error_of(dir.path());
    assert!(
        matches!(
            e,
            SeriesError::InconsistentImage {
                what: "PixelSpacing",
                ..
            }
        ),
        "{e}"
    );
    let (dir, files) = small_series();
    modify(&files[1], "(0028,0010)=256");
    let e = error_of(dir.path());
    assert!(
        matches!(e, SeriesError::InconsistentImage { what: "Rows", .. }),
        "{e}"
    );
}

#[test]
fn unreadable_file_is_named_and_the_rest_of_the_folder_still_scans() {
    let (dir, files) = small_series();
    std::fs::write(&files[0], b"this is not DICOM").unwrap();
    let scan = scan_folder(dir.path()).unwrap();
    assert_eq!(scan.series.len(), 1);
    assert_eq!(scan.series[0].instances.len(), 7);
    assert_eq!(scan.unreadable.len(), 1);
    assert!(scan.unreadable[0].to_string().contains("s0.dcm"));
    // Truncated pixel data is a decoding error that names the file.
    let (dir, files) = small_series();
    let bytes = std::fs::read(&files[2]).unwrap();
    std::fs::write(&files[2], &bytes[..bytes.len() - 1000]).unwrap();
    let e = error_of(dir.path());
    assert!(e.to_string().contains("s2.dcm"), "{e}");
}

#[test]
fn a_folder_with_two_series_is_split_by_series_uid() {
    let (dir, files) = small_series();
    for f in &files[4..] {
        modify(f, "(0020,000E)=1.2.826.0.1.3680043.10.1.999");
    }
    let scan = scan_folder(dir.path()).unwrap();
    assert_eq!(scan.series.len(), 2);
    assert!(scan.series.iter().all(|s| s.instances.len() == 4));
    assert!(matches!(
        error_of(dir.path()),
        SeriesError::SeveralSeries { count: 2, .. }
    ));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dicom")
        .join(name)
}

/// highdicom's Legacy Converted Enhanced CT of the oblique series (frames with their own
/// positions and rescale in functional groups) reads to the same volume as the single frames.
#[test]
fn enhanced_multiframe_ct_reads_like_its_single_frame_source() {
    let single = read(&fixture("oblique-single-frame"));
    let multi = read(&fixture("legacy-converted-enhanced"));
    assert_eq!(single.volume.dims(), screener_core::Dims::new(32, 24, 5));
    assert!(
        multi
            .volume
            .geometry
            .max_difference(&single.volume.geometry)
            < 1e-9
    );
    assert_eq!(multi.volume.data, single.volume.data);
    // Oblique rows: the in-plane axes follow ImageOrientationPatient.
    assert_eq!(single.volume.geometry.direction[0], [0.8, 0.6, 0.0]);
    assert_eq!(single.volume.geometry.spacing, [0.7, 0.75, 2.5]);
}
