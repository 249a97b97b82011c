#!/usr/bin/env bash
# Turnaround of `screener serve`: from the last instance of a study received to its result
# acknowledged by the PACS.
#
# A release node with the default bundle on the CPU (engine threads THREADS, batch 2), the
# SQLite store, fsync on, and dcmtk storescp as its one DICOM destination, inside a private
# network namespace. N phantom CT studies (default 5 of 512 x 512 x 300, 0.7 x 0.7 x 1.25
# mm) are sent one after another with dcmtk storescu, each only once the previous one was
# delivered. stable_age_s is STABLE_AGE_S (default 2): a series counts as complete 2 s after
# its last instance. Per study, from the store's timestamps:
#
#   turnaround  deliveries.delivered_at - series.last_received_at (the SEG and every overlay
#               image acknowledged by storescp, on one association, SEG first)
#   = stable    series.stable_at - last_received_at (stable_age_s and grouping's tick)
#   + queue     jobs.started_at - jobs.queued_at
#   + load, score, write   job_stages
#   + record    jobs.finished_at - end of write (result and deliveries committed)
#   + deliver   delivered_at - jobs.finished_at (claim, association, SEG and overlay sent)
#   + other     what the columns above leave out (gaps between the recorded steps)
#
# and, as checks from outside the store: SEG@PACS (the SEG file's time at storescp minus
# last_received_at) and seen (storescu's exit to this script seeing the delivery, 0.2 s
# polling). Prints every study, the p50 of each column and the node's peak RSS.
#
#   scripts/bench/turnaround.sh                       # N=5, 512x512x300
#   N=2 SIZE=256x256x60 scripts/bench/turnaround.sh   # a quick run
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-5}
SIZE=${SIZE:-512x512x300}
SPACING=${SPACING:-0.7,0.7,1.25}
STABLE_AGE_S=${STABLE_AGE_S:-2}
THREADS=${THREADS:-2}
BUNDLE=${BUNDLE:-$ROOT/models/default}
# Seconds allowed for one study's delivery before the run fails.
LIMIT_S=${LIMIT_S:-1800}
source "$ROOT/scripts/bench/serve_lib.sh"

if [ -z "${SCREENER_BENCH_NETNS:-}" ]; then
  bench_build
  exec unshare -n env SCREENER_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up

WORK=${WORK:-$(mktemp -d /tmp/screener-turnaround.XXXXXX)}
mkdir -p "$WORK"
trap 'stop_all; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
make_phantoms "$WORK/studies" "$N" "$SIZE" "$SPACING" > "$WORK/studies.txt"
mapfile -t studies < "$WORK/studies.txt"
start_pacs "$WORK/pacs"
start_node

# One line per study: series UID, storescu start, storescu end, delivery seen (epoch ms).
: > "$WORK/sent.tsv"
for i in "${!studies[@]}"; do
  read -r dir _ series <<< "${studies[$i]}"
  t0=$(date +%s%3N)
  storescu -aet BENCH -aec SCREENER 127.0.0.1 "$NODE_PORT" +sd "$dir" < /dev/null
  t1=$(date +%s%3N)
  wait_delivered $((i + 1)) "$LIMIT_S"
  t2=$(date +%s%3N)
  printf '%s\t%s\t%s\t%s\n' "$series" "$t0" "$t1" "$t2" >> "$WORK/sent.tsv"
  echo "study $((i + 1))/$N delivered, $(((t2 - t1) / 1000)) s after storescu ended" >&2
done
rss=$(peak_rss_mib "$NODE_PID")
stop_node

python3 "$ROOT/scripts/bench/serve_report.py" turnaround "$DB" "$WORK/pacs" "$WORK/sent.tsv"
echo "node peak RSS (VmHWM): $rss MiB"
echo "studies: $N x $SIZE voxels at $SPACING mm; stable_age_s = $STABLE_AGE_S;" \
  "engine threads $THREADS; bundle $(basename "$BUNDLE"); $(nproc) CPUs" \
  "(load average before the run: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg))"
