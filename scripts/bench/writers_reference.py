#!/usr/bin/env python3
"""Reference side of scripts/bench/writers.sh: highdicom writes the BINARY SEG of the mask
that bench_writers left in OUT (mask.u8 in slice order, frames.txt naming the source SOP
Instance UID of each slice), with the same segment description. Reading the source headers
and the mask is not timed; building the Segmentation and saving it is. Prints the fastest
wall time in seconds.
Usage: writers_reference.py SERIES OUT REPEATS
"""
import os
import sys
import time

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes


def main():
    series, out, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    by_uid = {}
    for name in sorted(os.listdir(series)):
        ds = pydicom.dcmread(os.path.join(series, name), stop_before_pixels=True)
        by_uid[ds.SOPInstanceUID] = ds
    order = open(os.path.join(out, "frames.txt")).read().split()
    sources = [by_uid[uid] for uid in order]
    rows, columns = int(sources[0].Rows), int(sources[0].Columns)
    mask = np.fromfile(os.path.join(out, "mask.u8"), dtype=np.uint8)
    mask = mask.reshape(len(sources), rows, columns)
    abnormal = hd.sr.CodedConcept("49755003", "SCT", "Morphologically abnormal structure")
    algorithm = hd.AlgorithmIdentificationSequence(
        name="screener-anomaly", family=codes.cid7162.ArtificialIntelligence, version="bench"
    )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="abnormal",
        segmented_property_category=abnormal,
        segmented_property_type=abnormal,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=mask,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=hd.UID(),
            series_number=9001,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="Screener",
            manufacturer_model_name="Screener DICOM node",
            software_versions="bench",
            device_serial_number="0",
        )
        seg.save_as(os.path.join(out, "seg_highdicom.dcm"))
        best = min(best, time.perf_counter() - t)
    print(f"{best:.4f} {int(seg.NumberOfFrames)}")


if __name__ == "__main__":
    main()
