#!/usr/bin/env bash
# bench/group_memory.sh — how big a task group tern serve handles, and with how much memory.
# Starts one local SeaweedFS, uploads GROUP_COUNT tiny objects under three prefixes, runs a PREFIX
# task group through `tern serve` (release build) split into tasks of GROUP_TASK_MAX objects, and
# samples the server's resident memory until the group ends. Writes bench/GROUPS.md.
#
#   GROUP_COUNT=100000 GROUP_TASK_MAX=10000 bash bench/group_memory.sh
# BENCH_BUILD=0 uses target/release/tern as it is; GROUP_OUT names another report file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

COUNT=${GROUP_COUNT:-100000}
PER_TASK=${GROUP_TASK_MAX:-10000}
OUT=${GROUP_OUT:-bench/GROUPS.md}
bench_start tern-group-bench tern
start_server weed
EP="http://127.0.0.1:$PORT"
rclone_setup w="$EP"

log "generating $COUNT objects under p1/ p2/ p3/"
per=$((COUNT / 3))
for p in p1 p2 p3; do
    python3 bench/gen.py "$WORK/gen/$p" "$per" 100 flat
done
# No --s3-no-check-bucket here: with it, mkdir creates nothing.
rc_admin mkdir w:src
rc_admin mkdir w:dst
rc_admin copy "$WORK/gen" w:src --s3-no-check-bucket --transfers 64 --checkers 64
total=$((per * 3))

{
    echo "version = 1"
    echo "group_task_max_objects = $PER_TASK"
    toml_region AWS bench-src "$EP" s3
    toml_region HuaweiCloud bench-dst "$EP" s3
} >"$WORK/tern.toml"
start_serve "$WORK" --data-dir "$WORK/data" --config "$WORK/tern.toml"

body=$(printf '{"task_type":"PREFIX","src_node":{"cloud_type":"AWS","region":"bench-src","ak":"%s","sk":"%s","bucket":"src","object_key":["p1/","p2/","p3/"]},"dst_node":{"ak":"%s","sk":"%s","bucket":"dst","region":"bench-dst"}}' \
    "$BENCH_AK" "$BENCH_SK" "$BENCH_AK" "$BENCH_SK")
GROUP=$(json_eval "$(api POST taskgroups "$body")" 'j["group_id"]')
log "group $GROUP: $total objects, at most $PER_TASK per task"
start=$(date +%s.%N)
peak_kb=0
while true; do
    rss=$(proc_kb "$SERVE_PID" VmRSS)
    ((rss > peak_kb)) && peak_kb=$rss
    show=$(api GET "taskgroups/$GROUP")
    status=$(json_eval "$show" 'j["status"]')
    [[ $status == 6 || $status == 5 || $status == 4 ]] && break
    sleep 0.5
done
wall=$(since "$start")
hwm=$(proc_kb "$SERVE_PID" VmHWM)
summary=$(python3 - "$show" <<'PY'
import json, sys
g = json.loads(sys.argv[1])
print(f"status {g['status']}, tasks {g['total_task_num']} (complete {g['complete_task_num']}, failed {g['failed_task_num']}), "
      f"objects {g['total_num']} (succeeded {g['success_num']}, skipped {g['skip_num']}, failed {g['fail_num']})")
PY
)
log "$summary"
log "wall ${wall}s, peak RSS of tern serve $((hwm / 1024)) MiB"
cat >"$OUT" <<MD
# Task-group scale (bench/group_memory.sh)

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB
- one PREFIX group over three prefixes, $total objects of 100 bytes, at most $PER_TASK objects per task,
  source and destination buckets on one local SeaweedFS, tern serve release build, SQLite
- result: $summary
- wall time from create to final status: ${wall} s
- peak resident memory of tern serve (VmHWM): $((hwm / 1024)) MiB
MD
[[ $status == 6 ]] || die "group ended in status $status"
