//! Volume formats agree: a series converted by dcm2niix (the reference converter, installed
//! by `scripts/install-system-deps.sh`) and read by our NIfTI reader puts every value at the
//! same patient position as our DICOM reader does; NIfTI and NRRD files from other tools read.

use std::path::{Path, PathBuf};
use std::process::Command;

use screener_core::dicom_series::read_series_folder;
use screener_core::nifti_io::{read_nifti, write_nifti};
use screener_core::VoxelPoint;

fn shared_ct(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/ct")
        .join(name)
}

#[test]
fn dcm2niix_output_and_our_dicom_reader_agree_voxel_by_voxel() {
    for series in ["totalsegmentator/example_ct_dicom", "acrin-flt-breast-013"] {
        let dicom = read_series_folder(&shared_ct(series)).unwrap().volume;
        let out = tempfile::tempdir().unwrap();
        let status = Command::new("dcm2niix")
            .args(["-z", "n", "-f", "ct", "-o"])
            .arg(out.path())
            .arg(shared_ct(series))
            .output()
            .expect("dcm2niix not runnable; run scripts/install-system-deps.sh");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let nifti = read_nifti(&out.path().join("ct.nii")).unwrap();
        assert_eq!(nifti.dims().len(), dicom.dims().len(), "{series}");
        let d = dicom.dims();
        let mut compared = 0;
        for k in (0..d.k).step_by(3) {
            for j in (0..d.j).step_by(37) {
                for i in (0..d.i).step_by(41) {
                    let p = dicom
                        .geometry
                        .voxel_to_patient(VoxelPoint([i as f64, j as f64, k as f64]));
                    let v = nifti.geometry.patient_to_voxel(p).0;
                    let idx = v.map(|x| x.round());
                    assert!(
                        v.iter().zip(idx).all(|(a, b)| (a - b).abs() < 1e-3),
                        "{series}: {v:?}"
                    );
                    let got = *nifti.at(idx[0] as usize, idx[1] as usize, idx[2] as usize);
                    assert_eq!(got, *dicom.at(i, j, k), "{series} at {:?}", [i, j, k]);
                    compared += 1;
                }
            }
        }
        assert!(compared > 500);
    }
}

#[test]
fn totalsegmentator_nifti_reads_with_its_sform() {
    let ct = read_nifti(&shared_ct("totalsegmentator/example_ct.nii.gz")).unwrap();
    assert_eq!(ct.dims(), screener_core::Dims::new(122, 101, 112));
    assert_eq!(ct.geometry.spacing, [3.0, 3.0, 3.0]);
    // RAS +x (towards the right) is LPS -x.
    assert_eq!(ct.geometry.direction[0], [-1.0, 0.0, 0.0]);
    assert!((ct.geometry.origin[0] - 177.95632935).abs() < 1e-4);
    let seg = read_nifti(&shared_ct("totalsegmentator/example_seg.nii.gz")).unwrap();
    assert_eq!(
        seg.geometry,
        read_nifti(&shared_ct("totalsegmentator/example_ct_sm.nii.gz"))
            .unwrap()
            .geometry
    );
    // Written and read back, the volume keeps values and geometry.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.nii.gz");
    write_nifti(&ct, &path).unwrap();
    let back = read_nifti(&path).unwrap();
    assert_eq!(back.data, ct.data);
    assert!(back.geometry.max_difference(&ct.geometry) < 1e-4);
}

#[test]
fn pyradiomics_nrrd_image_and_label_read_with_their_geometry() {
    use screener_core::nrrd_io::read_nrrd;
    let image = read_nrrd(&shared_ct("pyradiomics-lung1/lung1_image.nrrd")).unwrap();
    let label = read_nrrd(&shared_ct("pyradiomics-lung1/lung1_label.nrrd")).unwrap();
    assert_eq!(image.dims(), screener_core::Dims::new(512, 512, 48));
    assert_eq!(image.geometry.spacing, [0.5703125, 0.5703125, 5.0]);
    assert!((image.geometry.origin[2] + 777.5).abs() < 1e-9);
    assert_eq!(label.geometry, image.geometry);
    assert_eq!(label.data.iter().filter(|&&v| v > 0.0).count(), 837);
    // The tumour is soft tissue in the lung.
    let mean: f32 = image
        .data
        .iter()
        .zip(label.data.iter())
        .filter(|(_, &l)| l > 0.0)
        .map(|(&v, _)| v)
        .sum::<f32>()
        / 837.0;
    assert!((-200.0..100.0).contains(&mean), "mean tumour HU {mean}");
}
