#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library the node loads (ort's load-dynamic), from the pinned
# PyPI wheel, checks its SHA-256, and puts it in runtime/onnxruntime/ where `screener` finds
# it by itself. Idempotent: does nothing when the library is already there and intact.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.31.1
# The library inside is the same for every CPython tag; cp312 is the one we pin.
wheel=onnxruntime-${version}-cp312-cp312-manylinux_2_28_x86_64.whl
wheel_sha256=1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536
dest=runtime/onnxruntime
lib=$dest/libonnxruntime.so.$version

if [ -f "$lib" ] && [ -f "$dest/.wheel.sha256" ] && [ "$(cat "$dest/.wheel.sha256")" = "$wheel_sha256" ]; then
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.12 -d "$tmp" "onnxruntime==$version"
echo "$wheel_sha256  $tmp/$wheel" | sha256sum --check --quiet
mkdir -p "$dest"
python3 - "$tmp/$wheel" "$dest" <<'PY'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            (dest / pathlib.Path(name).name).write_bytes(z.read(name))
PY
ln -sf "libonnxruntime.so.$version" "$dest/libonnxruntime.so"
echo "$wheel_sha256" > "$dest/.wheel.sha256"
echo "ONNX Runtime $version installed in $dest"
