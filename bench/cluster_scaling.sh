#!/usr/bin/env bash
# bench/cluster_scaling.sh — one large task group on 1, 2 and 4 `tern worker` nodes sharing one
# PostgreSQL database (RFC 0011), against two local SeaweedFS servers, with rclone for scale.
# Writes bench/results/cluster-scaling.md.
#
#   bash bench/cluster_scaling.sh                                 # 20,000 × 4 KiB (~5 min here)
#   CLUSTER_N=3000 CLUSTER_WORKERS="1 2" bash bench/cluster_scaling.sh   # smoke run
#
# Environment:
#   CLUSTER_N            objects in the source bucket; 20000
#   CLUSTER_SIZE         bytes per object; 4096
#   CLUSTER_WORKERS      worker counts to run, one configuration each; "1 2 4"
#   CLUSTER_TASK_MAX     group_task_max_objects; default N ÷ (5 × the largest worker count), so
#                        the group splits into at least 4× as many tasks as there are workers
#   CLUSTER_RUN_TIMEOUT  seconds one configuration may take before it counts as failed; 600
#   CLUSTER_SETTLE       seconds the idle nodes run before the measured window opens; 11
#   BENCH_BUILD          0 uses target/release/tern as it is; 1
#   BENCH_KEEP           1 keeps the temp dir (logs, server data); 0
#   CLUSTER_OUT          report file; bench/results/cluster-scaling.md
#
# Each configuration gets a fresh database and a fresh destination bucket: one `tern serve`
# (the API; max_running_tasks is at least 1, so it also runs one task at a time and is counted
# as a node) plus W `tern worker` processes (max_running_tasks 2, transfers_per_task 32: 64
# objects in flight per worker). The measured window runs from the group's creation to the
# status poll that sees it finished. Figures per configuration:
#   objects/s       N ÷ wall time
#   CPU s per node  utime+stime from /proc/PID/stat over the window (serve, and each worker)
#   CPU ms/object   all tern nodes' CPU ÷ N
#   xact/object     pg_stat_database.xact_commit delta of the run's database ÷ N (read after
#                   the nodes stopped, so their backends have flushed their statistics)
#   stmt/object     statements (round trips) from pg_stat_statements ÷ N
#   PG CPU ms/obj   PostgreSQL's own CPU (postmaster, its live children, and its reaped
#                   children's cutime+cstime) over the window ÷ N
# Every run is verified: group status 6, total_num = success_num = N (from the API), and the
# destination bucket's listing counts N objects. Exit code 0 only if every run verified.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${CLUSTER_N:-20000}
SIZE=${CLUSTER_SIZE:-4096}
WORKER_COUNTS=${CLUSTER_WORKERS:-1 2 4}
RUN_TIMEOUT=${CLUSTER_RUN_TIMEOUT:-600}
SETTLE=${CLUSTER_SETTLE:-11}
BENCH_KEEP=${BENCH_KEEP:-0}
OUT=${CLUSTER_OUT:-$BENCH/results/cluster-scaling.md}
WORKER_TASKS=2
TRANSFERS=32
RCLONE_T=64

[[ $N =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_N must be a positive integer"
[[ $SIZE =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_SIZE must be a positive integer"
max_w=0
for w in $WORKER_COUNTS; do
    [[ $w =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_WORKERS must list positive integers"
    ((w > max_w)) && max_w=$w
done
((max_w > 0)) || die "CLUSTER_WORKERS is empty"
TASK_MAX=${CLUSTER_TASK_MAX:-$(((N + 5 * max_w - 1) / (5 * max_w)))}
[[ $TASK_MAX =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_TASK_MAX must be a positive integer"
TASKS=$(((N + TASK_MAX - 1) / TASK_MAX))
((TASKS >= 4 * max_w)) || log "warning: $TASKS tasks for $max_w workers (fewer than 4 per worker)"

unset TERN_DATABASE TERN_DATA_DIR TERN_TOKEN TERN_ENDPOINT
GEN_TIMEOUT=1800

# ---------------------------------------------------------------------------------------------
# Work dir and traps first: any interruption stops every process this script started.
bench_start tern-cluster-bench tern
NODE_PIDS=()
PG_BIN=
PG_DATA=
PG_PORT=

# as_pg CMD...: PostgreSQL refuses to run as root; root runs it as `nobody` (as the test kit does).
as_pg() {
    if ((EUID == 0)); then
        setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"
    else
        "$@"
    fi
}

# stop_nodes: TERM to every tern node, KILL after 15 s; waits for them.
stop_nodes() {
    stop_pids 15 "${NODE_PIDS[@]}"
    NODE_PIDS=()
}

stop_pg() {
    [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]] || return 0
    (cd "$WORK" && as_pg timeout 30 "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1) ||
        {
            local pm
            pm=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
            [[ -n $pm ]] && kill -QUIT "$pm" 2>/dev/null || true
        }
}
on_cleanup stop_nodes
on_cleanup stop_pg

# ---------------------------------------------------------------------------------------------
# Prerequisites beyond bench_start's.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian 'postgresql')"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PSQL=$PG_BIN/psql
[[ -x $PSQL ]] || PSQL=$(command -v psql) || die "psql not found"

# ---------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster on 127.0.0.1, no durability, pg_stat_statements loaded.
log "starting PostgreSQL ($PG_BIN)"
chmod 711 "$WORK"
mkdir -p "$WORK/pg"
((EUID == 0)) && chown nobody "$WORK/pg"
PG_DATA=$WORK/pg/data
(cd "$WORK/pg" && as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U tern --auth=trust --no-sync \
    --no-instructions --encoding=UTF8 --locale=C.UTF-8 >"$WORK/pg/initdb.log" 2>&1) ||
    die "initdb failed: $(tail -n 5 "$WORK/pg/initdb.log")"
# One line: pg_ctl hands -o to a shell command line, where a newline would end the command.
PG_OPTS=(-c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off
    -c synchronous_commit=off -c full_page_writes=off -c max_connections=200
    -c shared_buffers=64MB -c dynamic_shared_memory_type=mmap
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000)
for attempt in 1 2 3; do
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if (cd "$WORK/pg" && as_pg timeout 60 "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/server.log" -w -t 30 \
        -o "-p $PG_PORT ${PG_OPTS[*]}" \
        start >/dev/null 2>&1); then
        break
    fi
    log "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
    ((attempt == 3)) && die "PostgreSQL did not start: $(tail -n 5 "$WORK/pg/server.log")"
done
PG_PM=$(head -n 1 "$PG_DATA/postmaster.pid")
psql_db() { "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U tern -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
psql_q() { psql_db postgres "$1"; }
psql_q "CREATE EXTENSION pg_stat_statements" >/dev/null || die "pg_stat_statements unavailable"

# pg_ticks: PostgreSQL's CPU so far: the postmaster (own + reaped children) and its live children.
pg_ticks() {
    python3 - "$PG_PM" <<'EOF'
import os, sys
pm = sys.argv[1]
def stat(pid):
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
f = stat(pm)
total = sum(int(x) for x in f[11:15])
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid == pm:
        continue
    try:
        g = stat(pid)
    except OSError:
        continue
    if g[1] == pm:
        total += int(g[11]) + int(g[12])
print(total)
EOF
}
TICK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# SeaweedFS: source and destination servers, the source bucket seeded once.
start_src_dst

rclone_setup src="$SRC_EP" dst="$DST_EP"
# dst_count PATH: the objects under dst:PATH.
dst_count() { size_of "dst:$1" | cut -d' ' -f1; }

# The source bucket, seeded once: N objects under obj/.
generate obj "$N" "$SIZE" flat src:bench/obj
rm -rf "$WORK/gen"

# ---------------------------------------------------------------------------------------------
# One configuration: fresh database and bucket, serve + W workers, one group, measured.
TERN_SEAL_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export TERN_SEAL_KEY

write_config() { # FILE MAX_RUNNING_TASKS
    {
        printf 'version = 1\nmax_running_tasks = %s\ntransfers_per_task = %s\ngroup_task_max_objects = %s\n' \
            "$2" "$TRANSFERS" "$TASK_MAX"
        toml_region AWS bench-src "$SRC_EP" s3
        toml_region HuaweiCloud bench-dst "$DST_EP" s3
    } >"$1"
}

run_config() { # W
    local w=$1 db=bench_w$1 bucket=tern-w$1 dir=$WORK/w$1 i
    log "configuration: serve + $w worker(s), database $db, bucket dst:$bucket"
    mkdir -p "$dir"
    psql_q "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
    local url="postgres://tern@127.0.0.1:$PG_PORT/$db"
    new_bucket "dst:$bucket"
    write_config "$dir/serve.toml" 1
    write_config "$dir/worker.toml" "$WORKER_TASKS"

    start_serve "$dir" --database "$url" --config "$dir/serve.toml" --data-dir "$dir/serve"
    # stop_nodes stops it with the workers.
    local serve_pid=$SERVE_PID
    NODE_PIDS+=("$serve_pid")
    SERVE_PID=
    [[ -n $TOKEN && -n $PROJECT ]] || die "tern serve printed no project or token (not a fresh database?)"

    local worker_pids=()
    for i in $(seq 1 "$w"); do
        "$TERN" worker --database "$url" --config "$dir/worker.toml" --data-dir "$dir/worker$i" \
            >"$dir/worker$i.out" 2>"$dir/worker$i.log" </dev/null &
        worker_pids+=("$!")
        NODE_PIDS+=("$!")
    done
    for i in $(seq 1 "$w"); do
        for _ in $(seq 1 300); do
            grep -q "running" "$dir/worker$i.out" 2>/dev/null && break
            kill -0 "${worker_pids[$((i - 1))]}" 2>/dev/null ||
                die "worker $i exited: $(tail -n 5 "$dir/worker$i.log")"
            sleep 0.1
        done
        grep -q "running" "$dir/worker$i.out" || die "worker $i did not start"
    done
    # Idle nodes poll the database; let their backends flush statistics before the window opens.
    sleep "$SETTLE"

    local body group
    body=$(printf '{"task_type":"PREFIX","src_node":{"cloud_type":"AWS","region":"bench-src","ak":"%s","sk":"%s","bucket":"bench","object_key":["obj/"]},"dst_node":{"ak":"%s","sk":"%s","bucket":"%s","region":"bench-dst"}}' \
        "$BENCH_AK" "$BENCH_SK" "$BENCH_AK" "$BENCH_SK" "$bucket")
    local stmt_sql="SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db'"
    local xact_sql="SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"
    local xact0 stmt0 pg0 serve0 workers0 start
    xact0=$(psql_q "$xact_sql")
    stmt0=$(psql_q "$stmt_sql")
    pg0=$(pg_ticks)
    serve0=$(cpu_ticks "$serve_pid")
    workers0=()
    for i in "${worker_pids[@]}"; do workers0+=("$(cpu_ticks "$i")"); done
    start=$(date +%s.%N)
    group=$(json_eval "$(api POST taskgroups "$body")" 'j["group_id"]') ||
        die "creating the task group failed"

    local show status="" deadline=$(($(date +%s) + RUN_TIMEOUT))
    while (($(date +%s) < deadline)); do
        show=$(api GET "taskgroups/$group" || true)
        status=$(json_eval "$show" 'j["status"]' 2>/dev/null || true)
        [[ $status == 6 || $status == 5 || $status == 4 ]] && break
        sleep 0.25
    done
    local wall pg1 serve1 workers1=()
    wall=$(since "$start" 2)
    pg1=$(pg_ticks)
    serve1=$(cpu_ticks "$serve_pid")
    for i in "${worker_pids[@]}"; do workers1+=("$(cpu_ticks "$i")"); done
    local stmt1 runs
    stmt1=$(psql_q "$stmt_sql")
    runs=$(psql_db "$db" "SELECT string_agg(n::text, '/' ORDER BY n DESC) FROM (SELECT count(*) AS n FROM task_runs GROUP BY node) r" 2>/dev/null || true)
    local runs_nodes
    runs_nodes=$(psql_db "$db" "SELECT count(DISTINCT node) FROM task_runs" 2>/dev/null || echo 0)
    stop_nodes
    sleep 1 # exited backends have flushed their statistics
    local xact1
    xact1=$(psql_q "$xact_sql")

    local ok=1 total success tasks count lists
    total=$(json_eval "$show" 'j.get("total_num")' 2>/dev/null || echo "?")
    success=$(json_eval "$show" 'j.get("success_num")' 2>/dev/null || echo "?")
    tasks=$(json_eval "$show" 'j.get("total_task_num")' 2>/dev/null || echo "?")
    # Under obj/ only: like OMS, tern also writes each task's object lists under oms/.
    count=$(dst_count "$bucket/obj" || echo "?")
    lists=$(dst_count "$bucket/oms" || echo "?")
    if [[ $status != 6 || $total != "$N" || $success != "$N" || $count != "$N" ]]; then
        ok=0
        log "FAILED: status ${status:-none}, total $total, success $success, destination $count (expected 6, $N, $N, $N)"
    fi
    local worker_cpu="" d
    for i in $(seq 0 $((w - 1))); do
        d=$(python3 -c "print(round(($((workers1[i] - workers0[i])))/$TICK, 2))")
        worker_cpu+="${worker_cpu:+/}$d"
    done
    record type=cluster workers="$w" ok="$ok" status="${status:-none}" total="$total" success="$success" \
        dst_count="$count" lists="$lists" tasks="$tasks" wall="$wall" \
        serve_cpu="$(python3 -c "print(($serve1 - $serve0) / $TICK)")" worker_cpu="$worker_cpu" \
        workers_cpu="$(python3 -c "print(($(IFS=+; echo "${workers1[*]}") - ($(IFS=+; echo "${workers0[*]}"))) / $TICK)")" \
        pg_cpu="$(python3 -c "print(($pg1 - $pg0) / $TICK)")" \
        xact="$((xact1 - xact0))" stmts="$((stmt1 - stmt0))" runs="$runs" run_nodes="$runs_nodes"
    log "serve + $w worker(s): ${wall}s, status $status, $success/$N copied, $count at the destination, runs per node $runs"
    ((ok == 1))
}

failed=0
for w in $WORKER_COUNTS; do
    run_config "$w" || failed=1
done

log "rclone: the same objects between the same servers"
new_bucket dst:rclone
timed "$WORK/rclone" rclone copy src:bench dst:rclone --config "$RCLONE_CONF" --stats 0 -q \
    --s3-no-check-bucket --use-server-modtime --update --transfers "$RCLONE_T" --checkers "$RCLONE_T"
rcount=$(dst_count rclone/obj || echo "?")
rok=1
[[ $T_RC == 0 && $rcount == "$N" ]] || { rok=0; failed=1; log "rclone FAILED: rc $T_RC, destination $rcount"; }
record type=rclone ok="$rok" wall="$T_WALL" cpu="$(python3 -c "print($T_USER + $T_SYS)")" dst_count="$rcount"

# ---------------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
python3 - "$RESULTS" "$OUT" "$N" "$SIZE" "$TASK_MAX" "$WORKER_TASKS" "$TRANSFERS" "$RCLONE_T" \
    "$(tern_rev)" \
    "$("$PG_BIN/postgres" --version)" "$(rclone version | head -n 1)" <<'EOF'
import json, os, sys, time
res, out, n, size, task_max, wtasks, transfers, rt, rev, pgv, rcv = sys.argv[1:]
n = int(n)
rows = [json.loads(l) for l in open(res) if l.strip()]
rc = next((r for r in rows if r["type"] == "rclone"), None)
def f(x, d=2):
    return f"{x:,.{d}f}"
lines = [
    "# Several tern nodes on one PostgreSQL (bench/cluster_scaling.sh)",
    "",
    f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; machine: {os.cpu_count()} CPUs, "
    f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)} GiB; tern {rev}; {pgv}; {rcv}",
    f"- one PREFIX task group of {n:,} objects × {int(size):,} bytes, group_task_max_objects {int(task_max):,}; "
    f"two local SeaweedFS servers (source, destination); PostgreSQL with fsync off",
    f"- each configuration: fresh database and destination bucket, one `tern serve` (max_running_tasks 1: "
    f"it runs tasks too) + W `tern worker` (max_running_tasks {wtasks}, transfers_per_task {transfers}); "
    f"rclone with --transfers {rt} --checkers {rt}",
    "- verified per run: group status 6, total_num = success_num = N (API), N objects under obj/ at the "
    "destination (tern also writes each task's object lists under oms/, as OMS does: "
    + ", ".join(str(r.get("lists")) for r in rows if r["type"] == "cluster") + " list objects)",
    "",
    "| nodes | ok | tasks | runs per node | wall s | objects/s | ÷ rclone | CPU s serve | CPU s per worker "
    "| tern CPU ms/object | PG xact/object | PG statements/object | PG CPU ms/object |",
    "|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
]
for r in rows:
    if r["type"] != "cluster":
        continue
    wall = float(r["wall"]) or float("nan")
    tern_cpu = float(r["serve_cpu"]) + float(r["workers_cpu"])
    ratio = f(float(rc["wall"]) / wall) if rc and rc["ok"] else "–"
    lines.append(
        f"| serve + {r['workers']} worker{'s' if r['workers'] > 1 else ''} | {'yes' if r['ok'] else 'NO'} | {r['tasks']} "
        f"| {r['runs']} | {f(wall)} | {f(n / wall, 0)} | {ratio} | {f(float(r['serve_cpu']))} "
        f"| {r['worker_cpu']} | {f(1000 * tern_cpu / n, 3)} | {f(r['xact'] / n, 4)} "
        f"| {f(r['stmts'] / n, 4)} | {f(1000 * float(r['pg_cpu']) / n, 3)} |"
    )
if rc:
    w = float(rc["wall"]) or float("nan")
    lines.append(
        f"| rclone | {'yes' if rc['ok'] else 'NO'} | – | – | {f(w)} | {f(n / w, 0)} | 1.00 | – "
        f"| {f(float(rc['cpu']))} (rclone) | {f(1000 * float(rc['cpu']) / n, 3)} | – | – | – |"
    )
lines += [
    "",
    "*runs per node*: task runs recorded in `task_runs`, per node, largest first. *CPU s*: "
    "utime+stime from /proc over the window from the group's creation to the poll that saw it "
    "finish. *tern CPU ms/object*: all tern nodes together. *PG xact/object*: "
    "`pg_stat_database.xact_commit` delta of the run's database; *statements/object*: calls in "
    "`pg_stat_statements` (each a round trip); *PG CPU*: the postmaster and all its backends.",
    "",
]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
EOF
log "report written to $OUT"
exit "$failed"
