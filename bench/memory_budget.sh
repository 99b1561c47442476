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

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GEN_TRANSFERS=16
bench_settings 2 600

bench_start tern-bench-mem tern

# ---------------------------------------------------------------------------------------------
start_src_dst
rclone_setup src="$SRC_EP" dst="$DST_EP"
export_tern_keys

# ---------------------------------------------------------------------------------------------
STREAMS=8
RCLONE_COMMON=(--config "$RCLONE_CONF" --stats 0 -q --s3-no-check-bucket --use-server-modtime --update
    --multi-thread-cutoff 8M --multi-thread-streams "$STREAMS" --s3-chunk-size 8M
    --s3-upload-cutoff 8M --s3-upload-concurrency "$STREAMS")
RCLONE_COMMON_TEXT="--config CONF --stats 0 -q --s3-no-check-bucket --use-server-modtime --update --multi-thread-cutoff 8M --multi-thread-streams $STREAMS --s3-chunk-size 8M --s3-upload-cutoff 8M --s3-upload-concurrency $STREAMS"
TERN_COMMON=(--json --part-size 8M --part-concurrency "$STREAMS")
# A budget that never binds: tern as it was before the budget.
UNBOUNDED_MIB=65536

C_SIZE=$(mib_scaled 256)
T_SIZE=$(mib_scaled 64)

record_meta scale="$BENCH_SCALE" runs="$BENCH_RUNS"

generate c 4 "$C_SIZE" flat src:mem-c && rm -rf "$WORK/gen/c"
generate t 16 "$T_SIZE" flat src:mem-t && rm -rf "$WORK/gen/t"
sleep 1

# run_tool TOOL BUCKET PREFIX: one timed copy of copy_workload's source bucket into dst:BUCKET.
run_tool() {
    local tool=$1 db=$2 p=$3
    case $tool in
    tern) timed "$p" "$TERN" copy "$(tern_url "$sb" "$SRC_EP")" "$(tern_url "$db" "$DST_EP")" "${tflags[@]}" ;;
    tern-unbounded) timed "$p" "$TERN" copy "$(tern_url "$sb" "$SRC_EP")" "$(tern_url "$db" "$DST_EP")" "${tflags[@]}" --memory-budget-mib "$UNBOUNDED_MIB" ;;
    rclone) timed "$p" rclone copy "src:$sb" "dst:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" ;;
    esac
}

# copy_workload WL SRC_BUCKET COUNT BYTES TRANSFERS
copy_workload() {
    local wl=$1 sb=$2 count=$3 bytes=$4 transfers=$5
    local tflags=("${TERN_COMMON[@]}" --transfers "$transfers" --checkers "$transfers")
    local rflags=(--transfers "$transfers" --checkers "$transfers")
    record type=workload id="$wl" objects="$count" bytes="$bytes" transfers="$transfers" \
        rclone="rclone copy src:$sb dst:BUCKET $RCLONE_COMMON_TEXT ${rflags[*]}" \
        tern="tern copy $(tern_url "$sb" "$SRC_EP") $(tern_url BUCKET "$DST_EP") ${tflags[*]}" \
        tern_unbounded="tern copy ... ${tflags[*]} --memory-budget-mib $UNBOUNDED_MIB"
    copy_runs "$wl" "$count" "$bytes" dst tern tern-unbounded rclone
}

log "workload c4: 4 × $C_SIZE B at 4 transfers"
copy_workload c4 mem-c 4 $((4 * C_SIZE)) 4
for transfers in 1 4 16; do
    log "workload t$transfers: 16 × $T_SIZE B at $transfers transfers"
    copy_workload "t$transfers" mem-t 16 $((16 * T_SIZE)) "$transfers"
done

# ---------------------------------------------------------------------------------------------
make_report <<'EOF'
from runstats import mb_per_s, ratio, results, tool_medians
rows, meta = results()
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
    med = {tool: tool_medians(runs, tool) for tool in ("tern", "tern-unbounded", "rclone")}
    rc = med["rclone"]
    for tool, m in med.items():
        if m is None:
            print(f"| {label} | {transfers} | {tool} | 0 | — | — | — | — | — | — |")
        else:
            speed = ratio(rc["wall"], m["wall"]) if rc else "—"
            rss = ratio(m["rss"], rc["rss"]) if rc else "—"
            print(f"| {label} | {transfers} | {tool} | {m['ok']} | {m['wall']:.2f} | {mb_per_s(work['bytes'], m['wall']):,.0f} "
                  f"| {m['cpu']:.2f} | {m['rss']:.0f} | {speed} | {rss} |")
print("\nCommands (BUCKET: a fresh bucket per run; CONF: an empty rclone config file):\n\n```")
for wl, (_, _, work) in labels.items():
    print(work["tern"]); print(work["tern_unbounded"]); print(work["rclone"])
print("```\n")
EOF
((FAILURES == 0)) || die "$FAILURES timed runs failed"
