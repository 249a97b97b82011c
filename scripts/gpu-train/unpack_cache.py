"""Unpacks pack_cache.py's archive into a prepared (phantom-only) cache and adds its volumes
to that cache's index.json under ids and stems prefixed with "real-".
usage (scripts/gpu-train/run.sh): unpack_cache.py ARCHIVE.tar.xz CACHE_DIR
"""
import json, os, sys, tarfile
import numpy as np

archive, cache = sys.argv[1], sys.argv[2]
dest = os.path.join(cache, "real")
os.makedirs(dest, exist_ok=True)
with tarfile.open(archive, "r:xz") as tar:
    tar.extractall(dest)
for root, _, files in os.walk(dest):
    for f in files:
        if f.endswith(".u16"):
            p = os.path.join(root, f)
            q = np.fromfile(p, "<u2")
            (q.astype("<f4") / np.float32(4095.0)).astype("<f4").tofile(p[:-4] + ".f32")
            os.remove(p)
real = json.load(open(os.path.join(dest, "real-index.json")))
index = json.load(open(os.path.join(cache, "index.json")))
assert real["preprocess"] == index["preprocess"], "preprocessing differs"
for v in real["volumes"]:
    v["id"] = "real-" + v["id"]
    for key in ("image", "body", "lesion"):
        if v.get(key):
            v[key] = "real/" + v[key]
    index["volumes"].append(v)
json.dump(index, open(os.path.join(cache, "index.json"), "w"), indent=1)
print({s: sum(v["split"] == s for v in index["volumes"]) for s in ("train", "finetune", "evaluate")})
