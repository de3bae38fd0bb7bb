"""Upload the published files to an S3-compatible bucket (AWS S3, MinIO, R2, ...) with boto3.

Settings: BANNER_PUBLISH_S3_BUCKET, BANNER_PUBLISH_S3_ENDPOINT_URL (empty for AWS itself) and
BANNER_PUBLISH_S3_PREFIX; credentials and region come the usual AWS ways (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role ...). Each object carries the Content-Type
and Cache-Control the app itself answers with. An object whose ETag is already the MD5 of the new
bytes is left alone, so publishing again uploads nothing; the answers of campaigns no longer live
are deleted, the manifest goes last.
"""

import hashlib

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from flask import current_app

from banner.services.publish import ANSWERS, PublishError, Report, StaticFile

#: a staff save waits for the upload: fail in seconds when the bucket is down, not after minutes
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=15, retries={"mode": "standard", "total_max_attempts": 2}
)


def prefix() -> str:
    """Return BANNER_PUBLISH_S3_PREFIX as a key prefix: no leading slash, one trailing slash."""
    value = (current_app.config.get("PUBLISH_S3_PREFIX") or "").strip("/")
    return value + "/" if value else ""


def client():
    """Return an S3 client for the configured endpoint, with the usual AWS credentials."""
    return boto3.client(
        "s3", endpoint_url=current_app.config.get("PUBLISH_S3_ENDPOINT_URL") or None, config=CLIENT_CONFIG
    )


def upload(files: list[StaticFile], force: bool = False, progress=None) -> Report:
    """Put each file whose bytes the bucket lacks, then delete the answers no longer published."""
    say = progress or (lambda message: None)
    bucket, base = current_app.config["PUBLISH_S3_BUCKET"], prefix()
    report = Report()
    try:
        s3 = client()
        etags = _etags(s3, bucket, base)
        for static in files:
            key = base + static.path
            if not force and etags.get(key) == hashlib.md5(static.body, usedforsecurity=False).hexdigest():
                report.unchanged.append(f"s3://{bucket}/{key}")
                continue
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=static.body,
                ContentType=static.content_type,
                CacheControl=static.cache_control,
            )
            report.written.append(f"s3://{bucket}/{key}")
            say(f"uploaded s3://{bucket}/{key}")
        keep = {base + static.path for static in files}
        for key in sorted(etags):
            if key.startswith(f"{base}{ANSWERS}/") and key.endswith(".json") and key not in keep:
                s3.delete_object(Bucket=bucket, Key=key)
                report.removed.append(f"s3://{bucket}/{key}")
                say(f"deleted s3://{bucket}/{key}")
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"Cannot publish to s3://{bucket}/{base}: {error}") from error
    return report


def _etags(s3, bucket: str, base: str) -> dict[str, str]:
    """Return the ETag of every object under the prefix (the MD5 of its bytes for a plain PUT)."""
    etags = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags
