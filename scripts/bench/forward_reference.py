"""Reference for the forward benchmark: Python onnxruntime runs a bundle's networks on the same
inputs (written by bench_forward) with the same thread count. Prints `role seconds checksum`.

Usage: python forward_reference.py BUNDLE THREADS REPEATS INPUT_DIR
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main():
    bundle, threads, repeats, inputs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    m = json.loads((bundle / "manifest.json").read_text())
    pi, pj, pk = m["patch"]["size"]
    fi, fj, fk = m["patch"]["pooling"]
    for role, spec in sorted(m["networks"].items()):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(bundle / spec["file"]), opts, providers=["CPUExecutionProvider"])
        feed = {}
        for t in spec["inputs"]:
            raw = np.fromfile(inputs / f"{role}.{t['name']}.f32", dtype="<f4")
            c = max(t["shape"][1], 1)
            spatial = (pk // fk, pj // fj, pi // fi) if role == "density" else (pk, pj, pi)
            feed[t["name"]] = raw.reshape((-1, c) + spatial)
        out = sess.run(None, feed)[0]  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = sess.run(None, feed)[0]
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"{role} {times[len(times) // 2]:.4f} {float(out.astype(np.float64).sum()):.3f}")


if __name__ == "__main__":
    main()
