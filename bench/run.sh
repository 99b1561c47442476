#!/usr/bin/env bash
# bench/run.sh — tern against rclone (and the bare OpenDAL loop, the machine's ceiling) on two
# local SeaweedFS servers (source and destination, like a real migration). Writes bench/RESULTS.md.
#
#   bash bench/run.sh                                  # full run (tens of minutes; quiet machine)
#   BENCH_SCALE=0.02 BENCH_RUNS=1 bash bench/run.sh    # smoke run (~1 min after the build)
#
# Environment:
#   BENCH_SCALE      multiplies object counts (and the 256 MiB size of workload c, floor 16 MiB); 1
#   BENCH_RUNS       timed runs per tool and workload (tools alternate run by run); 3
#   BENCH_WORKLOADS  subset of "a b c d e f"; all
#   BENCH_LAYOUT     key layout of workloads a–d: dirs (1000 keys per "directory", rclone's best
#                    case: it lists and compares directory by directory) or flat; dirs
#   BENCH_RCLONE_NOHEAD  1 adds an "rclone --s3-no-head" row to a and b (see "Integrity" below); 1
#   BENCH_RUN_TIMEOUT    seconds before one timed command is killed; 1800
#   BENCH_KEEP       1 keeps the temp dir (server data, logs, per-run outputs); 0
#   BENCH_OUT        where the report goes; bench/RESULTS.md
#   BENCH_BUILD      0 skips `cargo build --release` and uses the binaries already in target/release; 1
#
# Workloads: a) 20,000 × 4 KiB  b) 500 × 1 MiB  c) 4 × 256 MiB  d) incremental: 20,000 × 4 KiB
# of which 95% already at the destination  e) memory scaling: list-and-compare (dry run) of
# 10,000 and of 200,000 tiny objects present on both sides (flat keys: one listing "directory").
# f) small runs: 1,000 and 3,000 × 4 KiB (a fixed start or tail cost shows here first).
# Every run copies into a fresh destination bucket (d: the same bucket, restored to "95% there"
# before each run by deleting the 5% the previous run copied) and is verified afterwards.
# Measured per run with /usr/bin/time: wall s, the copier's own CPU s (user+sys), peak RSS.
# Exit code: 0 only if every timed run succeeded and verified.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_WORKLOADS=${BENCH_WORKLOADS:-a b c d e f}
BENCH_LAYOUT=${BENCH_LAYOUT:-dirs}
BENCH_RCLONE_NOHEAD=${BENCH_RCLONE_NOHEAD:-1}

case $BENCH_LAYOUT in dirs | flat) ;; *) die "BENCH_LAYOUT must be dirs or flat" ;; esac
bench_settings 3 1800

# Nothing ambient may reach the tools; the servers and every client get their keys explicitly.
# The work dir and the traps come first, so that any interruption stops what this script started.
bench_start tern-bench tern tern-bareloop
BARE=$(release_bin tern-bareloop)

# ---------------------------------------------------------------------------------------------
start_src_dst

# rclone: remotes "src" and "dst" from environment variables only; tern: keys from the environment.
rclone_setup src="$SRC_EP" dst="$DST_EP"
export_tern_keys

# ---------------------------------------------------------------------------------------------
# The tools' flags. Concurrency is the same number for every tool in a workload.
SMALL_T=${BENCH_SMALL_TRANSFERS:-64} # a, d, e: many tiny objects, latency-bound: 64 in flight
MEDIUM_T=${BENCH_MEDIUM_TRANSFERS:-32} # b: 1 MiB objects: 32 in flight (32 MiB in the air)
LARGE_T=4                            # c: 4 objects, all at once …
LARGE_STREAMS=${BENCH_LARGE_STREAMS:-8} # … each in 8 MiB parts, 8 parts in flight per object

RCLONE_BASE=(--config "$RCLONE_CONF" --stats 0) # empty config: remotes come from RCLONE_CONFIG_*
#                                                 only; no progress output
RCLONE_COMPARE=(
    --s3-no-check-bucket    # the bucket exists; don't probe/create it (tern doesn't either)
    --use-server-modtime    # take mtime from the listing's LastModified: without it rclone HEADs
    #                         every object to read X-Amz-Meta-Mtime (tern compares listings only)
    --update                # skip when the destination is newer: with --use-server-modtime this is
    #                         tern's default rule (size + last-modified, no HEAD); rclone's S3 docs
    #                         suggest this pair to avoid the HEADs. Without the two flags an
    #                         incremental run HEADs both sides of every pair and re-uploads
    #                         everything (measured: 50 objects present -> 100 HEAD + 50 PUT)
)
RCLONE_COMMON=("${RCLONE_BASE[@]}" -q "${RCLONE_COMPARE[@]}") # -q: errors only
# For the command lines written into the report.
RCLONE_COMMON_TEXT="--config CONF --stats 0 -q ${RCLONE_COMPARE[*]}"
# Integrity: rclone keeps its default — after each PUT it HEADs the object and compares size and
# MD5 with the source's ETag. tern compares the PUT response's ETag with the MD5 it computed while
# streaming, which is what rclone does with --s3-no-head (it still reads the MD5 from the PUT
# response and compares hashes; only the extra HEAD goes). So the default rclone row does one
# request per object more than tern; the "rclone --s3-no-head" row (BENCH_RCLONE_NOHEAD=1) is the
# like-for-like one. Ratios in the tables are against the default rclone row.
RCLONE_SMALL=(
    --transfers "$SMALL_T" # the default 4 leaves the servers idle on 4 KiB objects
    --checkers "$SMALL_T"  # compare pairs as fast as transfers consume them
)
# shellcheck disable=SC2034 # copy_workload takes it by name
RCLONE_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T")
# shellcheck disable=SC2034 # copy_workload takes it by name
RCLONE_LARGE=(
    --transfers "$LARGE_T"
    --checkers "$LARGE_T"
    --multi-thread-cutoff 8M                 # objects from 8 MiB up go through rclone's multi-thread
    #                                          copy (ranged GETs, parts written in parallel through
    #                                          the S3 chunk writer); default cutoff 256Mi
    --multi-thread-streams "$LARGE_STREAMS"  # parts of one object in flight (= tern --part-concurrency)
    --s3-chunk-size 8M                       # part size (= tern --part-size; rclone's default 5Mi)
    --s3-upload-cutoff 8M                    # multipart above 8 MiB, as tern does (default 200Mi)
    --s3-upload-concurrency "$LARGE_STREAMS" # the same, should the backend's own multipart path run
)
# --fast-list is not used: with keys in directories of 1000, rclone lists directories in parallel
# with its checkers, and --fast-list would load the whole listing into memory before copying;
# with flat keys there is a single directory and it changes nothing.

TERN_SMALL=(--transfers "$SMALL_T" --checkers "$SMALL_T")
# shellcheck disable=SC2034 # copy_workload takes it by name
TERN_MEDIUM=(--transfers "$MEDIUM_T" --checkers "$MEDIUM_T")
# shellcheck disable=SC2034 # copy_workload takes it by name
TERN_LARGE=(--transfers "$LARGE_T" --checkers "$LARGE_T" --part-size 8M --part-concurrency "$LARGE_STREAMS")
# tern runs with its defaults otherwise: --overwrite size (size + last-modified from the
# listings), --check size_last_modified, PUT ETag checked against the MD5 computed in flight.

# ---------------------------------------------------------------------------------------------
# Workload sizes.
want() { [[ " $BENCH_WORKLOADS " == *" $1 "* ]]; }
A_N=$(scaled 20000 20)
A_SIZE=4096
B_N=$(scaled 500 4)
B_SIZE=$((1024 * 1024))
C_N=4
C_SIZE=$(mib_scaled 256)
D_N=$A_N # d reuses a's source bucket
D_EVERY=20 # every 20th key is missing at the destination: 5%
E_SMALL_N=$(scaled 10000 100)
E_LARGE_N=$(scaled 200000 1000)
E_SIZE=100
F1_N=$(scaled 1000 20)
F3_N=$(scaled 3000 20)

record_meta scale="$BENCH_SCALE" runs="$BENCH_RUNS" layout="$BENCH_LAYOUT" small_t="$SMALL_T" \
    medium_t="$MEDIUM_T" large_t="$LARGE_T" large_streams="$LARGE_STREAMS"

# ---------------------------------------------------------------------------------------------
# Generation: each workload is written locally once and uploaded once with rclone (not timed).
if want a || want d; then generate wa "$A_N" "$A_SIZE" "$BENCH_LAYOUT" src:bench-a; fi
if want b; then generate wb "$B_N" "$B_SIZE" "$BENCH_LAYOUT" src:bench-b && rm -rf "$WORK/gen/wb"; fi
if want c; then generate wc "$C_N" "$C_SIZE" "$BENCH_LAYOUT" src:bench-c && rm -rf "$WORK/gen/wc"; fi
if want f; then
    generate wf1 "$F1_N" "$A_SIZE" "$BENCH_LAYOUT" src:bench-f1 && rm -rf "$WORK/gen/wf1"
    generate wf3 "$F3_N" "$A_SIZE" "$BENCH_LAYOUT" src:bench-f3 && rm -rf "$WORK/gen/wf3"
fi
if want d; then
    # The destination of d: everything but every 20th key, uploaded from the same local files
    # after the source, so the destination copies are not older (what a previous run leaves).
    python3 "$BENCH/gen.py" --keys "$D_N" "$BENCH_LAYOUT" "$D_EVERY" >"$WORK/d-missing.txt"
    D_MISSING=$(wc -l <"$WORK/d-missing.txt")
    log "preparing d's destination: $((D_N - D_MISSING)) of $D_N objects"
    rc_admin mkdir dst:bench-d || die "cannot create bucket dst:bench-d"
    rc_admin copy "$WORK/gen/wa" dst:bench-d --transfers 64 --checkers 64 "${GEN_FLAGS[@]}" --exclude-from "$WORK/d-missing.txt" ||
        die "uploading d's destination failed"
    [[ $(size_of dst:bench-d) == "$((D_N - D_MISSING)) $(((D_N - D_MISSING) * A_SIZE))" ]] ||
        die "dst:bench-d holds $(size_of dst:bench-d)"
fi
rm -rf "$WORK/gen/wa"
if want e; then
    # Present on both sides (destination uploaded second, not older): a dry run lists and
    # compares everything and finds nothing to copy.
    generate es "$E_SMALL_N" "$E_SIZE" flat src:bench-es dst:bench-es && rm -rf "$WORK/gen/es"
    generate el "$E_LARGE_N" "$E_SIZE" flat src:bench-el dst:bench-el && rm -rf "$WORK/gen/el"
fi
sleep 1 # every timed run starts at least a second after the last upload (d's check needs it)

# ---------------------------------------------------------------------------------------------
# run_tool TOOL BUCKET PREFIX: one timed copy of copy_workload's source bucket into dst:BUCKET.
run_tool() {
    local tool=$1 db=$2 p=$3
    case $tool in
    rclone) timed "$p" rclone copy "src:$sb" "dst:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" ;;
    rclone-nohead) timed "$p" rclone copy "src:$sb" "dst:$db" "${RCLONE_COMMON[@]}" "${rflags[@]}" --s3-no-head ;;
    tern) timed "$p" "$TERN" copy "$(tern_url "$sb" "$SRC_EP")" "$(tern_url "$db" "$DST_EP")" --json "${tflags[@]}" ;;
    bare) timed "$p" env AWS_ACCESS_KEY_ID="$BENCH_AK" AWS_SECRET_ACCESS_KEY="$BENCH_SK" \
        "$BARE" --src-endpoint "$SRC_EP" --src-bucket "$sb" --dst-endpoint "$DST_EP" \
        --dst-bucket "$db" --concurrency "$conc" ;;
    esac
}

# copy_workload WL SRC_BUCKET COUNT BYTES RCLONE_FLAGS_VAR TERN_FLAGS_VAR CONCURRENCY [nohead]
copy_workload() {
    local wl=$1 sb=$2 count=$3 bytes=$4 rflags_var=$5 tflags_var=$6 conc=$7 nohead=${8:-0}
    local -n rflags=$rflags_var tflags=$tflags_var
    local tools=(rclone)
    [[ $nohead == 1 ]] && tools+=(rclone-nohead)
    tools+=(tern bare)
    record type=workload id="$wl" objects="$count" bytes="$bytes" \
        rclone="rclone copy src:$sb dst:BUCKET $RCLONE_COMMON_TEXT ${rflags[*]}" \
        tern="tern copy $(tern_url "$sb" "$SRC_EP") $(tern_url BUCKET "$DST_EP") --json ${tflags[*]}" \
        bare="tern-bareloop --src-endpoint $SRC_EP --src-bucket $sb --dst-endpoint $DST_EP --dst-bucket BUCKET --concurrency $conc"
    copy_runs "$wl" "$count" "$bytes" dst "${tools[@]}"
}

if want a; then
    log "workload a: $A_N × $A_SIZE B"
    copy_workload a bench-a "$A_N" $((A_N * A_SIZE)) RCLONE_SMALL TERN_SMALL "$SMALL_T" "$BENCH_RCLONE_NOHEAD"
fi
if want b; then
    log "workload b: $B_N × $B_SIZE B"
    copy_workload b bench-b "$B_N" $((B_N * B_SIZE)) RCLONE_MEDIUM TERN_MEDIUM "$MEDIUM_T" "$BENCH_RCLONE_NOHEAD"
fi
if want f; then
    log "workload f: $F1_N and $F3_N × $A_SIZE B"
    copy_workload f1 bench-f1 "$F1_N" $((F1_N * A_SIZE)) RCLONE_SMALL TERN_SMALL "$SMALL_T" "$BENCH_RCLONE_NOHEAD"
    copy_workload f3 bench-f3 "$F3_N" $((F3_N * A_SIZE)) RCLONE_SMALL TERN_SMALL "$SMALL_T" "$BENCH_RCLONE_NOHEAD"
fi
if want c; then
    log "workload c: $C_N × $C_SIZE B"
    copy_workload c bench-c "$C_N" $((C_N * C_SIZE)) RCLONE_LARGE TERN_LARGE "$LARGE_T"
fi

if want d; then
    log "workload d: $D_N × $A_SIZE B, $D_MISSING missing at the destination"
    record type=workload id=d objects="$D_N" bytes=$((D_MISSING * A_SIZE)) copied="$D_MISSING" \
        rclone="rclone copy src:bench-a dst:bench-d $RCLONE_COMMON_TEXT ${RCLONE_SMALL[*]}" \
        tern="tern copy $(tern_url bench-a "$SRC_EP") $(tern_url bench-d "$DST_EP") --json ${TERN_SMALL[*]}"
    for run in $(seq 1 "$BENCH_RUNS"); do
        for tool in rclone tern; do
            p=$RUNS_DIR/d-$tool-$run
            # Restore "95% there": delete whatever of the 5% the previous run copied.
            rc_admin delete dst:bench-d --files-from "$WORK/d-missing.txt" --checkers 64
            [[ $(size_of dst:bench-d) == "$((D_N - D_MISSING)) $(((D_N - D_MISSING) * A_SIZE))" ]] ||
                die "could not restore dst:bench-d: $(size_of dst:bench-d)"
            sleep 1
            start=$(date +%s)
            case $tool in
            rclone) timed "$p" rclone copy src:bench-a dst:bench-d "${RCLONE_COMMON[@]}" "${RCLONE_SMALL[@]}" ;;
            tern) timed "$p" "$TERN" copy "$(tern_url bench-a "$SRC_EP")" "$(tern_url bench-d "$DST_EP")" --json "${TERN_SMALL[@]}" ;;
            esac
            ok=1 note=""
            # Objects written during the run (server LastModified >= start): exactly the 5%.
            written=$(rc_admin lsjson -R --files-only --use-server-modtime dst:bench-d | python3 -c '
import json, sys, datetime
start = int(sys.argv[1])
n = 0
for o in json.load(sys.stdin):
    t = datetime.datetime.fromisoformat(o["ModTime"].replace("Z", "+00:00")).timestamp()
    n += int(t) >= start
print(n)' "$start")
            if [[ $T_RC != 0 ]]; then
                ok=0 note=$(exit_note "$p")
            elif [[ $tool == tern ]] && ! note=$(tern_check "$p.out" "$D_N" "$D_MISSING"); then
                ok=0
            elif [[ $(size_of dst:bench-d) != "$D_N $((D_N * A_SIZE))" ]]; then
                ok=0 note="destination holds $(size_of dst:bench-d), expected $D_N $((D_N * A_SIZE))"
            elif [[ $written != "$D_MISSING" ]]; then
                ok=0 note="$written objects written during the run, expected $D_MISSING"
            fi
            finish_run d "$tool" "$run" "$ok" "$D_N" $((D_MISSING * A_SIZE)) "$note"
        done
    done
fi

if want e; then
    for size in small large; do
        if [[ $size == small ]]; then b=bench-es n=$E_SMALL_N; else b=bench-el n=$E_LARGE_N; fi
        wl=e-$n
        log "workload e: dry-run list-and-compare of $n objects on both sides"
        record type=workload id="$wl" objects="$n" bytes=0 \
            rclone="rclone copy --dry-run src:$b dst:$b --config CONF --stats 0 ${RCLONE_COMPARE[*]} ${RCLONE_SMALL[*]}" \
            tern="tern copy --dry-run $(tern_url $b "$SRC_EP") $(tern_url $b "$DST_EP") --json ${TERN_SMALL[*]}"
        for run in $(seq 1 "$BENCH_RUNS"); do
            for tool in rclone tern; do
                p=$RUNS_DIR/$wl-$tool-$run
                case $tool in
                # Not -q here: rclone logs each object it would copy at NOTICE; there must be none.
                rclone) timed "$p" rclone copy --dry-run "src:$b" "dst:$b" "${RCLONE_BASE[@]}" \
                    "${RCLONE_COMPARE[@]}" "${RCLONE_SMALL[@]}" ;;
                tern) timed "$p" "$TERN" copy --dry-run "$(tern_url $b "$SRC_EP")" "$(tern_url $b "$DST_EP")" \
                    --json "${TERN_SMALL[@]}" ;;
                esac
                ok=1 note=""
                if [[ $T_RC != 0 ]]; then
                    ok=0 note=$(exit_note "$p")
                elif [[ $tool == tern ]]; then
                    got=$(json_field "$p.out" '"%s %s %s" % (j["total_num"], j.get("would_copy_num"), j["failed_num"])' || true)
                    [[ $got == "$n 0 0" ]] || ok=0 note="tern dry run total/would_copy/failed = '$got', expected '$n 0 0'"
                else
                    would=$(grep -c "Skipped copy as --dry-run" "$p.err" || true)
                    [[ $would == 0 ]] || ok=0 note="rclone would copy $would objects, expected 0"
                fi
                finish_run "$wl" "$tool" "$run" "$ok" "$n" 0 "$note"
            done
        done
    done
fi

# ---------------------------------------------------------------------------------------------
python3 "$BENCH/report.py" "$RESULTS" "$BENCH_OUT"
log "wrote $BENCH_OUT"
if ((FAILURES > 0)); then
    log "$FAILURES timed run(s) failed; outputs kept in $WORK"
    exit 1
fi
