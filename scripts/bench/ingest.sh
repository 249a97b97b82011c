#!/usr/bin/env bash
# Ingest benchmark for the DICOM listener.
#
# Sends N (default 1000) CT instances, 512x512x16-bit, made from the real CT series with a
# fresh SOP Instance UID each (dcmodify -gin), with dcmtk storescu over 1 and over 4 parallel
# associations, to `screener listen` (fsync off and on) and to dcmtk storescp (--fork; it has
# no fsync option), writing to the same disk, inside a private network namespace. Prints
# instances/s per run and the listener's peak RSS (VmHWM).
#
#   scripts/bench/ingest.sh            # N=1000, work folder under /tmp
#   N=200 WORK=/var/tmp/x scripts/bench/ingest.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${SRC:-$ROOT/../shared/data/ct/cptac-pda-abdomen}
N=${N:-1000}
PORT=11112

if [ -z "${SCREENER_BENCH_NETNS:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p screener-daemon --bin screener)
  exec unshare -n env SCREENER_BENCH_NETNS=1 "$0" "$@"
fi
ip link set lo up

BIN=$ROOT/target/release/screener
WORK=${WORK:-$(mktemp -d /tmp/screener-ingest.XXXXXX)}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"/input "$WORK"/out' EXIT

# N instances: the source slices cycled, each copy with a new SOP Instance UID.
mkdir -p "$WORK/input"
mapfile -t slices < <(find "$SRC" -name '*.dcm' | sort)
for i in $(seq 0 $((N - 1))); do
  cp "${slices[$((i % ${#slices[@]}))]}" "$WORK/input/$(printf '%05d' "$i").dcm"
done
chmod u+w "$WORK"/input/*.dcm
find "$WORK/input" -name '*.dcm' -print0 | xargs -0 -n 200 dcmodify -nb -gin -q
bytes=$(du -sb "$WORK/input" | cut -f1)

# Splits the input into $1 lists, runs one storescu per list in parallel, prints seconds.
send() {
  local k=$1 called=$2
  local lists=()
  for j in $(seq 0 $((k - 1))); do
    find "$WORK/input" -name '*.dcm' | sort | awk -v k="$k" -v j="$j" 'NR % k == j' > "$WORK/list$j"
    lists+=("$WORK/list$j")
  done
  local t0 t1 pids=()
  t0=$(date +%s.%N)
  for l in "${lists[@]}"; do
    xargs -a "$l" storescu -aet BENCH -aec "$called" 127.0.0.1 "$PORT" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

wait_port() {
  for _ in $(seq 1 100); do
    if echoscu -aec "$1" 127.0.0.1 "$PORT" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $PORT" >&2
  return 1
}

count() { find "$1" -type f -name '*' ! -path '*/.incoming/*' | wc -l; }

printf '%-10s %-6s %-5s %9s %12s %10s %12s\n' target fsync assoc instances seconds inst/s peak_RSS_MiB
for assoc in 1 4; do
  for fsync in false true; do
    rm -rf "$WORK/out"; mkdir -p "$WORK/out"
    "$BIN" listen --bind "127.0.0.1:$PORT" --spool "$WORK/out" --fsync "$fsync" \
      --min-free-mib 0 --stable-after 3600 --max-associations 16 2> "$WORK/listener.log" &
    pid=$!
    wait_port SCREENER
    secs=$(send "$assoc" SCREENER)
    got=$(count "$WORK/out")
    rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    [ "$got" -eq "$N" ] || { echo "screener stored $got of $N" >&2; exit 1; }
    printf '%-10s %-6s %-5s %9s %12.2f %10.1f %12s\n' screener "$fsync" "$assoc" "$got" "$secs" \
      "$(echo "$N / $secs" | bc -l)" "$rss"
  done
  rm -rf "$WORK/out"; mkdir -p "$WORK/out"
  storescp --fork -aet STORESCP -od "$WORK/out" "$PORT" 2> "$WORK/storescp.log" &
  pid=$!
  wait_port STORESCP
  secs=$(send "$assoc" STORESCP)
  sleep 0.5
  got=$(count "$WORK/out")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$got" -eq "$N" ] || { echo "storescp stored $got of $N" >&2; exit 1; }
  printf '%-10s %-6s %-5s %9s %12.2f %10.1f %12s\n' storescp none "$assoc" "$got" "$secs" \
    "$(echo "$N / $secs" | bc -l)" "-"
done
echo "input: $N instances, $((bytes / 1048576)) MiB; disk: $(df -h "$WORK" | awk 'NR==2 {print $1}') ($WORK)"
