"""Why the engine runs the descriptor and condition networks at the same time: Python
onnxruntime on a bundle's two feature networks, one after the other with THREADS intra-op
threads each, against both at once with THREADS/2 each, on the same random patch.
Usage: $(bash scripts/python-env-ort.sh) scripts/bench/concurrency.py [BUNDLE] [THREADS] [REPEATS]
"""
import json
import sys
import threading
import time

import numpy as np
import onnxruntime as ort

bundle = sys.argv[1] if len(sys.argv) > 1 else "models/default"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 4
manifest = json.load(open(f"{bundle}/manifest.json"))
i, j, k = manifest["patch"]["size"]
x = np.random.default_rng(0).standard_normal((1, 1, k, j, i)).astype(np.float32)


def session(role, n):
    options = ort.SessionOptions()
    options.intra_op_num_threads = n
    options.inter_op_num_threads = 1
    path = f"{bundle}/{manifest['networks'][role]['file']}"
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run(s):
    return s.run(None, {s.get_inputs()[0].name: x})


def seconds(f):
    f()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        f()
    return (time.perf_counter() - start) / repeats


roles = ["descriptor", "condition"]
full = [session(r, threads) for r in roles]
half = [session(r, max(1, threads // 2)) for r in roles]


def concurrently():
    workers = [threading.Thread(target=run, args=(s,)) for s in half]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


one_full = seconds(lambda: run(full[0]))
one_half = seconds(lambda: run(half[0]))
sequential = seconds(lambda: [run(s) for s in full])
parallel = seconds(concurrently)
print(f"patch {i}x{j}x{k}, {threads} threads, {repeats} repeats")
print(f"descriptor alone: {one_full:.3f} s on {threads} threads, {one_half:.3f} s on {max(1, threads // 2)}")
print(f"descriptor + condition: one after the other {sequential:.3f} s, at the same time {parallel:.3f} s: {sequential / parallel:.2f}x")
