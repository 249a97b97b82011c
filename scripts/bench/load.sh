#!/usr/bin/env bash
# Load on `screener serve`: STUDIES phantom CT studies (default 20) sent by SENDERS concurrent
# dcmtk storescu processes (default 4; each sends its share one study per association, one
# after another) to a release node with the default bundle on the CPU (engine threads
# THREADS, batch 2, 1 scoring worker, 4 delivery workers: the defaults), the SQLite store,
# fsync on, stable_age_s STABLE_AGE_S (default 2), and dcmtk storescp (--fork, unique file
# names, so a duplicate would show) as its one destination, inside a private network
# namespace.
#
# Checks that every series was scored exactly once and delivered once: STUDIES series with
# all their instances, STUDIES jobs done at attempt 1, STUDIES results, STUDIES deliveries
# delivered, and storescp holding STUDIES SEGs and the recorded overlay images with no SOP
# Instance UID twice. Prints the wall time (first storescu start to last delivery seen),
# the throughput, the per-study turnaround under load and the node's peak RSS (VmHWM).
#
# Default study size: 256 x 256 x 80 at 1.4 x 1.4 x 1.25 mm (a 358 x 358 x 100 mm field),
# about 10 s of scoring each on 2 cores, so the run takes some 4 minutes; quote the figures
# with the size.
#
#   scripts/bench/load.sh
#   SIZE=512x512x300 SPACING=0.7,0.7,1.25 scripts/bench/load.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STUDIES=${STUDIES:-20}
SENDERS=${SENDERS:-4}
SIZE=${SIZE:-256x256x80}
SPACING=${SPACING:-1.4,1.4,1.25}
STABLE_AGE_S=${STABLE_AGE_S:-2}
THREADS=${THREADS:-2}
BUNDLE=${BUNDLE:-$ROOT/models/default}
LIMIT_S=${LIMIT_S:-3600}
source "$ROOT/scripts/bench/serve_lib.sh"

if [ -z "${SCREENER_BENCH_NETNS:-}" ]; then
  bench_build
  exec unshare -n env SCREENER_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up

WORK=${WORK:-$(mktemp -d /tmp/screener-load.XXXXXX)}
mkdir -p "$WORK"
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
make_phantoms "$WORK/studies" "$STUDIES" "$SIZE" "$SPACING" > "$WORK/studies.txt"
mapfile -t dirs < <(cut -d' ' -f1 "$WORK/studies.txt")
start_pacs "$WORK/pacs" --fork +uf
start_node

# Sender j sends studies j, j + SENDERS, j + 2 SENDERS, ...
t_start=$(date +%s%3N)
pids=()
for j in $(seq 0 $((SENDERS - 1))); do
  (
    for k in $(seq "$j" "$SENDERS" $((STUDIES - 1))); do
      storescu -aet "BENCH$j" -aec SCREENER 127.0.0.1 "$NODE_PORT" +sd "${dirs[$k]}" < /dev/null
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t_sent=$(date +%s%3N)
wait_delivered "$STUDIES" "$LIMIT_S"
t_done=$(date +%s%3N)
# A late duplicate would come within a delivery worker's next poll; give it that time.
sleep 3
rss=$(peak_rss_mib "$NODE_PID")
stop_node

python3 "$ROOT/scripts/bench/serve_report.py" load "$DB" "$WORK/pacs" "$STUDIES" \
  "${SIZE##*x}" "$SENDERS" "$t_start" "$t_sent" "$t_done"
echo "node peak RSS (VmHWM): $rss MiB"
echo "studies: $STUDIES x $SIZE voxels at $SPACING mm from $SENDERS senders;" \
  "stable_age_s = $STABLE_AGE_S; engine threads $THREADS; bundle $(basename "$BUNDLE");" \
  "$(nproc) CPUs (load average before the run: $load_before," \
  "after: $(cut -d' ' -f1-3 /proc/loadavg))"
