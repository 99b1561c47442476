"""Drives the bucket helpers (show_bucket_list, show_bucket_objects, show_bucket_region,
check_prefix, show_cdn_info) and update_privacy_agreement_record of a running `tern serve`
through the official OMS Python SDK.

Environment (set by crates/cli/tests/bucket_helpers_e2e.rs): TERN_ENDPOINT, TERN_PROJECT_ID,
TERN_AK, TERN_SK, S3_AK, S3_SK, SRC_BUCKET, OTHER_BUCKET, SRC_REGION, CDN_DOMAIN,
FOLDER_NAMES (JSON list, sorted), CDN_GOOD, CDN_STALE, CDN_MISSING, BUCKET_MISSING,
SIGNED_CDN_DOMAIN (a CDN checking Aliyun type A signatures, serving CDN_GOOD), CDN_KEY.
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
    ShowBucketListRequest, ShowBucketObjectsRequest, ShowBucketRegionReq, ShowBucketRegionRequest,
    ShowBucketReq, ShowCdnInfoReq, ShowCdnInfoRequest, SourceCdnReq,
    UpdatePrivacyAgreementRecordRequest,
)

ENV = os.environ
AK, SK = ENV["S3_AK"], ENV["S3_SK"]


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def no_secret(response, what):
    text = json.dumps(response.to_dict(), default=str)
    check(SK not in text and ENV["TERN_SK"] not in text, f"{what} response leaks a secret")


def expect_error(call, status, code, field, what):
    try:
        call()
    except ClientRequestException as err:
        check(err.status_code == status, f"{what}: HTTP {err.status_code}, expected {status}")
        check(err.error_code == code, f"{what}: {err.error_code} ({err.error_msg}), expected {code}")
        check(field in err.error_msg, f"{what}: message {err.error_msg!r} does not name {field}")
        return
    fail(f"{what}: no error raised")


credentials = BasicCredentials(ENV["TERN_AK"], ENV["TERN_SK"], ENV["TERN_PROJECT_ID"])
oms = (OmsClient.new_builder().with_http_config(HttpConfig.get_default_config())
       .with_credentials(credentials).with_endpoints([ENV["TERN_ENDPOINT"]]).build())
region = ENV["SRC_REGION"]
src, other = ENV["SRC_BUCKET"], ENV["OTHER_BUCKET"]

# show_bucket_list: both test buckets, as a bare JSON array.
listed = oms.show_bucket_list(ShowBucketListRequest(body=ListBucketsReq(cloud_type="AWS", ak=AK, sk=SK)))
no_secret(listed, "show_bucket_list")
check(src in listed.body and other in listed.body, f"show_bucket_list: {listed.body}")
check(listed.body == sorted(listed.body), "show_bucket_list is not sorted")
expect_error(lambda: oms.show_bucket_list(ShowBucketListRequest(
    body=ListBucketsReq(cloud_type="AWS", ak=AK, sk="wrong-secret"))), 400, "OMS.0057",
    "refused", "wrong SK")

# show_bucket_objects: paging two at a time reproduces the folder listing exactly.
expected = json.loads(ENV["FOLDER_NAMES"])
seen, marker, pages = [], "", 0
while True:
    page = oms.show_bucket_objects(ShowBucketObjectsRequest(body=ShowBucketReq(
        cloud_type="AWS", ak=AK, sk=SK, file_path="folder/", data_center=region, page_size=2,
        behind_filename=marker, bucket_name=src)))
    pages += 1
    check(len(page.records) <= 2, f"page of {len(page.records)}")
    seen.extend((r.name, r.size) for r in page.records)
    if not page.next_page:
        break
    marker = page.next_marker
    check(pages < 50, "paging does not end")
check([name for name, _ in seen] == expected, f"folder listing {seen} != {expected}")
for name, size in seen:
    check(size == "--" if name.endswith("/") else size.isdigit(), f"size of {name}: {size!r}")
expect_error(lambda: oms.show_bucket_objects(ShowBucketObjectsRequest(body=ShowBucketReq(
    cloud_type="AWS", ak=AK, sk=SK, file_path="folder", data_center=region, page_size=2,
    behind_filename="", bucket_name=src))), 400, "OMS.0001", "file_path", "file_path without /")
expect_error(lambda: oms.show_bucket_objects(ShowBucketObjectsRequest(body=ShowBucketReq(
    cloud_type="AWS", ak=AK, sk=SK, file_path="folder/", data_center=region, page_size=1001,
    behind_filename="", bucket_name=src))), 400, "OMS.0001", "page_size", "page_size too big")

# show_bucket_region: the configured region that holds the bucket.
found = oms.show_bucket_region(ShowBucketRegionRequest(body=ShowBucketRegionReq(
    cloud_type="AWS", ak=AK, sk=SK, bucket_name=src)))
check(found.id == region and found.support, f"show_bucket_region: {found}")
expect_error(lambda: oms.show_bucket_region(ShowBucketRegionRequest(body=ShowBucketRegionReq(
    cloud_type="AWS", ak=AK, sk=SK, bucket_name=ENV["BUCKET_MISSING"]))), 400, "OMS.0001",
    "bucket_name", "missing bucket")

# check_prefix: a partial name matches, an absent one does not.
def prefix(name):
    return oms.check_prefix(CheckPrefixRequest(body=CheckPrefixReq(
        cloud_type="AWS", ak=AK, sk=SK, bucket_name=src, file_name=name,
        data_center=region))).exist
check(prefix("logs/2024-") is True, "check_prefix logs/2024-")
check(prefix("folder/sub/") is True, "check_prefix folder/sub/")
check(prefix("logs/2025") is False, "check_prefix logs/2025")

# show_cdn_info: a local CDN serving one key right, one stale, one not at all.
keys = [ENV["CDN_GOOD"], ENV["CDN_STALE"], ENV["CDN_MISSING"], ENV["BUCKET_MISSING"]]
cdn = oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
    ak=AK, sk=SK, cloud_type="AWS", region=region, bucket=src, prefix=PrefixKeyInfo(keys=keys),
    source_cdn=SourceCdnReq(domain=ENV["CDN_DOMAIN"], protocol="http",
                            authentication_type="NONE"))))
no_secret(cdn, "show_cdn_info")
by_key = {c.key: (c.is_object_existing, c.is_etag_matching) for c in cdn.checked_keys}
check(by_key == {keys[0]: (True, True), keys[1]: (True, False), keys[2]: (True, False),
                 keys[3]: (False, False)}, f"show_cdn_info keys: {by_key}")
check(cdn.is_download_available is False and cdn.is_same_cloud_type is False,
      f"show_cdn_info summary: {cdn}")
one = oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
    ak=AK, sk=SK, cloud_type="AWS", region=region, bucket=src, prefix=PrefixKeyInfo(keys=keys[:1]),
    source_cdn=SourceCdnReq(domain=ENV["CDN_DOMAIN"], protocol="http",
                            authentication_type="NONE"))))
check(one.is_download_available and one.is_same_cloud_type, f"show_cdn_info one key: {one}")

# show_cdn_info on a signed domain: signed with the key it answers; with another key it refuses.
def signed_cdn(key):
    return oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
        ak=AK, sk=SK, cloud_type="AWS", region=region, bucket=src,
        prefix=PrefixKeyInfo(keys=[ENV["CDN_GOOD"]]),
        source_cdn=SourceCdnReq(domain=ENV["SIGNED_CDN_DOMAIN"], protocol="http",
                                authentication_type="ALIYUN_OSS_A", authentication_key=key))))
signed = signed_cdn(ENV["CDN_KEY"])
no_secret(signed, "show_cdn_info signed")
check(ENV["CDN_KEY"] not in json.dumps(signed.to_dict(), default=str), "the CDN key is echoed")
check(signed.is_download_available and signed.is_same_cloud_type
      and signed.checked_keys[0].is_etag_matching, f"show_cdn_info signed: {signed}")
wrong = signed_cdn("not-the-key")
check(wrong.is_download_available is False and wrong.is_same_cloud_type is False,
      f"show_cdn_info with a wrong key: {wrong}")
expect_error(lambda: oms.show_cdn_info(ShowCdnInfoRequest(body=ShowCdnInfoReq(
    ak=AK, sk=SK, cloud_type="AWS", region=region, bucket=src,
    prefix=PrefixKeyInfo(keys=[ENV["CDN_GOOD"]]),
    source_cdn=SourceCdnReq(domain=ENV["SIGNED_CDN_DOMAIN"], protocol="http",
                            authentication_type="TENCENT_COS_D")))), 400, "OMS.0001",
    "source_cdn.authentication_key", "signed type without its key")

# update_privacy_agreement_record: no body either way.
oms.update_privacy_agreement_record(UpdatePrivacyAgreementRecordRequest())
print("all checks passed", flush=True)
