# Shared by scripts/bench/turnaround.sh and scripts/bench/load.sh (sourced, not run): phantom
# studies, a release `screener serve` node (SQLite store, CPU) and a dcmtk storescp standing in
# for the PACS, all inside the caller's private network namespace.
#
# The caller sets ROOT, WORK, BUNDLE, THREADS and STABLE_AGE_S before calling these.

NODE_PORT=11112
PACS_PORT=11200
WEB_PORT=8080

# Outside the namespace: the release node, the phantom writer and the ONNX Runtime library.
bench_build() {
  (cd "$ROOT" && bash scripts/fetch-onnxruntime.sh &&
    cargo build --release -q -p screener-daemon --bin screener --example bench_phantoms)
}

# make_phantoms OUT COUNT SIZE SPACING: COUNT studies of SIZE ("COLSxROWSxSLICES") voxels at
# SPACING ("X,Y,Z" mm), each with its own UIDs; prints "folder study_uid series_uid" lines.
make_phantoms() {
  local out=$1 count=$2 c r s sx sy sz
  IFS=x read -r c r s <<< "$3"
  IFS=, read -r sx sy sz <<< "$4"
  "$ROOT/target/release/examples/bench_phantoms" "$out" "$count" "$c" "$r" "$s" "$sx" "$sy" "$sz"
}

wait_port() {
  for _ in $(seq 1 100); do
    if echoscu -aet BENCH -aec "$1" 127.0.0.1 "$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers as $1 on port $2" >&2
  return 1
}

# start_pacs DIR [storescp options...]: dcmtk storescp as AE STORESCP; sets PACS_PID.
start_pacs() {
  local dir=$1
  shift
  mkdir -p "$dir"
  storescp "$@" -aet STORESCP -od "$dir" "$PACS_PORT" 2> "$WORK/storescp.log" &
  PACS_PID=$!
  wait_port STORESCP "$PACS_PORT"
}

# start_node: writes $WORK/node.toml, starts `screener serve` and waits for its
# "screener: listening" line; sets NODE_PID and DB (the SQLite file).
start_node() {
  local data=$WORK/node
  mkdir -p "$data"
  cat > "$WORK/node.toml" <<EOF
[node]
data_dir = "$data"

[dicom]
bind = "127.0.0.1"
port = $NODE_PORT
stable_age_s = $STABLE_AGE_S
min_free_mb = 256

[engine]
model_dir = "$BUNDLE"
threads = $THREADS
use_gpu = false

[store]
url = "sqlite://screener.sqlite3"

[web]
bind = "127.0.0.1:$WEB_PORT"

[[destinations]]
name = "pacs"
ae_title = "STORESCP"
host = "127.0.0.1"
port = $PACS_PORT
EOF
  "$ROOT/target/release/screener" serve --config "$WORK/node.toml" \
    > "$WORK/node.out" 2> "$WORK/node.log" &
  NODE_PID=$!
  DB=$data/screener.sqlite3
  for _ in $(seq 1 1200); do
    if grep -q '^screener: listening' "$WORK/node.out"; then return 0; fi
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      cat "$WORK/node.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "screener serve did not start within 120 s" >&2
  return 1
}

# sql QUERY: one read of the node's store (WAL mode: reading beside the node is safe).
sql() {
  sqlite3 -cmd '.timeout 10000' "$DB" "$1"
}

# wait_delivered COUNT LIMIT_S: until COUNT deliveries are delivered; fails at once when a
# job or a delivery failed, a series was skipped, or after LIMIT_S seconds.
wait_delivered() {
  local want=$1 limit=$2 start=$SECONDS got bad
  while :; do
    got=$(sql "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    [ "$got" -ge "$want" ] && return 0
    bad=$(sql "SELECT (SELECT count(*) FROM jobs WHERE state IN ('failed', 'skipped'))
                    + (SELECT count(*) FROM deliveries WHERE state = 'failed')")
    if [ "$bad" -gt 0 ] || [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "waiting for $want deliveries: $got delivered, $bad failed or skipped" >&2
      sql "SELECT id, state, reason FROM jobs WHERE state <> 'done'" >&2
      sql "SELECT id, state, attempts, last_error FROM deliveries WHERE state <> 'delivered'" >&2
      tail -n 30 "$WORK/node.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# peak_rss_mib PID: the process's peak resident set (VmHWM) in MiB.
peak_rss_mib() {
  awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"
}

# stop_node: SIGTERM and wait; fails when the node does not exit cleanly.
stop_node() {
  kill -TERM "$NODE_PID"
  local rc=0
  wait "$NODE_PID" || rc=$?
  NODE_PID=
  [ "$rc" -eq 0 ] || { echo "screener serve exited with $rc on SIGTERM" >&2; return 1; }
}

# Ends what this script started (for the EXIT trap; never fails, so errexit cannot cut the
# trap short before the work folder is removed).
stop_all() {
  local pid
  for pid in "${NODE_PID:-}" "${PACS_PID:-}"; do
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
    fi
  done
}
