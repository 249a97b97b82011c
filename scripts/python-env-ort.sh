#!/usr/bin/env bash
# Creates (once) a Python 3.12 virtual environment with onnxruntime 1.31.1 (which has no wheel
# for Python 3.11) plus the reference packages, for the benchmarks that compare against Python
# onnxruntime. Prints its python.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-ort"
py=""
for candidate in "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 python3.12; do
  # pyenv shims exist without a usable interpreter behind them: try each one for real.
  if "$candidate" -c "import sys" >/dev/null 2>&1; then py=$candidate; break; fi
done
[ -n "$py" ] || { echo "python-env-ort.sh: needs Python 3.12 (onnxruntime 1.31.1 has no 3.11 wheel)" >&2; exit 1; }
req="$here/requirements-reference.txt"
stamp="$venv/.requirements.sha256"
want="$( (cat "$req"; echo onnxruntime==1.31.1) | sha256sum | cut -d' ' -f1)"
# Tests call this in parallel: one creates the venv, the others wait for it.
exec 9>"$here/.venv-ort.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$py" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" onnxruntime==1.31.1 >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
