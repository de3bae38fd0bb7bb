"""Static publishing for a CDN: the script and the live campaigns' answers as files, kept fresh."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from banner import ConfigError, create_app
from banner.assets import embed_script
from banner.cli_publish import publish_every, publish_once
from banner.extensions import db
from banner.models import Campaign, CampaignStatus, Frequency, Variant
from banner.services import publish
from tests import factories
from tests.conftest import ROOT
from tests.test_staff import campaign_form, variant_form
from tests.waiting import eventually


def read_manifest(root):
    return json.loads((root / "manifest.json").read_text())


def pay(campaign, amount):
    """A one-time gift of `amount` to the campaign, paid."""
    gift = factories.gift(
        Frequency.ONCE,
        donor=factories.donor(email=f"donor-{amount}@example.org", name="D", save=False),
        campaign=campaign,
        amount=amount,
        save=False,
    )
    factories.payment(gift, stripe_payment_intent_id=f"pi_{amount}", save=False)
    db.session.add(gift)
    db.session.commit()


def test_published_files_are_what_the_app_answers(client, make_campaign, tmp_path):
    make_campaign()
    make_campaign(slug="autumn", priority=5, variants=[Variant(key="x", heading="Autumn", weight=2)])

    publish.publish(tmp_path)

    script = embed_script()
    served = client.get(f"/{script.hashed_name}")
    manifest = read_manifest(tmp_path)
    assert (tmp_path / script.hashed_name).read_bytes() == served.data
    assert manifest["files"][script.hashed_name] == {
        "sha256": publish.StaticFile("", served.data, "", "").sha256,
        "type": served.headers["Content-Type"],
        "cache": served.headers["Cache-Control"],
    }
    assert manifest["script"] == {"path": script.hashed_name, "integrity": script.integrity}
    for slug in ("spring", "autumn"):
        answer = client.get(f"/api/banner?campaign={slug}")
        assert (tmp_path / "banner" / f"{slug}.json").read_bytes() == answer.data
        entry = manifest["files"][f"banner/{slug}.json"]
        assert (entry["type"], entry["cache"]) == (
            answer.headers["Content-Type"],
            answer.headers["Cache-Control"],
        )
    # Without data-campaign: the live campaign of highest priority, as /api/banner picks it.
    assert (tmp_path / "banner" / "_live.json").read_bytes() == client.get("/api/banner?path=/story").data
    # A former donor's twin: what the service answers donor=former.
    assert (tmp_path / "banner" / "spring.former.json").read_bytes() == (
        client.get("/api/banner?campaign=spring&donor=former").data
    )
    assert (manifest["live"], sorted(manifest["campaigns"])) == ("autumn", ["autumn", "spring"])


@pytest.mark.parametrize(
    "fields",
    [
        {"status": CampaignStatus.DRAFT},
        {"status": CampaignStatus.PAUSED},
        {"status": CampaignStatus.ENDED},
        {"ends_at": datetime(2020, 1, 1, tzinfo=UTC)},
    ],
    ids=["draft", "paused", "ended", "past its end"],
)
def test_only_campaigns_live_now_are_published(client, make_campaign, tmp_path, fields):
    make_campaign(slug="hidden", **({"starts_at": None} | fields))

    publish.publish(tmp_path)

    assert client.get("/api/banner?campaign=hidden").status_code == 204
    assert list(tmp_path.glob("banner/*")) == []
    assert read_manifest(tmp_path)["campaigns"] == []
    assert read_manifest(tmp_path)["live"] is None


def test_a_campaign_that_stops_being_live_loses_its_file(make_campaign, tmp_path):
    campaign = make_campaign()
    publish.publish(tmp_path)
    assert (tmp_path / "banner" / "spring.json").exists()

    campaign.status = CampaignStatus.PAUSED
    db.session.commit()
    report = publish.publish(tmp_path)

    assert sorted(report.removed) == [
        "banner/_live.former.json",
        "banner/_live.json",
        "banner/spring.former.json",
        "banner/spring.json",
    ]
    assert list(tmp_path.glob("banner/*")) == []


def test_targeted_campaigns_are_published_but_live_json_holds_one_for_every_page(make_campaign, tmp_path):
    make_campaign(slug="politics", priority=9, path_include=["/politics/"])
    make_campaign(slug="from-social", priority=8, referrer_domains=["social.example"])
    make_campaign(slug="spring", priority=1)

    files, report = publish.build()

    names = [static.path for static in files]
    assert {"banner/politics.json", "banner/from-social.json", "banner/spring.json"} <= set(names)
    live = next(static for static in files if static.path == "banner/_live.json")
    assert json.loads(live.body)["campaign"] == "spring"
    assert report.warnings == [
        "politics, from-social target pages by path or referrer, which banner/_live.json cannot: "
        "tags on those pages need data-campaign (or no data-source)."
    ]


def test_no_live_json_when_every_live_campaign_is_targeted(make_campaign, tmp_path):
    make_campaign(slug="politics", path_include=["/politics/"])
    publish.publish(tmp_path)
    assert sorted(p.name for p in (tmp_path / "banner").iterdir()) == [
        "politics.former.json",
        "politics.json",
    ]


def test_publishing_again_rewrites_nothing(make_campaign, tmp_path):
    make_campaign()
    first = publish.publish(tmp_path)
    stamps = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()}
    inodes = {path: path.stat().st_ino for path in stamps}

    again = publish.publish(tmp_path)

    assert len(first.written) == 6 and again.written == [] and again.removed == []
    assert sorted(again.unchanged) == sorted(first.written)
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert {path: path.stat().st_ino for path in stamps} == inodes
    assert publish.publish(tmp_path, force=True).written == first.written


def test_a_file_is_replaced_whole_or_not_at_all(make_campaign, tmp_path, monkeypatch):
    campaign = make_campaign()
    publish.publish(tmp_path)
    before = (tmp_path / "banner" / "spring.json").read_bytes()
    campaign.variants[0].heading = "New words"
    db.session.commit()

    def no_rename(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(publish.PublishError, match="disk full"):
        publish.publish(tmp_path)

    assert (tmp_path / "banner" / "spring.json").read_bytes() == before
    assert [p.name for p in tmp_path.rglob(".*")] == []  # no temporary file left behind
    monkeypatch.undo()
    publish.publish(tmp_path)
    assert b"New words" in (tmp_path / "banner" / "spring.json").read_bytes()
    assert oct((tmp_path / "banner" / "spring.json").stat().st_mode & 0o777) == "0o644"


def test_the_command_prints_progress_and_a_summary(app, make_campaign, tmp_path):
    make_campaign()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["banner", "publish", str(tmp_path)])
    again = runner.invoke(args=["banner", "publish", str(tmp_path)])

    assert first.exit_code == 0, first.output
    assert f"wrote {tmp_path / 'banner' / 'spring.json'}" in first.output
    assert first.output.endswith("6 written, 0 unchanged, 0 removed.\n")
    assert again.output == "0 written, 6 unchanged, 0 removed.\n"


def test_the_command_says_when_there_is_nowhere_to_publish(app):
    result = app.test_cli_runner().invoke(args=["banner", "publish"])
    assert result.exit_code == 1
    assert "Nowhere to publish" in result.output


def test_the_command_publishes_to_the_configured_directory(app, make_campaign, tmp_path, monkeypatch):
    make_campaign()
    monkeypatch.setitem(app.config, "PUBLISH_DIR", str(tmp_path / "cdn"))
    result = app.test_cli_runner().invoke(args=["banner", "publish"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cdn" / "banner" / "spring.json").exists()


def test_a_gift_changes_the_goal_in_the_next_pass_of_the_schedule(app, make_campaign, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CACHE_SECONDS", 3600)  # the web process's cache must not matter
    campaign = make_campaign(goal_amount=10_000)
    stop, goals = threading.Event(), []

    def once():
        publish_once(tmp_path)
        goals.append(json.loads((tmp_path / "banner" / "spring.json").read_text())["goal"])
        if len(goals) == 1:
            pay(db.session.get(Campaign, campaign.id), 2_500)
        else:
            stop.set()

    publish_every(0, once, stop)

    assert goals == [
        {"percent": 0, "text": "$0 raised of $100"},
        {"percent": 25, "text": "$25 raised of $100"},
    ]


def test_a_failed_pass_of_the_schedule_is_logged_and_the_next_one_runs(app, caplog):
    stop, passes = threading.Event(), []

    def once():
        passes.append(len(passes))
        if len(passes) == 1:
            raise publish.PublishError("Cannot write to /cdn: disk full")
        stop.set()

    publish_every(0, once, stop)

    assert passes == [0, 1]
    assert "publishing failed; trying again in 0 s" in caplog.text
    assert "disk full" in caplog.text


def test_a_staff_save_republishes(app, client, make_campaign, log_in_as, tmp_path, monkeypatch):
    make_campaign()
    monkeypatch.setitem(app.config, "PUBLISH_DIR", str(tmp_path))
    log_in_as("fundraiser")

    client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))
    assert (
        json.loads((tmp_path / "banner" / "spring.json").read_text())["variants"][0]["heading"]
        == "Fresh words"
    )

    client.post("/staff/campaigns/spring/variants/new", data=variant_form(key="b", heading="Second"))
    assert [v["key"] for v in json.loads((tmp_path / "banner" / "spring.json").read_text())["variants"]] == [
        "a",
        "b",
    ]

    client.post("/staff/campaigns/spring/variants/b/delete")
    assert [v["key"] for v in json.loads((tmp_path / "banner" / "spring.json").read_text())["variants"]] == [
        "a"
    ]

    client.post(
        "/staff/campaigns/spring",
        data=campaign_form(slug="spring", status="paused", starts_at="", ends_at=""),
    )
    assert not (tmp_path / "banner" / "spring.json").exists()


def test_without_publishing_configured_a_staff_save_writes_nothing(
    app, client, make_campaign, log_in_as, tmp_path
):
    make_campaign()
    log_in_as("fundraiser")
    response = client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))
    assert response.status_code == 302
    assert list(tmp_path.iterdir()) == []


def test_a_failed_republication_keeps_the_save_and_warns_staff(
    app, client, make_campaign, log_in_as, tmp_path, monkeypatch, caplog
):
    make_campaign()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    monkeypatch.setitem(app.config, "PUBLISH_DIR", str(blocked))
    log_in_as("fundraiser")

    response = client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(Variant.heading)) == "Fresh words"
    assert "republishing after a staff change failed" in caplog.text
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="message warning"' in page
    assert "the CDN&#39;s copy of the banner could not be updated" in page


def test_a_campaign_named_live_keeps_its_own_file(client, make_campaign, tmp_path):
    make_campaign(slug="live", priority=1, path_include=["/live/"])
    make_campaign(slug="spring", priority=0)

    publish.publish(tmp_path)

    assert (tmp_path / "banner" / "live.json").read_bytes() == client.get("/api/banner?campaign=live").data
    assert (tmp_path / "banner" / "_live.json").read_bytes() == client.get("/api/banner?campaign=spring").data


def test_a_bucket_without_boto3_is_refused_at_start_up(app_settings, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"boto3 is missing: pip install 'banner\[s3\]'"):
        create_app(app_settings | {"PUBLISH_S3_BUCKET": "banner-cdn"})


def test_publish_every_runs_as_a_service_until_sigterm(app, app_settings, make_campaign, tmp_path):
    campaign = make_campaign(goal_amount=10_000)
    env = (
        os.environ
        | {f"BANNER_{name}": str(value) for name, value in app_settings.items()}
        | {"PYTHONPATH": str(ROOT)}
    )
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "banner",
        "publish",
        str(tmp_path),
        "--every",
        "1",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    answer = tmp_path / "banner" / "spring.json"
    try:
        eventually(answer.exists, 30, "the first pass wrote nothing")
        assert json.loads(answer.read_text())["goal"]["percent"] == 0
        pay(campaign, 5_000)
        eventually(lambda: json.loads(answer.read_text())["goal"]["percent"] == 50, 30, "no 50% published")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert output.startswith("Publishing every 1 s; SIGTERM or Ctrl-C stops.\n")
    assert output.endswith("Publisher stopped.\n")


def test_the_snippet_names_the_published_answers(app):
    script = embed_script()
    output = (
        app.test_cli_runner()
        .invoke(args=["banner", "embed-snippet", "--source", "https://cdn.example.org/banner"])
        .output
    )
    assert (
        f'<script async src="{app.config["PUBLIC_URL"]}/{script.hashed_name}" integrity="{script.integrity}" '
        'crossorigin="anonymous" data-source="https://cdn.example.org/banner"></script>'
    ) in output
