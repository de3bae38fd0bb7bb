"""The banner's public endpoints: the script, the banner choice and the event beacons."""

import base64
import gzip
import hashlib
import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from banner.assets import Script
from banner.extensions import db
from banner.models import BannerStat, Placement, Variant, utcnow
from tests.conftest import ROOT

SOURCE = ROOT / "static" / "embed" / "banner.js"
SCRIPT = Script(SOURCE).body  # the bytes readers download


def test_served_embed_script_fits_its_gzip_budget(client):
    served = client.get("/embed.js").data
    gzipped = len(gzip.compress(served, compresslevel=9))
    print(f"embed.js: source {SOURCE.stat().st_size:,} B, served {len(served):,} B, gzip -9 {gzipped:,} B")
    assert gzipped <= 3072


def test_embed_script_is_served_minified_from_its_readable_source(client):
    served = client.get("/embed.js").data.decode()
    source = SOURCE.read_text()
    assert "function render(data, variant, slot)" in source  # real names in the source
    assert "/*" not in served and "//" not in served.replace("://", "")  # no comments
    assert "render(data" not in served  # local names shortened
    assert len(served) < len(source) * 0.7
    assert "DonationBanner" in served and "dbn:" in served  # the contracts keep their names


def test_pinned_name_and_integrity_are_digests_of_the_served_bytes(client, app):
    served = client.get("/embed.js").data
    snippet = app.test_cli_runner().invoke(args=["banner", "embed-snippet"]).output
    digest = hashlib.sha256(served).hexdigest()[:16]
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(served).digest()).decode()
    assert f"/embed.{digest}.js" in snippet and f'integrity="{integrity}"' in snippet
    assert client.get(f"/embed.{digest}.js").data == served


@pytest.mark.parametrize(
    "pattern",
    [
        r"\beval\s*\(",
        r"new\s+Function",
        r"innerHTML",
        r"outerHTML",
        r"insertAdjacentHTML",
        r"document\.write",
        r"\.on[a-z]+\s*=",
        r"setAttribute\(\s*['\"]on",
        r"document\.cookie",
        r"setAttribute\(\s*['\"]style",
    ],
)
def test_embed_script_uses_nothing_unsafe(pattern):
    assert not re.search(pattern, SCRIPT.decode()), pattern


def test_embed_script_is_cacheable_and_revalidates(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.data == SCRIPT
    cache = response.headers["Cache-Control"]
    assert "max-age=300" in cache and "stale-while-revalidate" in cache
    assert "Set-Cookie" not in response.headers
    etag = response.headers["ETag"]

    again = client.get("/embed.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_embed_script_at_its_content_hash_is_immutable(client):
    etag = client.get("/embed.js").headers["ETag"].strip('"')
    pinned = client.get(f"/embed.{etag}.js")
    assert pinned.status_code == 200 and pinned.data == SCRIPT
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert pinned.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/embed.0123456789abcdef.js").status_code == 404


def test_banner_answer_is_cacheable_by_anyone_and_sets_no_cookie(client, make_campaign):
    make_campaign()
    response = client.get("/api/banner?campaign=spring&path=/news/a")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=30, s-maxage=30"
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_banner_answer_carries_text_copy_and_donate_link(client, make_campaign):
    make_campaign(
        variants=[
            Variant(
                key="a",
                heading="<b>Give</b>",
                body="<script>x()</script>",
                button_text="Support",
                theme="dark",
                weight=2,
            )
        ]
    )
    data = client.get("/api/banner?campaign=spring").json
    assert data["campaign"] == "spring"
    assert data["donateUrl"].endswith("/donate")
    assert data["placement"] == "bottom"
    [variant] = data["variants"]
    assert variant["heading"] == "<b>Give</b>" and variant["body"] == "<script>x()</script>"
    assert variant["amounts"] == [["5", "$5"], ["10", "$10"], ["25", "$25"]]
    assert (variant["theme"], variant["weight"], variant["button"]) == ("dark", 2, "Support")


@pytest.mark.parametrize(
    ("button_text", "frequency"),
    [
        ("Give monthly", "month"),
        ("Support us every month", "month"),
        ("Become a yearly supporter", "year"),
        ("Give now", None),
        ("Support the Ledger", None),
    ],
)
def test_a_button_that_promises_a_frequency_says_so_in_the_answer(
    client, make_campaign, button_text, frequency
):
    make_campaign(variants=[Variant(key="a", heading="Give", button_text=button_text)])
    [variant] = client.get("/api/banner?campaign=spring").json["variants"]
    assert variant["buttonFrequency"] == frequency


def test_no_campaign_is_204(client):
    response = client.get("/api/banner?path=/news/a")
    assert response.status_code == 204 and response.data == b""


def test_bad_query_is_400(client):
    assert client.get("/api/banner?preview=not-a-preview").status_code == 400
    assert client.get("/api/banner?path=" + "x" * 3000).status_code == 400


def test_banner_is_read_from_cache_until_it_expires(client, make_campaign, app):
    campaign = make_campaign()
    assert client.get("/api/banner?campaign=spring").status_code == 200
    campaign.title = "changed"
    campaign.status = campaign.status.__class__.PAUSED
    db.session.commit()
    assert client.get("/api/banner?campaign=spring").status_code == 200  # still cached

    cached = app.extensions["banner_cache"]
    cached.expires = cached.next_check = 0  # BANNER_CACHE_SECONDS pass
    assert client.get("/api/banner?campaign=spring").status_code == 204


def test_goal_progress_is_summed_once_per_cache_period(client, make_campaign, app):
    make_campaign()
    statements = []

    def record(connection, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            client.get("/api/banner?campaign=spring&path=/a")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    sums = [s for s in statements if "sum(" in s.lower()]
    assert len(sums) == 1


def beacon(client, body, content_type="text/plain;charset=UTF-8"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/events", data=data, headers={"Content-Type": content_type})


def counters():
    db.session.expire_all()
    return [
        (row.day, row.impressions, row.views, row.clicks, row.dismissals)
        for row in db.session.scalars(sa.select(BannerStat))
    ]


def test_events_are_added_to_daily_counters(client, make_campaign):
    make_campaign()
    events = [
        {"type": kind, "campaign": "spring", "variant": "a"}
        for kind in ("impression", "impression", "view", "click", "dismiss")
    ]
    response = beacon(client, {"events": events})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert beacon(client, {"events": events[:1]}).status_code == 204
    [(day, impressions, views, clicks, dismissals)] = counters()
    assert day == utcnow().date()
    assert (impressions, views, clicks, dismissals) == (3, 1, 1, 1)


def test_unknown_campaigns_and_variants_are_ignored(client, make_campaign):
    make_campaign()
    body = {
        "events": [
            {"type": "impression", "campaign": "nope", "variant": "a"},
            {"type": "impression", "campaign": "spring", "variant": "zz"},
        ]
    }
    assert beacon(client, body).status_code == 204
    assert counters() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"events": "x"}',
        b'{"events": []}',
        b'{"events": [1]}',
        b'{"events": [{"type": "purchase", "campaign": "spring", "variant": "a"}]}',
        b'{"events": [{"type": "click", "campaign": "spring"}]}',
        json.dumps({"events": [{"type": "click", "campaign": "spring", "variant": "a"}] * 51}).encode(),
        json.dumps({"events": [{"type": "click", "campaign": "s" * 61, "variant": "a"}]}).encode(),
        b"{" + b" " * 20_000 + b"}",
    ],
    ids=[
        "text",
        "bytes",
        "list",
        "events-string",
        "empty",
        "not-object",
        "bad-type",
        "no-variant",
        "too-many",
        "long-slug",
        "oversized",
    ],
)
def test_malformed_beacons_are_refused_and_change_nothing(client, make_campaign, body):
    make_campaign()
    response = beacon(client, body)
    assert response.status_code == 400
    assert counters() == []


def test_concurrent_beacons_are_all_counted(live_server, app, make_campaign, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTS_PER_IP", "1000 per minute")  # all from 127.0.0.1
    make_campaign()
    body = json.dumps({"events": [{"type": "impression", "campaign": "spring", "variant": "a"}]})

    def send(_):
        request = urllib.request.Request(f"{live_server}/api/events", data=body.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses == [204] * 200
    assert [row[1] for row in counters()] == [200]


def test_a_slot_campaign_and_schedules_are_in_the_answer(client, make_campaign):
    make_campaign(placement=Placement.SLOT, dismiss_days=3, daily_cap=2)
    data = client.get("/api/banner").json
    assert (data["placement"], data["dismissDays"], data["cap"]) == ("slot", 3, 2)


def test_a_campaign_that_has_not_started_is_not_shown(client, make_campaign):
    make_campaign(starts_at=utcnow() + timedelta(hours=1))
    assert client.get("/api/banner").status_code == 204


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(
    ("foreground", "background", "minimum"),
    [
        ("#1d1d1f", "#fff8e6", 4.5),  # light theme text
        ("#ffffff", "#0b5cad", 4.5),  # light theme amount links
        ("#0b5cad", "#fff8e6", 3.0),  # light theme focus ring
        ("#ffffff", "#1d2733", 4.5),  # dark theme text
        ("#1d1d1f", "#ffd166", 4.5),  # dark theme amount links
        ("#ffd166", "#1d2733", 3.0),  # dark theme focus ring
    ],
)
def test_banner_colours_meet_wcag_aa(foreground, background, minimum):
    css = SCRIPT.decode().lower()
    for colour in (foreground, background):
        assert colour in css or (colour == "#ffffff" and "#fff" in css), colour
    assert contrast(foreground, background) >= minimum
