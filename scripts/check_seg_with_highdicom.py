#!/usr/bin/env python3
"""Reads a DICOM Segmentation with highdicom and reports where its segment 1 lies in the
source CT series, twice: through the SEG's references to its source images
(get_pixels_by_source_instance) and through its geometry alone (get_volume's affine, each
voxel mapped into the source slice at that position). Prints JSON:

  {"segmentation_type": "BINARY", "frames": 5,
   "by_reference": {"<source SOP Instance UID>": [[row * columns + column, stored value], ...]},
   "by_geometry":  {... same form ...}}

Only source instances with segment voxels are listed; values are the stored ones (1 for
BINARY, 0..255 for FRACTIONAL).
Usage: check_seg_with_highdicom.py SEG_FILE SOURCE_SERIES_FOLDER
"""
import json
import os
import sys

import highdicom as hd
import numpy as np
import pydicom


def read_sources(folder):
    sources = {}
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            try:
                ds = pydicom.dcmread(os.path.join(root, name), stop_before_pixels=True)
            except Exception:
                continue
            if "ImagePositionPatient" in ds:
                sources[ds.SOPInstanceUID] = ds
    return sources


def voxels(frame):
    flat = np.asarray(frame).reshape(-1)
    idx = np.flatnonzero(flat)
    return [[int(i), int(flat[i])] for i in idx]


def by_reference(seg, sources):
    uids = list(sources)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids,
        segment_numbers=[1],
        rescale_fractional=False,
        assert_missing_frames_are_empty=True,
    )
    out = {}
    for uid, frame in zip(uids, pixels):
        found = voxels(frame[..., 0])
        if found:
            out[uid] = found
    return out


def by_geometry(seg, sources):
    volume = seg.get_volume(segment_numbers=[1], rescale_fractional=False)
    array = np.asarray(volume.array)
    if array.ndim == 4:
        array = array[..., 0]
    affine = np.asarray(volume.affine)
    planes = []
    for uid, ds in sources.items():
        ipp = np.array(ds.ImagePositionPatient, dtype=float)
        iop = np.array(ds.ImageOrientationPatient, dtype=float)
        row_dir, col_dir = iop[:3], iop[3:]
        spacing = np.array(ds.PixelSpacing, dtype=float)  # between rows, between columns
        planes.append((uid, ipp, row_dir, col_dir, np.cross(row_dir, col_dir), spacing, int(ds.Columns)))
    out = {}
    for s, r, c in zip(*np.nonzero(array)):
        p = affine @ np.array([s, r, c, 1.0])
        p = p[:3]
        uid, ipp, row_dir, col_dir, normal, spacing, columns = min(
            planes, key=lambda pl: abs(np.dot(p - pl[1], pl[4]))
        )
        d = p - ipp
        if abs(np.dot(d, normal)) > 0.01:
            raise SystemExit(f"SEG voxel at {p.tolist()} lies on no source slice")
        column = np.dot(d, row_dir) / spacing[1]
        row = np.dot(d, col_dir) / spacing[0]
        if abs(column - round(column)) > 0.01 or abs(row - round(row)) > 0.01:
            raise SystemExit(f"SEG voxel at {p.tolist()} is between source pixels")
        out.setdefault(uid, []).append([int(round(row)) * columns + int(round(column)), int(array[s, r, c])])
    for found in out.values():
        found.sort()
    return out


def main():
    seg_path, folder = sys.argv[1:3]
    seg = hd.seg.segread(seg_path)
    sources = read_sources(folder)
    print(json.dumps({
        "segmentation_type": seg.SegmentationType,
        "frames": int(seg.NumberOfFrames),
        "by_reference": by_reference(seg, sources),
        "by_geometry": by_geometry(seg, sources),
    }))


if __name__ == "__main__":
    main()
