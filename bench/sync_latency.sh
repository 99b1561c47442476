#!/usr/bin/env bash
# bench/sync_latency.sh — how fast a sync task follows its source: `tern serve` between two local
# SeaweedFS servers, events at a steady rate (50/s for 30 s by default), each for a small object
# PUT just before; reports p50/p90/p99 latency (event answered → object visible at the
# destination) and throughput as JSON, and appends a row to bench/results/sync-latency.md.
#
#   bash bench/sync_latency.sh
#
# Environment: RATE (events/s) 50, DURATION (s) 30, SIZE (bytes) 4096, BENCH_BUILD (1: cargo build
# --release first; 0: use TERN_BIN) 1, TERN_BIN (default target/release/tern), BENCH_KEEP 0,
# SYNC_OUT (the table a row is appended to) bench/results/sync-latency.md.
# Needs weed, python3 with boto3 and requests (scripts/test.sh's venv has them: PATH=target/test-venv/bin:$PATH).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export RATE=${RATE:-50} DURATION=${DURATION:-30} SIZE=${SIZE:-4096}
BENCH_AK=benchak BENCH_SK=benchsecretkey
TERN_BIN=${TERN_BIN:-$ROOT/target/release/tern}
if [[ ${BENCH_BUILD:-1} == 1 ]]; then
    log "building tern (release)"
    (cd "$ROOT" && cargo build --release -p tern >&2)
fi
[[ -x $TERN_BIN ]] || die "no tern binary at $TERN_BIN"
command -v weed >/dev/null || die "weed not on PATH"
python3 -c 'import boto3, requests' || die "python3 lacks boto3/requests"

bench_workdir tern-sync-bench
start_src_dst
SRC_URL=$SRC_EP DST_URL=$DST_EP
python3 - "$SRC_URL" "$DST_URL" <<PY
import sys, boto3
for url, bucket in zip(sys.argv[1:], ["sync-src", "sync-dst"]):
    boto3.client("s3", endpoint_url=url, aws_access_key_id="$BENCH_AK",
                 aws_secret_access_key="$BENCH_SK", region_name="us-east-1").create_bucket(Bucket=bucket)
PY

{
    echo "version = 1"
    toml_region AWS bench-src "$SRC_URL" s3
    toml_region HuaweiCloud bench-dst "$DST_URL" s3
} >"$WORK/tern.toml"
TERN=$TERN_BIN
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
TERN_LOG=warn start_serve "$WORK" --config "$WORK/tern.toml" --data-dir "$WORK/data"
TERN_URL=$API TERN_PROJECT_ID=$PROJECT TERN_TOKEN=$TOKEN

load_before=$(cut -d' ' -f1 /proc/loadavg)
log "sending $RATE events/s for $DURATION s ($SIZE-byte objects); load average $load_before"
result=$(TERN_URL=$TERN_URL TERN_PROJECT_ID=$TERN_PROJECT_ID TERN_TOKEN=$TERN_TOKEN \
    SRC_URL=$SRC_URL DST_URL=$DST_URL S3_AK=$BENCH_AK S3_SK=$BENCH_SK \
    SRC_BUCKET=sync-src DST_BUCKET=sync-dst SRC_REGION=bench-src DST_REGION=bench-dst \
    python3 "$BENCH/sync_latency.py") || { echo "$result"; die "the run failed"; }
echo "$result"
tern_cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$SERVE_PID/stat")
load_after=$(cut -d' ' -f1 /proc/loadavg)
profile=$(basename "$(dirname "$TERN_BIN")")
out=${SYNC_OUT:-$BENCH/results/sync-latency.md}
mkdir -p "$(dirname "$out")"
[[ -s $out ]] || printf '# Sync-task latency (bench/sync_latency.sh)\n\n| date (UTC) | commit | build | load avg (2 cores) | events/s × s | size | p50 ms | p90 ms | p99 ms | max ms | throughput obj/s | tern CPU s | result JSON |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n' >"$out"
python3 - "$result" "$(git -C "$ROOT" rev-parse --short HEAD)" "$tern_cpu" "$profile" "$load_before → $load_after" >>"$out" <<'PY'
import json, sys, datetime
r = json.loads(sys.argv[1]); l = r["latency_ms"]
print(f"| {datetime.datetime.utcnow():%Y-%m-%d %H:%M} | {sys.argv[2]} | {sys.argv[4]} | {sys.argv[5]} | {r['rate_asked']:g} × {r['events'] / r['rate_asked']:g} | {r['object_bytes']} B "
      f"| {l['p50']} | {l['p90']} | {l['p99']} | {l['max']} | {r['throughput_objects_per_s']} | {float(sys.argv[3]):.1f} | `{json.dumps(r)}` |")
PY
log "appended to $out"
