"""Drives a sync task at a steady event rate and measures how long each event's object takes to
appear at the destination. Run by bench/sync_latency.sh, which starts the servers.

Objects are PUT at the source first; then each event POSTs one key to `create_sync_events`, and
one watcher thread lists the destination every 10 ms to see when each key arrives. Latency = object visible at the
destination − event answered (the moment the caller may rely on it). Events are sent on a fixed
schedule (rate per second) from a thread pool, so neither answers nor polling delay sending.

Environment: TERN_URL, TERN_PROJECT_ID, TERN_TOKEN, SRC_URL, DST_URL, S3_AK, S3_SK,
SRC_BUCKET, DST_BUCKET, SRC_REGION, DST_REGION, RATE (events/s), DURATION (s), SIZE (bytes).
Prints one JSON object with the figures.
"""
import concurrent.futures
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

import boto3
import requests
from botocore.config import Config

ENV = os.environ
RATE = float(ENV.get("RATE", "50"))
DURATION = float(ENV.get("DURATION", "30"))
SIZE = int(ENV.get("SIZE", "4096"))
POLL_INTERVAL = 0.01
POLL_TIMEOUT = 30.0


def s3(url):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ENV["S3_AK"],
                        aws_secret_access_key=ENV["S3_SK"], region_name="us-east-1",
                        config=Config(max_pool_connections=64, retries={"max_attempts": 2}))


SRC, DST = s3(ENV["SRC_URL"]), s3(ENV["DST_URL"])
API = f"{ENV['TERN_URL']}/v2/{ENV['TERN_PROJECT_ID']}/sync-tasks"
HEADERS = {"X-Auth-Token": ENV["TERN_TOKEN"]}
session = requests.Session()
session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=96))


def create_task():
    body = {"src_cloud_type": "AWS", "src_region": ENV["SRC_REGION"], "src_bucket": ENV["SRC_BUCKET"],
            "src_ak": ENV["S3_AK"], "src_sk": ENV["S3_SK"], "dst_region": ENV["DST_REGION"],
            "dst_bucket": ENV["DST_BUCKET"], "dst_ak": ENV["S3_AK"], "dst_sk": ENV["S3_SK"]}
    answer = session.post(API, json=body, headers=HEADERS, timeout=30)
    answer.raise_for_status()
    return answer.json()["sync_task_id"]


def watch_destination(keys, accepted_at, first_seen, stop):
    """Records when each key first shows in the destination listing. Keys are numbered in
    sending order and sort that way, so each listing starts after the longest prefix of keys
    already seen: it stays a page of the few most recent keys, and one thread polls for all."""
    next_index, start_after = 0, ""
    while not stop.is_set() and next_index < len(keys):
        page = DST.list_objects_v2(Bucket=ENV["DST_BUCKET"], Prefix="bench/",
                                   StartAfter=start_after, MaxKeys=1000)
        seen_at = time.monotonic()
        for item in page.get("Contents", []):
            first_seen.setdefault(item["Key"], seen_at)
        while next_index < len(keys) and keys[next_index] in first_seen:
            start_after = keys[next_index]
            next_index += 1
        time.sleep(POLL_INTERVAL)


def main():
    task_id = create_task()
    count = int(RATE * DURATION)
    keys = [f"bench/{i:06d} é+.bin" for i in range(count)]
    payload = os.urandom(SIZE)
    # Upload first: the source is ready before its event, as with a real notifying store.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: SRC.put_object(Bucket=ENV["SRC_BUCKET"], Key=key, Body=payload), keys))
    events_url = f"{API}/{task_id}/events"
    accepted_at, first_seen, answer_times = {}, {}, []
    lock = threading.Lock()

    def send(key):
        sent = time.monotonic()
        answer = session.post(events_url, headers=HEADERS, timeout=30,
                              json={"object_keys": [urllib.parse.quote(key, safe="")]})
        done = time.monotonic()
        answer.raise_for_status()
        with lock:
            accepted_at[key] = done
            answer_times.append(done - sent)

    stop = threading.Event()
    watcher = threading.Thread(target=watch_destination, args=(keys, accepted_at, first_seen, stop))
    watcher.start()
    # Each event is sent at its due time by a pool, so a slow answer never delays the next
    # event: the rate is the rate asked, whatever the server's answer time.
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as senders:
        futures = []
        for index, key in enumerate(keys):
            pause = started + index / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(senders.submit(send, key))
        send_span = time.monotonic() - started
        for future in futures:
            future.result()
    watcher.join(timeout=POLL_TIMEOUT)
    stop.set()
    watcher.join()
    total_span = max(first_seen.values(), default=started) - started
    latencies = [max(0.0, first_seen[key] - accepted_at[key]) for key in keys if key in first_seen]
    missing = [key for key in keys if key not in first_seen]
    # An object is visible a moment before its batch's outcome is committed.
    for _ in range(100):
        shown = session.get(f"{API}/{task_id}", headers=HEADERS, timeout=30,
                            params={"query_time": int(time.time() * 1000)}).json()
        if shown.get("monthly_success_object", 0) >= count:
            break
        time.sleep(0.1)
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    print(json.dumps({
        "events": count, "rate_asked": RATE, "rate_sent": round(count / send_span, 2),
        "object_bytes": SIZE, "copied": len(latencies), "missing": len(missing),
        "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0),
                       "mean": round(statistics.mean(latencies) * 1000, 1)},
        "events_call_ms": {"p50": round(statistics.median(answer_times) * 1000, 1),
                           "p99": round(sorted(answer_times)[int(0.99 * len(answer_times))] * 1000, 1)},
        "throughput_objects_per_s": round(len(latencies) / total_span, 2),
        "counters": {k: shown.get(k) for k in ["monthly_acceptance_request", "monthly_success_object",
                                               "monthly_failure_object", "monthly_skip_object",
                                               "monthly_size"]},
    }))
    return 0 if not missing and shown.get("monthly_success_object") == count else 1


if __name__ == "__main__":
    sys.exit(main())
