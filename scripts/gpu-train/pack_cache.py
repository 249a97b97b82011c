"""Packs the real-CT volumes of a prepared cache for the trip to the GPU machine.

Images ([0, 1] floats) travel as 12-bit integers in 16 bits (step 2.4e-4), masks as they are; phantoms
are not packed (the GPU machine generates them from their seeds).
usage (scripts/gpu-train/pack.sh): pack_cache.py CACHE_DIR OUT.tar.xz
"""
import io, json, sys, tarfile, lzma
import numpy as np

cache, out = sys.argv[1], sys.argv[2]
index = json.load(open(f"{cache}/index.json"))
real = [v for v in index["volumes"] if not v["source"].startswith("phantom")]
with tarfile.open(out, "w:xz", preset=6) as tar:
    def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    for v in real:
        img = np.fromfile(f"{cache}/{v['image']}.f32", "<f4")
        q = np.round(np.clip(img, 0.0, 1.0) * 4095.0).astype("<u2")
        add(f"{v['image']}.u16", q.tobytes())
        add(f"{v['image']}.json", open(f"{cache}/{v['image']}.json", "rb").read())
        for key in ("body", "lesion"):
            if v.get(key):
                for ext in ("u8", "json"):
                    add(f"{v[key]}.{ext}", open(f"{cache}/{v[key]}.{ext}", "rb").read())
        print(v["id"], v["split"], v["source"], v["dims"], f"max quantisation error {np.abs(q / 4095.0 - np.clip(img, 0, 1)).max():.2e}")
    add("real-index.json", json.dumps({"preprocess": index["preprocess"], "volumes": real}).encode())
