#!/usr/bin/env bash
# bench/ledger_size.sh — what one key costs tern in a huge bucket (issue 14, item 4).
#
# 1. The SQLite ledger's bytes and commit time per key: crates/store/examples/ledger_cost.rs
#    records LEDGER_KEYS (default 100,000) succeeded outcomes of ~53-byte keys through
#    `record_batch` in the scheduler's batches of 500, checkpoints the WAL and divides
#    page_count × page_size by the keys (release build).
# 2. A list-and-compare of 10^4, 10^5 and 10^6 keys through `tern serve` (SQLite, local
#    filesystem source and destination whose files already match, so every key is compared and
#    skipped): peak RSS (VmHWM) of each run in its own process, wall time, the ledger file's
#    bytes per key, and the task's counts checked against the number of files created.
#    Files are empty, 1,000 per directory; everything is deleted at the end.
#
#   bash bench/ledger_size.sh                    # both parts, writes bench/results/ledger_size.md
#   LEDGER_SIZES="10000 100000" bash bench/ledger_size.sh
#   TERN_BIN=target/release/tern bash bench/ledger_size.sh   # default: debug build
# BENCH_BUILD=0 skips the builds; LEDGER_OUT names another report file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

LEDGER_KEYS=${LEDGER_KEYS:-100000}
SIZES=${LEDGER_SIZES:-"10000 100000 1000000"}
TERN_BIN=${TERN_BIN:-target/debug/tern}
TERN=$TERN_BIN
OUT=${LEDGER_OUT:-bench/results/ledger_size.md}
bench_workdir tern-ledger-bench

if [[ ${BENCH_BUILD:-1} == 1 ]]; then
    cargo build --release -p tern-store --example ledger_cost >&2
    [[ $TERN_BIN == target/debug/tern ]] && cargo build -p tern >&2
fi
mkdir -p bench/results

log "ledger cost: $LEDGER_KEYS succeeded keys through record_batch"
LEDGER_COST=$(release_bin examples/ledger_cost)
ledger=$("$LEDGER_COST" "$LEDGER_KEYS")
echo "$ledger" >&2

# make_tree DIR COUNT: COUNT empty files, 1,000 per directory (d0000/k-….bin).
make_tree() {
    python3 - "$1" "$2" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    d = os.path.join(root, f"d{i // 1000:04d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    open(os.path.join(d, f"object-key-of-a-huge-bucket-{i:010d}.bin"), "wb").close()
PY
}

rows=""
for n in $SIZES; do
    free_inodes=$(df -Pi "$WORK" | awk 'NR == 2 {print $4}')
    ((free_inodes > 3 * n)) || die "only $free_inodes inodes free for 2 × $n files"
    log "creating 2 × $n empty files"
    root="$WORK/root"
    rm -rf "$root" "$WORK/data"
    mkdir -p "$root"
    make_tree "$root/src" "$n"
    # The destination is written after the source, so it is never older: every key compares
    # equal by size and last-modified and is skipped.
    make_tree "$root/dst" "$n"
    {
        echo "version = 1"
        toml_region Local local "$root"
        toml_region HuaweiCloud local "$root" fs
    } >"$WORK/tern.toml"
    start_serve "$WORK" --data-dir "$WORK/data" --config "$WORK/tern.toml"
    start=$(date +%s.%N)
    TASK=$(json_eval "$(api POST tasks '{
      "task_type": "prefix",
      "src_node": {"cloud_type": "Local", "region": "local", "ak": "", "sk": "", "bucket": "src", "object_key": [""]},
      "dst_node": {"region": "local", "ak": "", "sk": "", "bucket": "dst"}}')" 'j["id"]')
    log "task $TASK: list and compare $n keys"
    samples=""
    # Peak RSS while keys are still being listed and compared (before the run writes its
    # object lists and ends).
    compare_peak=0
    while true; do
        rss=$(proc_kb "$SERVE_PID" VmRSS)
        samples="$samples $rss"
        show=$(api GET "tasks/$TASK")
        read -r status compared < <(json_eval "$show" '"%s %s" % (j["status"], j["successful_num"] + j["skipped_num"] + j["failed_num"])')
        ((compared < n && rss > compare_peak)) && compare_peak=$rss
        [[ $status == 4 || $status == 5 ]] && break
        sleep 1
    done
    wall=$(since "$start")
    hwm=$(proc_kb "$SERVE_PID" VmHWM)
    stop_serve
    counts=$(python3 - "$show" "$n" <<'PY'
import json, sys
t, n = json.loads(sys.argv[1]), int(sys.argv[2])
line = (f"status {t['status']}, total {t['total_num']}, succeeded {t['successful_num']}, "
        f"skipped {t['skipped_num']}, failed {t['failed_num']}")
if t["status"] != 5 or t["total_num"] != n or t["skipped_num"] != n:
    sys.exit(f"expected {n} keys all skipped, got {line}")
print(line)
PY
    ) || die "$counts"
    db=$(python3 - "$WORK/data/tern.db" "$n" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
pages = c.execute("PRAGMA page_count").fetchone()[0]
size = c.execute("PRAGMA page_size").fetchone()[0]
print(f"{pages * size / int(sys.argv[2]):.1f}")
PY
    )
    # The median of the sampled RSS shows the steady state; VmHWM is the peak.
    median=$(echo "$samples" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    log "$n keys: $counts; wall ${wall}s; peak RSS $((hwm / 1024)) MiB, while comparing $((compare_peak / 1024)) MiB, median $((median / 1024)) MiB; $db database bytes/key"
    rows="$rows| $n | $wall | $((compare_peak / 1024)) | $((hwm / 1024)) | $((median / 1024)) | $db | $counts |
"
    rm -rf "$root"
done

cat >"$OUT" <<MD
# Ledger cost per key and huge-bucket memory (bench/ledger_size.sh)

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB; git $(git rev-parse --short HEAD)

## SQLite ledger, $LEDGER_KEYS succeeded keys through record_batch (release build)

\`\`\`
$ledger
\`\`\`

## List-and-compare through tern serve ($TERN_BIN), local files, every key skipped

| keys | wall s | peak RSS while comparing, MiB | peak RSS (VmHWM), MiB | median RSS MiB | database bytes/key | task |
|---:|---:|---:|---:|---:|---:|---|
$rows
MD
cat "$OUT"
