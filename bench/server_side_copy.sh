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

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GEN_TRANSFERS=32
bench_settings 3 1800

bench_start tern-bench-ssc tern

# ---------------------------------------------------------------------------------------------
# One server: both buckets live on it, so both tern and rclone can copy server-side.
start_server weed
EP=http://127.0.0.1:$PORT
WEED_PID=${WEED_PIDS[0]}
log "server $EP (pid $WEED_PID), work dir $WORK"
rclone_setup one="$EP"
export_tern_keys
# weed_cpu: the server's CPU seconds so far (user+sys, /proc/PID/stat fields 14 and 15).
weed_cpu() { python3 -c "print($(cpu_ticks "$WEED_PID") / $(getconf CLK_TCK))"; }

# ---------------------------------------------------------------------------------------------
MEDIUM_T=32
LARGE_T=4
LARGE_STREAMS=8
RCLONE_COMMON=(--config "$RCLONE_CONF" --stats 0 -q --s3-no-check-bucket --use-server-modtime --update)
RCLONE_COMMON_TEXT="--config CONF --stats 0 -q --s3-no-check-bucket --use-server-modtime --update"
# rclone copies server-side whenever source and destination are one remote; its copy cutoff
# (4.6 GiB) makes every object here one CopyObject. Its defaults otherwise.
# shellcheck disable=SC2034 # copy_workload takes it by name
RCLONE_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T")
# shellcheck disable=SC2034 # copy_workload takes it by name
RCLONE_LARGE=(--transfers "$LARGE_T" --checkers "$LARGE_T")
# shellcheck disable=SC2034 # copy_workload takes it by name
TERN_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T" --metadata)
# shellcheck disable=SC2034 # copy_workload takes it by name
TERN_LARGE=(--transfers "$LARGE_T" --checkers "$LARGE_T" --part-size 8M --part-concurrency "$LARGE_STREAMS" --metadata)

B_N=$(scaled 500 4)
B_SIZE=$((1024 * 1024))
C_N=4
C_SIZE=$(mib_scaled 256)

record_meta scale="$BENCH_SCALE" runs="$BENCH_RUNS" endpoint="$EP"

generate wb "$B_N" "$B_SIZE" flat one:ssc-b && rm -rf "$WORK/gen/wb"
generate wc "$C_N" "$C_SIZE" flat one:ssc-c && rm -rf "$WORK/gen/wc"
sleep 1

# run_tool TOOL BUCKET PREFIX: one timed copy of copy_workload's source bucket into one:BUCKET;
# records the CPU seconds the server spent meanwhile.
run_tool() {
    local tool=$1 db=$2 p=$3 server_before server_after
    server_before=$(weed_cpu)
    case $tool in
    tern) timed "$p" "$TERN" copy "$(tern_url "$sb")" "$(tern_url "$db")" --json "${tflags[@]}" ;;
    tern-stream) timed "$p" "$TERN" copy "$(tern_url "$sb")" "$(tern_url "$db")" --json "${tflags[@]}" --no-server-side-copy ;;
    # Without --metadata: Content-Type alone is written, which takes a HEAD of each source object.
    tern-head)
        local flag head_flags=()
        for flag in "${tflags[@]}"; do [[ $flag == --metadata ]] || head_flags+=("$flag"); done
        timed "$p" "$TERN" copy "$(tern_url "$sb")" "$(tern_url "$db")" --json "${head_flags[@]}"
        ;;
    rclone) timed "$p" rclone copy "one:$sb" "one:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" ;;
    esac
    server_after=$(weed_cpu)
    RUN_EXTRA=(server_cpu="$(python3 -c "print(round($server_after - $server_before, 3))")")
}

# copy_workload WL SRC_BUCKET COUNT BYTES RCLONE_FLAGS_VAR TERN_FLAGS_VAR
copy_workload() {
    local wl=$1 sb=$2 count=$3 bytes=$4 rflags_var=$5 tflags_var=$6
    local -n rflags=$rflags_var tflags=$tflags_var
    local head_text="${tflags[*]}"
    record type=workload id="$wl" objects="$count" bytes="$bytes" \
        rclone="rclone copy one:$sb one:BUCKET $RCLONE_COMMON_TEXT ${rflags[*]}" \
        tern="tern copy $(tern_url "$sb") $(tern_url BUCKET) --json ${tflags[*]}" \
        tern_stream="tern copy $(tern_url "$sb") $(tern_url BUCKET) --json ${tflags[*]} --no-server-side-copy" \
        tern_head="tern copy $(tern_url "$sb") $(tern_url BUCKET) --json ${head_text/ --metadata/}"
    copy_runs "$wl" "$count" "$bytes" one tern tern-head tern-stream rclone
}

log "workload b: $B_N × $B_SIZE B"
copy_workload b ssc-b "$B_N" $((B_N * B_SIZE)) RCLONE_MEDIUM TERN_MEDIUM
log "workload c: $C_N × $C_SIZE B"
copy_workload c ssc-c "$C_N" $((C_N * C_SIZE)) RCLONE_LARGE TERN_LARGE

# ---------------------------------------------------------------------------------------------
make_report <<'EOF'
from runstats import mb_per_s, ratio, results, tool_medians
rows, meta = results()
print(f"## Server-side copy on one endpoint (bench/server_side_copy.sh, {meta['date']})\n")
print(f"- machine: {meta['nproc']} CPUs shared with other work; one SeaweedFS ({meta['weed']}), "
      f"two buckets; {meta['rclone']}; tern {meta['tern_rev']} (release); "
      f"scale {meta['scale']}, median of {meta['runs']} runs")
print("- tern: server-side is its default on one endpoint; `--metadata` copies metadata as rclone does, "
      "so a whole-object copy needs no HEAD of the source (`x-amz-metadata-directive: COPY`); "
      "`tern-head` is the same command without `--metadata` (a HEAD per object gives the Content-Type "
      "to write); `tern-stream` adds `--no-server-side-copy`; rclone copies server-side between "
      "buckets of one remote")
print("- CPU s is the copier's own (user+sys); server CPU s is what SeaweedFS spent during the run\n")
names = {"b": "500 × 1 MiB", "c": "4 × 256 MiB"}
for wl in [w for w in ("b", "c") if any(r.get("workload") == w for r in rows)]:
    work = next(r for r in rows if r["type"] == "workload" and r["id"] == wl)
    runs = [r for r in rows if r["type"] == "run" and r["workload"] == wl]
    med = {tool: tool_medians(runs, tool, server="server_cpu") for tool in ("tern", "tern-head", "tern-stream", "rclone")}
    label = names.get(wl, wl) if work["bytes"] in (500 * 1048576, 4 * 268435456) else f"{work['objects']} objects, {work['bytes']} bytes"
    print(f"### {wl}) {label}\n")
    print("| tool | ok runs | wall s | MB/s | CPU s | server CPU s | peak RSS MiB | speed ÷ tern-stream | CPU ÷ tern-stream's | speed ÷ rclone | CPU ÷ rclone's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    s, r = med.get("tern-stream"), med.get("rclone")
    for tool, m in med.items():
        if m is None:
            print(f"| {tool} | 0 | — | — | — | — | — | — | — | — | — |")
            continue
        print(f"| {tool} | {m['ok']} | {m['wall']:.2f} | {mb_per_s(work['bytes'], m['wall']):,.0f} | {m['cpu']:.2f} | {m['server']:.2f} | {m['rss']:.1f} | "
              f"{ratio(s['wall'], m['wall']) if s else '—'} | {ratio(m['cpu'], s['cpu']) if s else '—'} | "
              f"{ratio(r['wall'], m['wall']) if r else '—'} | {ratio(m['cpu'], r['cpu']) if r else '—'} |")
    print("\nCommands (CONF: an empty rclone config file):\n\n```")
    print(work["tern"]); print(work["tern_head"]); print(work["tern_stream"]); print(work["rclone"]); print("```\n")
EOF
((FAILURES == 0)) || die "$FAILURES timed runs failed"
