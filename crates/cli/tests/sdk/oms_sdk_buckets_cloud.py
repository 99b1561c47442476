"""Drives the bucket helpers of a running `tern serve` for one Azure, Google, Aliyun, HuaweiCloud
or Tencent account through the official OMS Python SDK: show_bucket_list, show_bucket_region,
show_bucket_objects and check_prefix, with the account's secret as OMS passes it
(connection_string, json_auth_file, or ak + sk).

Environment (set by crates/cli/tests/bucket_helpers_e2e.rs): TERN_ENDPOINT, TERN_PROJECT_ID,
TERN_AK, TERN_SK, CLOUD_TYPE, CRED_FIELD (connection_string, json_auth_file or sk), CRED_AK
(the access key going with an sk; optional), APP_ID (Tencent's; optional), CRED_VALUE, BAD_CRED_VALUE (refused by the store
or by tern), BAD_FIELD (the
field the refusal names), BUCKETS (JSON list the answer must hold), FOLDER_BUCKET, FOLDER_NAMES
(JSON list, sorted), REGION (the expected show_bucket_region id), MISSING_BUCKET; optional
CDN_DOMAIN (a local CDN serving CDN_GOOD as the bucket holds it and CDN_STALE with another ETag)
for show_cdn_info.
Exit code 0 only if every check passed.
"""
import json
import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkoms.v2 import (
    CheckPrefixReq, CheckPrefixRequest, ListBucketsReq, OmsClient, PrefixKeyInfo,
    ShowBucketListRequest, ShowBucketObjectsRequest, ShowBucketRegionReq,
    ShowBucketRegionRequest, ShowBucketReq, ShowCdnInfoReq, ShowCdnInfoRequest, SourceCdnReq,
)

ENV = os.environ
CLOUD, FIELD, SECRET = ENV["CLOUD_TYPE"], ENV["CRED_FIELD"], ENV["CRED_VALUE"]


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(f"{CLOUD}: {message}")


def creds(secret=SECRET):
    fields = {"cloud_type": CLOUD, "ak": ENV.get("CRED_AK", ""), "sk": "", FIELD: secret}
    if ENV.get("APP_ID"):
        fields["app_id"] = ENV["APP_ID"]
    return fields


def no_secret(response, what):
    text = json.dumps(response.to_dict(), default=str)
    check(SECRET not in text and ENV["TERN_SK"] not in text, f"{what} response leaks a secret")


credentials = BasicCredentials(ENV["TERN_AK"], ENV["TERN_SK"], ENV["TERN_PROJECT_ID"])
oms = (OmsClient.new_builder().with_http_config(HttpConfig.get_default_config())
       .with_credentials(credentials).with_endpoints([ENV["TERN_ENDPOINT"]]).build())
region, bucket = ENV["REGION"], ENV["FOLDER_BUCKET"]

# show_bucket_list: every test bucket of the account, sorted.
listed = oms.show_bucket_list(ShowBucketListRequest(body=ListBucketsReq(**creds())))
no_secret(listed, "show_bucket_list")
for name in json.loads(ENV["BUCKETS"]):
    check(name in listed.body, f"show_bucket_list lacks {name}: {listed.body}")
check(listed.body == sorted(listed.body), "show_bucket_list is not sorted")
try:
    oms.show_bucket_list(ShowBucketListRequest(body=ListBucketsReq(**creds(ENV["BAD_CRED_VALUE"]))))
    fail(f"{CLOUD}: bad credentials were not refused")
except ClientRequestException as err:
    check(err.status_code == 400, f"bad credentials: HTTP {err.status_code}")
    check(ENV["BAD_FIELD"] in err.error_msg, f"bad credentials: {err.error_code} {err.error_msg}")
    check(ENV["BAD_CRED_VALUE"] not in err.error_msg, "the refusal quotes the secret")

# show_bucket_region: the configured region of the account (Azure) or the bucket's location.
found = oms.show_bucket_region(ShowBucketRegionRequest(body=ShowBucketRegionReq(
    bucket_name=bucket, **creds())))
check(found.id == region and found.support, f"show_bucket_region: {found}")
try:
    oms.show_bucket_region(ShowBucketRegionRequest(body=ShowBucketRegionReq(
        bucket_name=ENV["MISSING_BUCKET"], **creds())))
    fail(f"{CLOUD}: a missing bucket got a region")
except ClientRequestException as err:
    check(err.status_code == 400 and "bucket_name" in err.error_msg,
          f"missing bucket: {err.status_code} {err.error_msg}")

# show_bucket_objects: paging two at a time reproduces the top-level listing exactly.
expected = json.loads(ENV["FOLDER_NAMES"])
seen, marker = [], ""
for _ in range(50):
    page = oms.show_bucket_objects(ShowBucketObjectsRequest(body=ShowBucketReq(
        file_path="", data_center=region, page_size=2, behind_filename=marker,
        bucket_name=bucket, **creds())))
    seen.extend(r.name for r in page.records)
    if not page.next_page:
        break
    marker = page.next_marker
check(seen == expected, f"show_bucket_objects {seen} != {expected}")

# check_prefix: a partial name matches, an absent one does not.
def prefix(name):
    return oms.check_prefix(CheckPrefixRequest(body=CheckPrefixReq(
        bucket_name=bucket, file_name=name, data_center=region, **creds()))).exist
check(prefix("dir/a ") is True, "check_prefix dir/a ")
check(prefix("dir/zzz") is False, "check_prefix dir/zzz")

# show_cdn_info: the bucket's HEAD against the CDN's, one key served right and one stale.
if ENV.get("CDN_DOMAIN"):
    good, stale = ENV["CDN_GOOD"], ENV["CDN_STALE"]
    cdn = oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
        region=region, bucket=bucket, prefix=PrefixKeyInfo(keys=[good, stale]),
        source_cdn=SourceCdnReq(domain=ENV["CDN_DOMAIN"], protocol="http",
                                authentication_type="NONE"), **creds())))
    no_secret(cdn, "show_cdn_info")
    by_key = {c.key: (c.is_object_existing, c.is_etag_matching) for c in cdn.checked_keys}
    check(by_key == {good: (True, True), stale: (True, False)}, f"show_cdn_info keys: {by_key}")
    check(cdn.is_download_available is True and cdn.is_same_cloud_type is False,
          f"show_cdn_info summary: {cdn}")
print("all checks passed", flush=True)
