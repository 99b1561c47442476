"""Drives every migration-task operation of a running `tern serve` through the official
Huawei Cloud OMS Python SDK (huaweicloudsdkoms), as a user's script would.

Environment (set by crates/cli/tests/sdk_e2e.rs): TERN_ENDPOINT, TERN_PROJECT_ID, TERN_AK,
TERN_SK, S3_AK, S3_SK, SRC_BUCKET, DST_BUCKET, SRC_REGION, DST_REGION, FAST_COUNT, SLOW_COUNT.
Exit code 0 only if every check passed; prints the ids of the tasks it created.
"""
import json
import os
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkoms.v2 import (
    BandwidthPolicyDto, BatchUpdateTasksReq, BatchUpdateTasksRequest, CreateTaskReq,
    CreateTaskRequest, DeleteTaskRequest, DstNodeReq, ListApiVersionsRequest, ListTasksRequest,
    OmsClient, ShowApiInfoRequest, ShowCloudTypeRequest, ShowRegionInfoRequest, ShowTaskRequest,
    SrcNodeReq, StartTaskReq, StartTaskRequest, StopTaskRequest, UpdateBandwidthPolicyReq,
    UpdateBandwidthPolicyRequest,
)

ENV = os.environ
S3_SK = ENV["S3_SK"]


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


def no_secret(response, what):
    text = json.dumps(response.to_dict(), default=str)
    check(S3_SK not in text and ENV["TERN_SK"] not in text, f"{what} response leaks a secret")


def expect_error(call, status, code, what):
    try:
        call()
    except ClientRequestException as err:
        check(err.status_code == status, f"{what}: HTTP {err.status_code}, expected {status}")
        check(err.error_code == code, f"{what}: {err.error_code} ({err.error_msg}), expected {code}")
        check(err.request_id, f"{what}: no X-Request-Id")
        return err
    fail(f"{what}: no error raised")


ALL_DAY = lambda rate: [  # noqa: E731 - UTC windows covering the whole day
    BandwidthPolicyDto(start="00:00", end="12:00", max_bandwidth=rate),
    BandwidthPolicyDto(start="12:00", end="00:00", max_bandwidth=rate),
]


def create(oms, prefix, description, bandwidth=None):
    src = SrcNodeReq(cloud_type="AWS", region=ENV["SRC_REGION"], ak=ENV["S3_AK"], sk=S3_SK,
                     bucket=ENV["SRC_BUCKET"], object_key=[prefix])
    dst = DstNodeReq(ak=ENV["S3_AK"], sk=S3_SK, bucket=ENV["DST_BUCKET"], region=ENV["DST_REGION"])
    body = CreateTaskReq(task_type="prefix", src_node=src, dst_node=dst, description=description,
                         bandwidth_policy=bandwidth, enable_failed_object_recording=True,
                         object_overwrite_mode="SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE",
                         consistency_check="size_last_modified", task_priority="MEDIUM")
    response = oms.create_task(CreateTaskRequest(body=body))
    check(response.id and response.id > 0, "create_task returned no id")
    check(response.task_name, "create_task returned no task_name")
    return response.id


def show(oms, task_id):
    response = oms.show_task(ShowTaskRequest(task_id=task_id))
    no_secret(response, "show_task")
    return response


def wait_for(oms, task_id, statuses, timeout, what):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        task = show(oms, task_id)
        if not seen or seen[-1] != task.status:
            seen.append(task.status)
        if task.status in statuses:
            return task, seen
        time.sleep(0.2)
    fail(f"{what}: task {task_id} never reached {statuses}; statuses seen {seen}")


def main():
    oms = client()
    fast_count = int(ENV["FAST_COUNT"])
    slow_count = int(ENV["SLOW_COUNT"])

    versions = oms.list_api_versions(ListApiVersionsRequest())
    check([v.id for v in versions.versions] == ["v2"], "list_api_versions")
    check(oms.show_api_info(ShowApiInfoRequest(version="v2")).status == "CURRENT", "show_api_info")
    clouds = oms.show_cloud_type(ShowCloudTypeRequest(type="src")).body
    check("AWS" in clouds and "Aliyun" in clouds, f"show_cloud_type: {clouds}")
    regions = oms.show_region_info(ShowRegionInfoRequest()).body
    names = {(r.cloud_type, r.value) for s in regions for r in s.region_list}
    check(("AWS", ENV["SRC_REGION"]) in names and ("HuaweiCloud", ENV["DST_REGION"]) in names,
          "show_region_info lacks the configured regions")

    # A task that runs to the end.
    fast = create(oms, "fast/", "sdk fast task")
    task, seen = wait_for(oms, fast, {5, 4}, 120, "fast task")
    check(task.status == 5, f"fast task ended in {task.status}: {task.error_reason}")
    check(task.total_num == fast_count, f"total_num {task.total_num} != {fast_count}")
    check(task.successful_num == fast_count and task.failed_num == 0 and task.skipped_num == 0,
          f"counters {task.successful_num}/{task.failed_num}/{task.skipped_num}")
    check(task.successful_num + task.failed_num + task.skipped_num == task.total_num, "counters do not sum")
    check(abs(task.progress - 1.0) < 1e-9, f"progress {task.progress}")
    check(task.complete_size == task.total_size > 0, "complete_size != total_size")
    check(task.src_node.bucket == ENV["SRC_BUCKET"] and task.dst_node.bucket == ENV["DST_BUCKET"], "nodes")
    check(task.group_type == "NORMAL_TASK" and task.task_type == "prefix", "task_type/group_type")
    check(task.start_time > 1_600_000_000_000, f"start_time in ms: {task.start_time}")

    # A slow task: stop, start again with credentials, change its bandwidth, finish.
    slow = create(oms, "slow/", "sdk slow task", bandwidth=ALL_DAY(1048576))
    wait_for(oms, slow, {2}, 30, "slow task starts")
    time.sleep(1.5)
    oms.stop_task(StopTaskRequest(task_id=slow))
    stopped_at = time.time()
    task, seen = wait_for(oms, slow, {3}, 15, "slow task pauses")
    check(time.time() - stopped_at < 10, "stop took more than 10 s")
    check(task.successful_num < slow_count, "slow task finished before it could be stopped")
    expect_error(lambda: oms.stop_task(StopTaskRequest(task_id=slow)), 400, "OMS.0066", "stop a paused task")
    expect_error(lambda: oms.start_task(StartTaskRequest(task_id=slow, body=StartTaskReq(src_ak=ENV["S3_AK"]))),
                 400, "OMS.0002", "start without dst_ak")
    oms.start_task(StartTaskRequest(task_id=slow, body=StartTaskReq(
        src_ak=ENV["S3_AK"], src_sk=S3_SK, dst_ak=ENV["S3_AK"], dst_sk=S3_SK)))
    wait_for(oms, slow, {1, 2, 5}, 15, "slow task restarts")
    oms.update_bandwidth_policy(UpdateBandwidthPolicyRequest(
        task_id=slow, body=UpdateBandwidthPolicyReq(bandwidth_policy=ALL_DAY(209715200))))
    task, seen = wait_for(oms, slow, {5, 4}, 60, "slow task finishes")
    check(task.status == 5, f"slow task ended in {task.status}: {task.error_reason}")
    check(task.total_num == slow_count == task.successful_num + task.skipped_num,
          f"slow counters total={task.total_num} ok={task.successful_num} skip={task.skipped_num}")
    check(len(task.bandwidth_policy) == 2 and task.bandwidth_policy[0].max_bandwidth == 209715200,
          "bandwidth policy not updated")

    # Batch update: priority applies to waiting/paused/failed tasks only; both are done.
    oms.batch_update_tasks(BatchUpdateTasksRequest(body=BatchUpdateTasksReq(
        ids=[fast, slow], bandwidth_policy=ALL_DAY(52428800), task_priority="HIGH")))
    expect_error(lambda: oms.batch_update_tasks(BatchUpdateTasksRequest(body=BatchUpdateTasksReq(
        ids=[fast], group_id="g", bandwidth_policy=[]))), 400, "OMS.0001", "batch with ids and group_id")

    # Listing with filters and paging.
    page = oms.list_tasks(ListTasksRequest(limit=1, offset=0))
    check(page.count == 2 and len(page.tasks) == 1, f"list page: count={page.count} len={len(page.tasks)}")
    second = oms.list_tasks(ListTasksRequest(limit=1, offset=1))
    check(second.tasks[0].id != page.tasks[0].id, "paging returned the same task twice")
    done = oms.list_tasks(ListTasksRequest(status=5, limit=100))
    check({t.id for t in done.tasks} == {fast, slow}, "status filter")
    named = oms.list_tasks(ListTasksRequest(task_name=page.tasks[0].name))
    check(named.count == 1, f"task_name filter matched {named.count}")
    no_secret(page, "list_tasks")
    expect_error(lambda: oms.list_tasks(ListTasksRequest(limit=101)), 400, "OMS.0001", "limit 101")

    # Errors exactly as OMS reports them.
    expect_error(lambda: oms.show_task(ShowTaskRequest(task_id=123456789)), 400, "OMS.1009", "unknown task")
    expect_error(lambda: oms.start_task(StartTaskRequest(task_id=fast, body=StartTaskReq(
        dst_ak="a", dst_sk="b"))), 400, "OMS.0070", "start a succeeded task")
    bad = CreateTaskReq(task_type="prefix", description="<script>", src_node=SrcNodeReq(
        cloud_type="AWS", region=ENV["SRC_REGION"], ak="a", sk="b", bucket="b", object_key=[""]),
        dst_node=DstNodeReq(ak="a", sk="b", bucket="d", region=ENV["DST_REGION"]))
    expect_error(lambda: oms.create_task(CreateTaskRequest(body=bad)), 400, "OMS.0078", "forbidden description")

    # Delete, then the task is gone.
    oms.delete_task(DeleteTaskRequest(task_id=slow))
    expect_error(lambda: oms.show_task(ShowTaskRequest(task_id=slow)), 400, "OMS.1009", "deleted task")
    print(json.dumps({"fast_task": fast, "slow_task_deleted": slow}), flush=True)
    print("sdk e2e: all checks passed", flush=True)


if __name__ == "__main__":
    main()
