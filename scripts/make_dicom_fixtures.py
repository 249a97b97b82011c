"""Writes the small DICOM fixtures of core/tests/fixtures/dicom/.

A 5-slice single-frame CT series (oblique orientation, per-slice rescale) made with pydicom,
and the same images converted by highdicom into one Legacy Converted Enhanced CT multi-frame
object, so the reader's multi-frame path is checked against an established converter.

Run: $(bash scripts/python-env.sh) scripts/make_dicom_fixtures.py
"""
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

OUT = Path(__file__).resolve().parent.parent / "core" / "tests" / "fixtures" / "dicom"
ROOT = "1.2.826.0.1.3680043.10.1438."  # fixed prefix: deterministic UIDs from entropy below


def uid(name: str) -> str:
    return generate_uid(prefix=ROOT, entropy_srcs=[name])


def single_frames():
    rng = np.random.default_rng(5)
    study, series, frame_of_ref = uid("study"), uid("series"), uid("for")
    row = np.array([0.8, 0.6, 0.0])
    col = np.array([0.0, 0.0, -1.0])
    normal = np.cross(row, col)
    origin = np.array([-20.0, 15.0, 40.0])
    datasets = []
    for n in range(5):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = uid(f"sop{n}")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame_of_ref
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID = "Fixture^Enhanced", "FIX-ENH"
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyDate, ds.StudyTime, ds.SeriesDate, ds.SeriesTime = "20260101", "120000", "20260101", "120000"
        ds.ContentDate, ds.ContentTime, ds.AcquisitionDate = "20260101", "120000", "20260101"
        ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "", "1", ""
        ds.Manufacturer = "Screener fixtures"
        ds.SeriesNumber, ds.InstanceNumber = 1, 5 - n  # reversed on purpose
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = "120"
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [float(x) for x in origin + n * 2.5 * normal]
        ds.ImageOrientationPatient = [float(x) for x in list(row) + list(col)]
        ds.PixelSpacing = [0.75, 0.7]
        ds.SliceThickness = 2.5
        ds.Rows, ds.Columns = 24, 32
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = [1.0, 0.5, 1.0, 2.0, 1.0][n]
        ds.RescaleIntercept = [-1024.0, 0.0, -1000.0, -24.0, 0.0][n]
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelData = rng.integers(-1000, 2000, size=(24, 32), dtype=np.int16).tobytes()
        datasets.append(ds)
    return datasets


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    frames = single_frames()
    series_dir = OUT / "oblique-single-frame"
    series_dir.mkdir(exist_ok=True)
    for n, ds in enumerate(frames):
        ds.save_as(series_dir / f"slice{n}.dcm", enforce_file_format=True)
    reread = [pydicom.dcmread(series_dir / f"slice{n}.dcm") for n in range(5)]
    enhanced = hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=reread,
        series_instance_uid=uid("enhanced-series"),
        series_number=2,
        sop_instance_uid=uid("enhanced-sop"),
        instance_number=1,
    )
    (OUT / "legacy-converted-enhanced").mkdir(exist_ok=True)
    enhanced.save_as(OUT / "legacy-converted-enhanced" / "multiframe.dcm")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
