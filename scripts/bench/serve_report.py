"""Figures and checks for scripts/bench/turnaround.sh and load.sh, read from the node's SQLite
store (times are epoch milliseconds) and from what dcmtk storescp received.

  serve_report.py turnaround DB PACS_DIR SENT_TSV
  serve_report.py load DB PACS_DIR STUDIES SLICES SENDERS T_START T_SENT T_DONE

Exits non-zero when a check fails.
"""

import json
import os
import sqlite3
import statistics
import subprocess
import sys

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def open_store(path):
    db = sqlite3.connect(path, timeout=10)
    db.row_factory = sqlite3.Row
    return db


def series_rows(db):
    """One row per series with its job, result and delivery (the benchmark has one
    destination, so at most one delivery per result)."""
    return db.execute(
        """SELECT se.id AS series_id, se.series_uid, se.instance_count,
                  se.first_received_at, se.last_received_at, se.stable_at,
                  j.id AS job_id, j.state AS job_state, j.attempts AS job_attempts,
                  j.queued_at, j.started_at, j.finished_at,
                  r.id AS result_id, r.seg_sop_uid, r.overlay_sop_uids,
                  d.state AS delivery_state, d.attempts AS delivery_attempts, d.delivered_at
           FROM series se
           LEFT JOIN jobs j ON j.series_id = se.id
           LEFT JOIN results r ON r.job_id = j.id
           LEFT JOIN deliveries d ON d.result_id = r.id
           ORDER BY se.id"""
    ).fetchall()


def stages(db, job_id, attempt):
    """{stage: (started_at, finished_at)} of one attempt of a job."""
    rows = db.execute(
        "SELECT stage, started_at, finished_at FROM job_stages WHERE job_id = ? AND attempt = ?",
        (job_id, attempt),
    )
    return {r["stage"]: (r["started_at"], r["finished_at"]) for r in rows}


def breakdown(db, row):
    """Seconds of each step of one series, from its last instance to its delivery."""
    st = stages(db, row["job_id"], row["job_attempts"])
    s = lambda a, b: (b - a) / 1000.0
    parts = {
        "receive": s(row["first_received_at"], row["last_received_at"]),
        "stable": s(row["last_received_at"], row["stable_at"]),
        "queue": s(row["queued_at"], row["started_at"]),
        "load": s(*st["load"]),
        "score": s(*st["score"]),
        "write": s(*st["write"]),
        "record": s(st["write"][1], row["finished_at"]),
        "deliver": s(row["finished_at"], row["delivered_at"]),
    }
    turnaround = s(row["last_received_at"], row["delivered_at"])
    covered = sum(v for k, v in parts.items() if k != "receive")
    parts["other"] = turnaround - covered
    parts["turnaround"] = turnaround
    return parts


def pacs_files(pacs_dir):
    """(path, SOP Class UID, SOP Instance UID) of every file storescp wrote."""
    paths = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(pacs_dir) for f in fs if not f.startswith(".")
    )
    found = []
    for i in range(0, len(paths), 400):
        chunk = paths[i : i + 400]
        out = subprocess.run(
            ["dcmdump", "-q", "-s", "+F", "-Un", "+P", "0008,0016", "+P", "0008,0018", *chunk],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        current = None
        for line in out.splitlines():
            if line.startswith("# dcmdump"):
                current = {"path": line.split(": ", 1)[1]}
                found.append(current)
            elif line.startswith("(0008,0016)"):
                current["class"] = line.split("[", 1)[1].split("]", 1)[0]
            elif line.startswith("(0008,0018)"):
                current["uid"] = line.split("[", 1)[1].split("]", 1)[0]
    if len(found) != len(paths):
        sys.exit(f"dcmdump read {len(found)} of {len(paths)} received files")
    return [(f["path"], f.get("class"), f.get("uid")) for f in found]


def print_table(columns, rows, p50_row):
    print("  ".join(f"{c:>10}" for c in columns))
    for r in rows:
        print("  ".join(f"{v:>10}" if isinstance(v, str) else f"{v:>10.2f}" for v in r))
    print("  ".join(f"{v:>10}" if isinstance(v, str) else f"{v:>10.2f}" for v in p50_row))


def turnaround(db_path, pacs_dir, sent_tsv):
    db = open_store(db_path)
    sent = {}
    for line in open(sent_tsv):
        series, t0, t1, t2 = line.split()
        sent[series] = (int(t0), int(t1), int(t2))
    seg_time = {
        uid: os.stat(path).st_mtime_ns / 1e6
        for path, cls, uid in pacs_files(pacs_dir)
        if cls == SEG_CLASS
    }
    columns = ["study", "slices", "receive", "stable", "queue", "load", "score", "write",
               "record", "deliver", "other", "turnaround", "SEG@PACS", "seen"]
    rows = []
    for n, row in enumerate(series_rows(db), 1):
        if row["delivery_state"] != "delivered" or row["job_attempts"] != 1:
            sys.exit(f"series {row['series_uid']}: job {row['job_state']} after "
                     f"{row['job_attempts']} attempts, delivery {row['delivery_state']}")
        b = breakdown(db, row)
        seg_at_pacs = (seg_time[row["seg_sop_uid"]] - row["last_received_at"]) / 1000.0
        t0, t1, t2 = sent[row["series_uid"]]
        rows.append([str(n), str(row["instance_count"])] + [b[c] for c in columns[2:12]]
                    + [seg_at_pacs, (t2 - t1) / 1000.0])
    if len(rows) != len(sent):
        sys.exit(f"{len(rows)} series in the store, {len(sent)} studies sent")
    p50 = ["p50", ""] + [statistics.median(r[i] for r in rows) for i in range(2, len(columns))]
    print("seconds per study (p50 of each column on the last line):")
    print_table(columns, rows, p50)
    ts = [r[11] for r in rows]
    print(f"turnaround (last instance received -> SEG and overlay acknowledged by the PACS): "
          f"p50 {statistics.median(ts):.2f} s, min {min(ts):.2f} s, max {max(ts):.2f} s "
          f"over {len(ts)} studies")


def load(db_path, pacs_dir, studies, slices, senders, t_start, t_sent, t_done):
    studies, slices = int(studies), int(slices)
    t_start, t_sent, t_done = int(t_start), int(t_sent), int(t_done)
    db = open_store(db_path)
    rows = series_rows(db)
    failures = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    count = lambda sql: db.execute(sql).fetchone()[0]
    check(len(rows) == studies, f"{len(rows)} series in the store (want {studies})")
    check(all(r["instance_count"] == slices for r in rows),
          f"every series has {slices} instances: "
          f"{sorted(set(r['instance_count'] for r in rows))}")
    check(count("SELECT count(*) FROM instances") == studies * slices,
          f"{count('SELECT count(*) FROM instances')} instances recorded "
          f"(want {studies * slices})")
    jobs_done = count("SELECT count(*) FROM jobs WHERE state = 'done'")
    check(count("SELECT count(*) FROM jobs") == studies and jobs_done == studies,
          f"{jobs_done} jobs done of {count('SELECT count(*) FROM jobs')} (want {studies})")
    check(count("SELECT max(attempts) FROM jobs") == 1,
          "every job claimed once (max attempts "
          f"{count('SELECT max(attempts) FROM jobs')})")
    check(count("SELECT count(*) FROM job_stages WHERE attempt <> 1") == 0
          and count("SELECT count(*) FROM job_stages") == 3 * studies,
          f"{count('SELECT count(*) FROM job_stages')} job stages, all of attempt 1 "
          f"(want {3 * studies})")
    check(count("SELECT count(DISTINCT job_id) FROM results") == studies
          and count("SELECT count(*) FROM results") == studies,
          f"{count('SELECT count(*) FROM results')} results, one per job (want {studies})")
    delivered = count("SELECT count(*) FROM deliveries WHERE state = 'delivered'")
    check(delivered == studies and count("SELECT count(*) FROM deliveries") == studies,
          f"{delivered} deliveries delivered of {count('SELECT count(*) FROM deliveries')} "
          f"(want {studies})")
    retries = count("SELECT sum(attempts) - count(*) FROM deliveries")

    received = pacs_files(pacs_dir)
    uids = [uid for _, _, uid in received]
    segs = [uid for _, cls, uid in received if cls == SEG_CLASS]
    want_segs = {r["seg_sop_uid"] for r in rows}
    want_overlay = {u for r in rows for u in json.loads(r["overlay_sop_uids"] or "[]")}
    check(len(segs) == studies and set(segs) == want_segs,
          f"storescp received {len(segs)} SEGs, {len(set(segs))} distinct, "
          f"{'the' if set(segs) == want_segs else 'NOT the'} recorded ones (want {studies})")
    check(len(uids) == len(set(uids)),
          f"no duplicate SOP Instance UID at storescp ({len(uids)} files, "
          f"{len(set(uids))} distinct)")
    check(set(uids) - set(segs) == want_overlay,
          f"storescp received the {len(want_overlay)} recorded overlay images "
          f"({len(set(uids) - set(segs))} non-SEG instances)")

    first_in = count("SELECT min(received_at) FROM instances")
    last_out = count("SELECT max(delivered_at) FROM deliveries")
    wall = (t_done - t_start) / 1000.0
    send = (t_sent - t_start) / 1000.0
    ts = sorted(breakdown(db, r)["turnaround"] for r in rows if r["delivered_at"])
    score = [breakdown(db, r)["score"] for r in rows if r["delivered_at"]]
    print(f"wall time, first storescu start -> last delivery seen: {wall:.1f} s")
    print(f"  node's view, first instance received -> last delivery: "
          f"{(last_out - first_in) / 1000.0:.1f} s")
    print(f"  sending ({senders} storescu, all {studies * slices} instances): {send:.1f} s, "
          f"{studies * slices / send:.0f} instances/s")
    print(f"throughput: {studies / wall * 60:.2f} studies/min "
          f"({studies * slices / wall:.1f} instances/s end to end)")
    if ts:
        print(f"per-study turnaround under load (last instance -> delivered): "
              f"p50 {statistics.median(ts):.1f} s, max {ts[-1]:.1f} s; "
              f"score stage p50 {statistics.median(score):.2f} s")
    print(f"delivery retries: {retries}")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")


if __name__ == "__main__":
    commands = {"turnaround": turnaround, "load": load}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
