"""Reference for the decode benchmark: pydicom + NumPy (+ pylibjpeg for JPEG) read a series
folder, sort slices by ImagePositionPatient projected on the slice normal, apply the rescale
and stack into a float32 volume. Prints the fastest of REPEATS wall times and a checksum.

Usage: python decode_reference.py DIR REPEATS
"""
import sys
import time
from pathlib import Path

import numpy as np
import pydicom


def read_series(folder: Path) -> np.ndarray:
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float))))
    volume = np.empty((len(datasets), datasets[0].Rows, datasets[0].Columns), dtype=np.float32)
    for k, ds in enumerate(datasets):
        slope = float(getattr(ds, "RescaleSlope", 1.0))
        intercept = float(getattr(ds, "RescaleIntercept", 0.0))
        volume[k] = ds.pixel_array.astype(np.float32) * slope + intercept
    return volume


def main():
    folder, repeats = Path(sys.argv[1]), int(sys.argv[2])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        v = read_series(folder)
        best = min(best, time.perf_counter() - t)
    print(f"{best:.4f} {float(v.astype(np.float64).sum()):.1f}")


if __name__ == "__main__":
    main()
