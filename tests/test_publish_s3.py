"""Publishing to an S3-compatible bucket, against moto's S3 server over real HTTP."""

import time
import urllib.request
from datetime import UTC, datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from banner.assets import embed_script
from banner.extensions import db
from banner.models import CampaignStatus
from banner.services import publish
from tests.conftest import free_port
from tests.test_staff import variant_form
from tests.waiting import eventually

BUCKET = "banner-cdn"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port: a real HTTP endpoint, as MinIO or R2 would be."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(app, s3_server, monkeypatch):
    """An empty bucket that the app publishes to, under the prefix "site/cdn"; its client."""
    urllib.request.urlopen(urllib.request.Request(f"{s3_server}/moto-api/reset", method="POST"))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setitem(app.config, "PUBLISH_S3_BUCKET", BUCKET)
    monkeypatch.setitem(app.config, "PUBLISH_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setitem(app.config, "PUBLISH_S3_PREFIX", "/site/cdn/")
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket=BUCKET)
    return s3


def keys(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_each_file_is_uploaded_with_the_apps_bytes_and_headers(client, make_campaign, bucket):
    make_campaign()

    report = publish.publish()

    name = embed_script().hashed_name
    assert keys(bucket) == [
        "site/cdn/banner/_live.former.json",
        "site/cdn/banner/_live.json",
        "site/cdn/banner/spring.former.json",
        "site/cdn/banner/spring.json",
        f"site/cdn/{name}",
        "site/cdn/manifest.json",
    ]
    assert len(report.written) == 6
    for key, url in [
        (f"site/cdn/{name}", f"/{name}"),
        ("site/cdn/banner/spring.json", "/api/banner?campaign=spring"),
        ("site/cdn/banner/_live.json", "/api/banner?path=/"),
    ]:
        stored, answer = bucket.get_object(Bucket=BUCKET, Key=key), client.get(url)
        assert stored["Body"].read() == answer.data
        assert stored["ContentType"] == answer.headers["Content-Type"]
        assert stored["CacheControl"] == answer.headers["Cache-Control"]
    manifest = bucket.get_object(Bucket=BUCKET, Key="site/cdn/manifest.json")
    assert manifest["CacheControl"] == "no-cache"


def test_publishing_again_uploads_nothing_and_removes_what_is_no_longer_live(make_campaign, bucket):
    campaign = make_campaign()
    make_campaign(slug="autumn", priority=5)
    publish.publish()
    bucket.put_object(Bucket=BUCKET, Key="site/cdn/embed.0123456789abcdef.js", Body=b"an older release")
    bucket.put_object(Bucket=BUCKET, Key="elsewhere/banner/spring.json", Body=b"not ours")
    stamps = {key: bucket.head_object(Bucket=BUCKET, Key=key)["LastModified"] for key in keys(bucket)}
    # LastModified has whole seconds: wait for the clock to pass theirs, so an upload would show
    eventually(lambda: datetime.now(UTC).replace(microsecond=0) > max(stamps.values()), 5, "the clock stood")

    again = publish.publish()
    assert again.written == [] and again.removed == []
    assert {key: bucket.head_object(Bucket=BUCKET, Key=key)["LastModified"] for key in keys(bucket)} == stamps

    campaign.status = CampaignStatus.ENDED
    db.session.commit()
    ended = publish.publish()

    assert sorted(ended.removed) == [
        f"s3://{BUCKET}/site/cdn/banner/spring.former.json",
        f"s3://{BUCKET}/site/cdn/banner/spring.json",
    ]
    assert "site/cdn/embed.0123456789abcdef.js" in keys(bucket)  # pages that pin it still load it
    assert "elsewhere/banner/spring.json" in keys(bucket)  # outside the prefix: not ours to delete


def test_the_command_publishes_to_a_directory_and_the_bucket(app, make_campaign, bucket, tmp_path):
    make_campaign()
    result = app.test_cli_runner().invoke(args=["banner", "publish", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"uploaded s3://{BUCKET}/site/cdn/banner/spring.json" in result.output
    assert result.output.endswith("12 written, 0 unchanged, 0 removed.\n")
    assert (tmp_path / "banner" / "spring.json").read_bytes() == (
        bucket.get_object(Bucket=BUCKET, Key="site/cdn/banner/spring.json")["Body"].read()
    )


def test_a_bucket_that_is_down_fails_in_seconds_with_a_message(app, make_campaign, bucket, monkeypatch):
    make_campaign()
    monkeypatch.setitem(app.config, "PUBLISH_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(publish.PublishError, match=f"Cannot publish to s3://{BUCKET}/site/cdn/"):
        publish.publish()
    assert time.monotonic() - started < 10


def test_a_staff_save_republishes_to_the_bucket(client, make_campaign, log_in_as, bucket):
    make_campaign()
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))
    body = bucket.get_object(Bucket=BUCKET, Key="site/cdn/banner/spring.json")["Body"].read()
    assert b"Fresh words" in body


def test_a_staff_save_stands_when_the_bucket_is_down(
    app, client, make_campaign, log_in_as, bucket, monkeypatch
):
    campaign = make_campaign()
    monkeypatch.setitem(app.config, "PUBLISH_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    log_in_as("fundraiser")

    response = client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))

    assert response.status_code == 302
    db.session.expire_all()
    assert campaign.variants[0].heading == "Fresh words"
    assert client.get("/api/banner?campaign=spring").json["variants"][0]["heading"] == "Fresh words"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="message warning"' in page
    assert f"Cannot publish to s3://{BUCKET}/site/cdn/" in page
