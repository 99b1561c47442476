"""Creates a url_list task and checks URL-list files through the official Huawei Cloud OMS
Python SDK (huaweicloudsdkoms), against a running `tern serve`.

Environment (set by crates/cli/tests/url_list_e2e.rs): TERN_ENDPOINT, TERN_PROJECT_ID, TERN_AK,
TERN_SK, S3_AK, S3_SK, LIST_BUCKET, GOOD_LIST, BAD_LIST, BAD_LINE, DST_BUCKET, DST_REGION,
OBJECTS. Exit code 0 only if every check passed.
"""
import os
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkoms.v2 import (
    CheckUrlSourceListFileFormatReq, CheckUrlSourceListFileFormatRequest, CreateTaskReq,
    CreateTaskRequest, DstNodeReq, ListFile, OmsClient, ShowTaskRequest, SrcNodeReq,
)

ENV = os.environ


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def main():
    credentials = BasicCredentials(ENV["TERN_AK"], ENV["TERN_SK"], ENV["TERN_PROJECT_ID"])
    oms = (OmsClient.new_builder()
           .with_http_config(HttpConfig.get_default_config())
           .with_credentials(credentials)
           .with_endpoints([ENV["TERN_ENDPOINT"]])
           .build())

    def check_list(key):
        body = CheckUrlSourceListFileFormatReq(obs_bucket=ENV["LIST_BUCKET"], list_file_key=key,
                                               ak=ENV["S3_AK"], sk=ENV["S3_SK"],
                                               region=ENV["DST_REGION"])
        return oms.check_url_source_list_file_format(
            CheckUrlSourceListFileFormatRequest(body=body))

    response = check_list(ENV["GOOD_LIST"])
    check(response.status_code == 200, f"good list: HTTP {response.status_code}")
    try:
        check_list(ENV["BAD_LIST"])
        fail("bad list: no error raised")
    except ClientRequestException as err:
        check(err.status_code == 400, f"bad list: HTTP {err.status_code}")
        check(err.error_code == "OMS.0001", f"bad list: {err.error_code}")
        check(f"line {ENV['BAD_LINE']}" in err.error_msg, f"bad list: {err.error_msg}")

    src = SrcNodeReq(cloud_type="URLSource",
                     list_file=ListFile(obs_bucket=ENV["LIST_BUCKET"],
                                        list_file_key=ENV["GOOD_LIST"]))
    dst = DstNodeReq(ak=ENV["S3_AK"], sk=ENV["S3_SK"], bucket=ENV["DST_BUCKET"],
                     region=ENV["DST_REGION"])
    created = oms.create_task(CreateTaskRequest(body=CreateTaskReq(
        task_type="url_list", src_node=src, dst_node=dst)))
    check(created.id, "create_task returned no id")
    deadline = time.time() + 120
    while True:
        task = oms.show_task(ShowTaskRequest(task_id=str(created.id)))
        if task.status in (4, 5):
            break
        check(time.time() < deadline, f"task stuck in status {task.status}")
        time.sleep(0.3)
    objects = int(ENV["OBJECTS"])
    check(task.status == 5, f"task ended in status {task.status}: {task.error_reason}")
    check((task.total_num, task.successful_num, task.failed_num) == (objects, objects, 0),
          f"counts {task.total_num} {task.successful_num} {task.failed_num}")
    check(task.task_type == "url_list", f"task_type {task.task_type}")
    check(task.src_node.cloud_type == "URLSource", f"cloud_type {task.src_node.cloud_type}")
    print("all checks passed", flush=True)


main()
