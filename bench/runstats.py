"""Reads the bench scripts' results (JSON lines, bench/lib.sh's `record`) and takes the medians of
their timed runs, for the reports the scripts print."""
import json
import statistics
import sys


def results():
    """The rows of the results file named by the first argument, and its meta row."""
    rows = [json.loads(line) for line in open(sys.argv[1])]
    return rows, next(r for r in rows if r["type"] == "meta")


def ratio(a, b):
    """a ÷ b to two decimals, or a dash when b is nothing."""
    return f"{a / b:.2f}" if b else "—"


def mb_per_s(nbytes, wall):
    """Throughput in MB/s (0 for a zero wall time)."""
    return nbytes / 1e6 / wall if wall else 0


def tool_medians(runs, tool, **extra):
    """Medians over TOOL's successful runs: ok ("successful/all"), wall s, cpu s (user+sys), rss
    MiB, and each extra NAME=FIELD; None when no run succeeded."""
    mine = [r for r in runs if r["tool"] == tool]
    ok = [r for r in mine if r["ok"] == 1]
    if not ok:
        return None
    medians = dict(
        ok=f"{len(ok)}/{len(mine)}",
        wall=statistics.median(r["wall"] for r in ok),
        cpu=statistics.median(r["user"] + r["sys"] for r in ok),
        rss=statistics.median(r["rss_kb"] for r in ok) / 1024,
    )
    for name, field in extra.items():
        medians[name] = statistics.median(r[field] for r in ok)
    return medians
