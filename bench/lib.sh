# shellcheck shell=bash
# Helpers for bench/run.sh (sourced, not run). Everything here talks only to 127.0.0.1.

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

# Stops every weed this script started (by pid: TERM, then KILL after 5 s) and removes the gRPC
# sockets weed leaves in /tmp.
stop_weeds() {
    local pid port offset
    for pid in "${WEED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WEED_PIDS[@]}"; do
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
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
