"""Drives every sync-task operation of a running `tern serve` through the official Huawei Cloud
OMS Python SDK (huaweicloudsdkoms), plus tern's S3 event-notification receiver.

Environment (set by crates/cli/tests/sync_e2e.rs): TERN_ENDPOINT, TERN_PROJECT_ID, TERN_TOKEN,
TERN_AK, TERN_SK, S3_AK, S3_SK, SRC_BUCKET, DST_BUCKET, SRC_REGION, DST_REGION, LONG_REGION (a
known region of exactly 100 characters), KEYS_JSON (keys present at the source), OBJECT_BYTES
(their total size), LATE_KEY / LATE_BYTES (announced after a stop and start), NOTIFIED_KEY_S3 /
NOTIFIED_BYTES (announced by an S3 notification, key form-encoded as S3 sends it).
Exit code 0 only if every check passed.
"""
import json
import os
import sys
import time
import urllib.parse

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkoms.v2 import (
    CreateSyncEventsRequest, CreateSyncTaskReq, CreateSyncTaskRequest, DeleteSyncTaskRequest,
    ListSyncTasksRequest, ListSyncTaskStatisticRequest, OmsClient, ShowSyncTaskRequest,
    StartSyncTaskReq, StartSyncTaskRequest, StopSyncTaskRequest, SyncObjectReq,
)

ENV = os.environ
S3_AK, S3_SK = ENV["S3_AK"], ENV["S3_SK"]
KEYS = json.loads(ENV["KEYS_JSON"])
MISSING_KEY = "missing/never uploaded.txt"
TYPES = ["REQUEST", "SUCCESS", "FAILURE", "SKIP", "SIZE"]


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def client():
    credentials = BasicCredentials(ENV["TERN_AK"], ENV["TERN_SK"], ENV["TERN_PROJECT_ID"])
    return (OmsClient.new_builder()
            .with_http_config(HttpConfig.get_default_config())
            .with_credentials(credentials)
            .with_endpoints([ENV["TERN_ENDPOINT"]])
            .build())


OMS = client()


def now_ms():
    return int(time.time() * 1000)


def expect_error(call, status, code, what, field=None):
    try:
        call()
    except ClientRequestException as err:
        check(err.status_code == status, f"{what}: HTTP {err.status_code} ({err.error_msg}), expected {status}")
        check(err.error_code == code, f"{what}: {err.error_code} ({err.error_msg}), expected {code}")
        if field:
            check(field in err.error_msg, f"{what}: message {err.error_msg!r} does not name {field}")
        return err
    fail(f"{what}: no error raised")


def no_secret(response, what):
    text = json.dumps(response.to_dict(), default=str)
    check(S3_SK not in text and ENV["TERN_SK"] not in text, f"{what} response leaks a secret")


def create_body(**overrides):
    fields = dict(src_cloud_type="AWS", src_region=ENV["SRC_REGION"], src_bucket=ENV["SRC_BUCKET"],
                  src_ak=S3_AK, src_sk=S3_SK, dst_ak=S3_AK, dst_sk=S3_SK,
                  dst_region=ENV["DST_REGION"], dst_bucket=ENV["DST_BUCKET"])
    fields.update(overrides)
    return CreateSyncTaskReq(**fields)


def create(**overrides):
    response = OMS.create_sync_task(CreateSyncTaskRequest(body=create_body(**overrides)))
    check(response.sync_task_id, "create_sync_task returned no id")
    return response.sync_task_id


def delete(task_id):
    OMS.delete_sync_task(DeleteSyncTaskRequest(sync_task_id=task_id))


def show(task_id, at=None):
    response = OMS.show_sync_task(ShowSyncTaskRequest(sync_task_id=task_id,
                                                      query_time=at or now_ms()))
    no_secret(response, "show_sync_task")
    return response


def send_events(task_id, encoded_keys):
    OMS.create_sync_events(CreateSyncEventsRequest(
        sync_task_id=task_id, body=SyncObjectReq(object_keys=encoded_keys)))


def encode(key):
    return urllib.parse.quote(key, safe="")


def resolved(shown):
    return (shown.monthly_success_object + shown.monthly_skip_object
            + shown.monthly_failure_object)


def wait_resolved(task_id, count):
    deadline = time.time() + 60
    while True:
        shown = show(task_id)
        if resolved(shown) >= count:
            return shown
        check(time.time() < deadline, f"only {resolved(shown)} of {count} events resolved")
        time.sleep(0.1)


def counters(shown):
    return dict(REQUEST=shown.monthly_acceptance_request, SUCCESS=shown.monthly_success_object,
                FAILURE=shown.monthly_failure_object, SKIP=shown.monthly_skip_object,
                SIZE=shown.monthly_size)


def check_statistics(task_id, shown, span_ms, width_name):
    end = now_ms() + 60_000
    response = OMS.list_sync_task_statistic(ListSyncTaskStatisticRequest(
        sync_task_id=task_id, data_type=",".join(TYPES), start_time=end - span_ms, end_time=end))
    check(response.sync_task_id == task_id, "statistics name another task")
    check(response.statistic_time_type == width_name,
          f"statistic_time_type {response.statistic_time_type}, expected {width_name}")
    series = {data.data_type: data.data for data in response.statistic_datas}
    check(sorted(series) == sorted(TYPES), f"series {sorted(series)}")
    expected = counters(shown)
    for kind in TYPES:
        total = sum(point.statistic_num for point in series[kind])
        check(total == expected[kind], f"{width_name} {kind} sums to {total}, expected {expected[kind]}")
        stamps = [point.time_stamp for point in series[kind]]
        check(stamps == sorted(stamps), f"{kind} points out of order")


# --- the main task: create, events, counters, statistics -----------------------------------
main = create(description="sdk sync task", consistency_check="transmission",
              enable_metadata_migration=True)
shown = show(main)
check(shown.status == "SYNCHRONIZING", f"a new task is {shown.status}")
check(shown.consistency_check == "no_check", f"consistency_check {shown.consistency_check}")
check(shown.src_bucket == ENV["SRC_BUCKET"] and shown.dst_bucket == ENV["DST_BUCKET"], "buckets")
check(shown.object_overwrite_mode == "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE", "overwrite mode")
check(shown.create_time > 0 and shown.last_start_time >= shown.create_time, "times")
check(shown.enable_metadata_migration is True, "enable_metadata_migration not echoed")

announced = [encode(key) for key in KEYS] + [encode(MISSING_KEY)]
for start in range(0, len(announced), 7):
    send_events(main, announced[start:start + 7])
shown = wait_resolved(main, len(announced))
check(shown.monthly_acceptance_request == len(announced),
      f"requests {shown.monthly_acceptance_request}, expected {len(announced)}")
check(shown.monthly_success_object == len(KEYS), f"successes {shown.monthly_success_object}")
check(shown.monthly_failure_object == 1, f"failures {shown.monthly_failure_object}")
check(shown.monthly_skip_object == 0, f"skips {shown.monthly_skip_object}")
check(shown.monthly_size == int(ENV["OBJECT_BYTES"]), f"size {shown.monthly_size}")
# The month of query_time decides: last year's month has nothing.
old = show(main, at=now_ms() - 400 * 24 * 3600 * 1000)
check(old.monthly_acceptance_request == 0, "a past month has counts")
check_statistics(main, shown, 3600 * 1000, "FIVE_MINUTES")
check_statistics(main, shown, 3 * 24 * 3600 * 1000, "ONE_HOUR")

# --- stop refuses events, start resumes -----------------------------------------------------
OMS.stop_sync_task(StopSyncTaskRequest(sync_task_id=main))
check(show(main).status == "STOPPED", "stop did not stop")
expect_error(lambda: send_events(main, [encode(ENV["LATE_KEY"])]), 400, "OMS.0064",
             "events to a stopped task")
expect_error(lambda: OMS.stop_sync_task(StopSyncTaskRequest(sync_task_id=main)), 400, "OMS.0066",
             "stop of a stopped task")
stopped = OMS.list_sync_tasks(ListSyncTasksRequest(status="STOPPED"))
check([t.sync_task_id for t in stopped.tasks] == [main] and stopped.count == 1, "STOPPED filter")
check(OMS.list_sync_tasks(ListSyncTasksRequest(status="SYNCHRONIZING")).count == 0, "filter")
expect_error(lambda: OMS.start_sync_task(StartSyncTaskRequest(
    sync_task_id=main, body=StartSyncTaskReq(src_ak=S3_AK, src_sk=S3_SK, dst_ak="a" * 101,
                                             dst_sk=S3_SK))), 400, "OMS.0001", "start dst_ak 101",
             "dst_ak")
OMS.start_sync_task(StartSyncTaskRequest(
    sync_task_id=main, body=StartSyncTaskReq(src_ak=S3_AK, src_sk=S3_SK, dst_ak=S3_AK, dst_sk=S3_SK)))
restarted = show(main)
check(restarted.status == "SYNCHRONIZING", "start did not start")
check(restarted.last_start_time >= shown.last_start_time, "last_start_time did not move")
expect_error(lambda: OMS.start_sync_task(StartSyncTaskRequest(
    sync_task_id=main, body=StartSyncTaskReq(src_ak=S3_AK, src_sk=S3_SK, dst_ak=S3_AK,
                                             dst_sk=S3_SK))), 400, "OMS.0070", "start twice")
send_events(main, [encode(ENV["LATE_KEY"])])
shown = wait_resolved(main, len(announced) + 1)
check(shown.monthly_success_object == len(KEYS) + 1, "the event after start was not copied")

# --- S3 event notification (tern's receiver), authenticated like every route ---------------
notification = {"Records": [
    {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
     "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
     "s3": {"s3SchemaVersion": "1.0", "configurationId": "tern",
            "bucket": {"name": ENV["SRC_BUCKET"], "arn": "arn:aws:s3:::" + ENV["SRC_BUCKET"]},
            "object": {"key": ENV["NOTIFIED_KEY_S3"], "size": int(ENV["NOTIFIED_BYTES"]),
                       "eTag": "0", "sequencer": "0"}}},
    {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
     "s3": {"bucket": {"name": ENV["SRC_BUCKET"]}, "object": {"key": "late/after+restart.txt"}}},
]}
url = f"{ENV['TERN_ENDPOINT']}/v2/{ENV['TERN_PROJECT_ID']}/sync-tasks/{main}/notifications"
unauthenticated = requests.post(url, json=notification, timeout=30)
check(unauthenticated.status_code == 401, f"notification without a token: {unauthenticated.status_code}")
answer = requests.post(url, json=notification, headers={"X-Auth-Token": ENV["TERN_TOKEN"]}, timeout=30)
check(answer.status_code == 200, f"notification: {answer.status_code} {answer.text}")
check(answer.json() == {"received": 1, "queued": 1, "ignored": 1}, f"notification answer {answer.text}")
shown = wait_resolved(main, len(announced) + 2)
check(shown.monthly_success_object == len(KEYS) + 2, "the notified object was not copied")
check(shown.monthly_acceptance_request == len(announced) + 2, "requests after notification")

# --- at most 5 sync tasks per project; paging -----------------------------------------------
extras = [create(description=f"extra {i}") for i in range(4)]
expect_error(lambda: create(description="sixth"), 400, "OMS.0077", "a 6th sync task")
listed = OMS.list_sync_tasks(ListSyncTasksRequest())
check(listed.count == 5 and len(listed.tasks) == 5, f"list count {listed.count}")
no_secret(listed, "list_sync_tasks")
page = OMS.list_sync_tasks(ListSyncTasksRequest(limit=2, offset=4))
check(page.count == 5 and len(page.tasks) == 1, "paging")
check(page.tasks[0].sync_task_id == main, "newest first: the first task is last")
for extra in extras:
    delete(extra)
check(OMS.list_sync_tasks(ListSyncTasksRequest()).count == 1, "extras not deleted")


# --- every body limit at its boundary accepted, one past it refused naming the field --------
def accepted(what, **overrides):
    try:
        task_id = create(**overrides)
    except ClientRequestException as err:
        fail(f"{what}: refused with {err.error_code} {err.error_msg}")
    delete(task_id)


def refused(what, field, code="OMS.0001", **overrides):
    expect_error(lambda: create(**overrides), 400, code, what, field)


LONG = ENV["LONG_REGION"]
check(len(LONG) == 100, "LONG_REGION must have 100 characters")
for field in ["src_ak", "src_sk", "dst_ak", "dst_sk"]:
    accepted(f"{field} 100", **{field: "k" * 100})
    refused(f"{field} 101", field, **{field: "k" * 101})
for field in ["src_region", "dst_region"]:
    accepted(f"{field} 100", **{field: LONG})
    refused(f"{field} 101", field, **{field: LONG + "x"})
for field in ["src_bucket", "dst_bucket"]:
    accepted(f"{field} 63", **{field: "b" * 63})
    refused(f"{field} 64", field, **{field: "b" * 64})
    refused(f"{field} empty", field, **{field: ""})
accepted("description 255", description="d" * 255)
refused("description 256", "description", description="d" * 256)
refused("description (", "description", code="OMS.0078", description="a (b)")
accepted("app_id 255", app_id="a" * 255)
refused("app_id 256", "app_id", app_id="a" * 256)
refused("Tencent without app_id", "app_id", src_cloud_type="Tencent")
accepted("src_kms_key_id 36", src_kms_key_id="k" * 36, src_crypto_type="DEFAULT")
refused("src_kms_key_id 37", "src_kms_key_id", src_kms_key_id="k" * 37)
refused("dst_crypto_type KMS", "dst_crypto_type", dst_crypto_type="KMS", dst_kms_key_id="k" * 36)
refused("src_cloud_type", "src_cloud_type", src_cloud_type="Dropbox")
refused("Azure source", "src_cloud_type", src_cloud_type="Azure")
refused("unknown region", "src_region", src_region="nowhere-1")
refused("consistency_check", "consistency_check", consistency_check="md5")
refused("dst_storage_policy", "dst_storage_policy", dst_storage_policy="COLD")
for policy in ["STANDARD", "IA", "ARCHIVE", "DEEP_ARCHIVE"]:
    accepted(f"dst_storage_policy {policy}", dst_storage_policy=policy)
# Both ends speak S3 here, so the class may follow the source's and archives may be restored.
accepted("dst_storage_policy SRC_STORAGE_MAPPING", dst_storage_policy="SRC_STORAGE_MAPPING")
accepted("enable_restore", enable_restore=True)
for check_name in ["size_last_modified", "crc64", "transmission"]:
    accepted(f"consistency_check {check_name}", consistency_check=check_name)

probe = create(description="limits probe")
send_events(probe, [f"limit-{i}" for i in range(100)])
expect_error(lambda: send_events(probe, [f"limit-{i}" for i in range(101)]), 400, "OMS.0001",
             "101 keys", "object_keys")
expect_error(lambda: send_events(probe, []), 400, "OMS.0001", "no keys", "object_keys")
send_events(probe, ["k" * 16384])
expect_error(lambda: send_events(probe, ["ok", "k" * 16385]), 400, "OMS.0001", "key 16385",
             "object_keys[1]")
expect_error(lambda: send_events(probe, ["bad%zz"]), 400, "OMS.0001", "bad encoding",
             "object_keys[0]")
delete(probe)

expect_error(lambda: OMS.show_sync_task(ShowSyncTaskRequest(sync_task_id=main)), 400, "OMS.0001",
             "show without query_time", "query_time")
OMS.list_sync_tasks(ListSyncTasksRequest(limit=100, offset=10000))
expect_error(lambda: OMS.list_sync_tasks(ListSyncTasksRequest(limit=101)), 400, "OMS.0001",
             "limit 101", "limit")
expect_error(lambda: OMS.list_sync_tasks(ListSyncTasksRequest(offset=10001)), 400, "OMS.0001",
             "offset 10001", "offset")
expect_error(lambda: OMS.list_sync_tasks(ListSyncTasksRequest(status="RUNNING")), 400, "OMS.0001",
             "status filter", "status")
expect_error(lambda: OMS.list_sync_task_statistic(ListSyncTaskStatisticRequest(
    sync_task_id=main, data_type="REQUEST,BYTES", start_time=0, end_time=1)), 400, "OMS.0001",
             "data_type", "data_type")
expect_error(lambda: OMS.list_sync_task_statistic(ListSyncTaskStatisticRequest(
    sync_task_id=main, data_type="REQUEST", start_time=10, end_time=1)), 400, "OMS.0001",
             "end before start", "end_time")

# --- delete ---------------------------------------------------------------------------------
delete(main)
expect_error(lambda: show(main), 404, "OMS.1009", "show after delete")
expect_error(lambda: delete(main), 404, "OMS.1009", "delete twice")
check(OMS.list_sync_tasks(ListSyncTasksRequest()).count == 0, "tasks left after delete")
print("all checks passed", flush=True)
