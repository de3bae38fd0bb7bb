"""The banner's hot path: answers built in advance, no database, session or app-wide hook per
request, and staff changes seen through the campaigns version."""

import gzip
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.hotpath import SessionInterface
from banner.models import CampaignStatus, Frequency, Variant, utcnow
from banner.services import campaigns_version
from banner.services.donor_marker import RECURRING_DAYS, cancelled_marker, gave_marker
from banner.views import embed
from tests import factories
from tests.test_staff import campaign_form, variant_form


class RecordingSessions(SessionInterface):
    def __init__(self, calls):
        self.calls = calls

    def open_session(self, app, request):
        session = super().open_session(app, request)
        if session is not None:  # None: Flask uses a null session, which reads and saves nothing
            self.calls.append(("open", request.path))
        return session

    def save_session(self, app, session, response):
        self.calls.append(("save", response.status_code))
        return super().save_session(app, session, response)


def spy(calls, function):
    def spied(*args, **kwargs):
        calls.append(getattr(function, "__qualname__", repr(function)))
        return function(*args, **kwargs)

    return spied


@pytest.fixture
def recorder(app, monkeypatch):
    """Record SQL statements, session opens and saves, and app-wide hooks run, from now on."""
    calls = {"sql": [], "session": [], "hooks": []}

    def record(connection, cursor, statement, *args):
        calls["sql"].append(statement)

    monkeypatch.setattr(app, "session_interface", RecordingSessions(calls["session"]))
    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        monkeypatch.setitem(hooks, None, [spy(calls["hooks"], hook) for hook in hooks[None]])
    sa.event.listen(db.engine, "before_cursor_execute", record)
    yield calls
    sa.event.remove(db.engine, "before_cursor_execute", record)


def hot_urls(client):
    digest = client.get("/embed.js").headers["ETag"].strip('"')
    return [
        "/embed.js",
        f"/embed.{digest}.js",
        "/api/banner?campaign=spring&path=/news/a",
        "/api/banner?path=/news/a&ref=https://social.example/&donor=former",
        "/api/banner?path=/news/a&donor=current",
    ]


def test_the_hot_path_touches_no_database_session_login_or_limiter(client, app, make_campaign, recorder):
    make_campaign()
    urls = hot_urls(client)
    for url in urls:
        client.get(url)  # builds this process's copy of the live campaigns
    app.extensions["banner_cache"].next_check = time.monotonic() + 3600  # within one check period
    recorder["sql"].clear(), recorder["session"].clear(), recorder["hooks"].clear()
    client.set_cookie("session", "a-staff-members-cookie")

    for _ in range(3):
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 204), url
            assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    assert recorder == {"sql": [], "session": [], "hooks": []}

    client.get("/healthz")  # any other page still runs them all: the recorder sees them
    assert recorder["session"] and "Limiter._check_request_limit" in recorder["hooks"]


def test_the_hot_path_answers_carry_the_security_headers_they_need(client, make_campaign):
    make_campaign()
    for url in (
        "/embed.js",
        "/embed.0123456789abcdef.js",
        "/api/banner?campaign=spring",
        "/api/banner?campaign=nope",
        "/api/banner?path=%00",
    ):
        headers = client.get(url).headers
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Access-Control-Allow-Origin"] == "*"


def test_a_banner_answer_revalidates_with_its_etag(client, make_campaign):
    make_campaign()
    first = client.get("/api/banner?campaign=spring")
    again = client.get("/api/banner?campaign=spring", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/embed.js", "/api/banner?campaign=spring&path=/news/story"])
def test_a_client_that_takes_gzip_gets_bytes_compressed_in_advance(client, make_campaign, path, monkeypatch):
    """Browsers all send Accept-Encoding: gzip. Compressed once, the answer is never compressed
    again per request, by the app or by a proxy that keeps both forms (deploy/'s nginx compressed
    each hit itself: 164 µs of CPU per request instead of 50)."""
    make_campaign()
    plain = client.get(path)
    compressed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.headers.get("Content-Encoding") is None
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert plain.headers["Vary"] == compressed.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(compressed.data) == plain.data
    assert compressed.headers["ETag"] != plain.headers["ETag"]
    again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": compressed.headers["ETag"]})
    assert again.status_code == 304
    calls = []
    monkeypatch.setattr(gzip, "compress", lambda *args, **kwargs: calls.append(args) or b"")
    client.get(path, headers={"Accept-Encoding": "gzip"})
    assert calls == []  # built with the answer, not per request
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0, deflate"})
    assert refused.headers.get("Content-Encoding") is None and refused.data == plain.data


def test_an_answer_is_made_once_for_its_bytes_not_once_per_request(client, app, make_campaign, monkeypatch):
    """Building a Response (its headers checked one by one) was a fifth of the banner's own CPU
    a request: each prepared answer is made once and sent to every reader asking for it."""
    make_campaign()
    app.extensions.pop("prepared_answers", None)
    made = []
    make = embed.PreparedResponse.__init__
    monkeypatch.setattr(
        embed.PreparedResponse, "__init__", lambda self, *a, **k: made.append(1) or make(self, *a, **k)
    )
    bodies = {}
    for _ in range(3):
        for path in ("/embed.js", "/api/banner?campaign=spring"):
            for encoding in ("gzip", "identity"):
                answer = client.get(path, headers={"Accept-Encoding": encoding})
                assert answer.status_code == 200
                assert bodies.setdefault((path, encoding), answer.data) == answer.data
    assert len(made) == 4  # two addresses, each plain and gzipped
    assert gzip.decompress(bodies["/embed.js", "gzip"]) == bodies["/embed.js", "identity"]


def test_the_campaigns_version_is_read_once_per_check_period_not_per_request(
    client, app, make_campaign, recorder
):
    make_campaign()
    client.get("/api/banner?campaign=spring")
    app.extensions["banner_cache"].next_check = 0  # CHECK_SECONDS passed
    recorder["sql"].clear()
    for _ in range(5):
        assert client.get("/api/banner?campaign=spring").status_code == 200
    assert len(recorder["sql"]) == 1 and "campaigns_version" in recorder["sql"][0]


def test_a_change_elsewhere_shows_once_the_version_moves(client, app, make_campaign):
    campaign = make_campaign()
    assert client.get("/api/banner?campaign=spring").status_code == 200
    campaign.status = CampaignStatus.PAUSED  # another instance's staff save, without this one's signal
    db.session.commit()
    app.extensions["banner_cache"].next_check = 0
    assert client.get("/api/banner?campaign=spring").status_code == 200  # same version: still cached

    campaigns_version.bump()
    assert client.get("/api/banner?campaign=spring").status_code == 200  # not looked at again yet
    app.extensions["banner_cache"].next_check = 0
    assert client.get("/api/banner?campaign=spring").status_code == 204


def test_a_staff_save_moves_the_version_and_shows_here_at_once(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")
    assert client.get("/api/banner?campaign=spring").json["variants"][0]["heading"] == "Support us"
    before = campaigns_version.read()

    client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="New words"))
    assert campaigns_version.read() == before + 1
    assert client.get("/api/banner?campaign=spring").json["variants"][0]["heading"] == "New words"

    client.post("/staff/campaigns/spring", data=campaign_form(slug="spring", status="paused"))
    assert campaigns_version.read() == before + 2
    assert client.get("/api/banner?campaign=spring").status_code == 204


# Which campaign a page gets without naming one, and what current and former donors see.


def test_without_a_campaign_the_live_one_that_targets_the_page_answers(client, make_campaign):
    make_campaign(slug="old", priority=1)
    make_campaign(slug="sport", priority=9, path_include=["/sport/"])
    make_campaign(slug="later", priority=9, starts_at=utcnow() + timedelta(days=1))
    make_campaign(slug="draft", priority=9, status=CampaignStatus.DRAFT)
    assert client.get("/api/banner?path=/news/a").json["campaign"] == "old"
    assert client.get("/api/banner?path=/sport/match").json["campaign"] == "sport"
    make_campaign(slug="news", priority=1, path_include=["/news/"])
    assert client.get("/api/banner?path=/news/a").json["campaign"] == "old"  # equal priority: the oldest


WELCOME = [
    Variant(key="a", heading="Support us"),
    Variant(key="b", heading="Or us", weight=2),
    Variant(key="back", heading="Welcome back", audience="former"),
]


@pytest.mark.parametrize(
    ("variants", "donor", "shown"),
    [
        (WELCOME, None, ["a", "b"]),
        (WELCOME, "former", ["back"]),
        (WELCOME, "current", None),
        (WELCOME[:2], "former", ["a", "b"]),  # no variant for former donors: the usual ones
        (WELCOME[:2], "current", None),
    ],
    ids=["reader", "former", "current", "former-without-welcome", "current-without-welcome"],
)
def test_current_donors_see_nothing_and_former_donors_their_variants(
    client, make_campaign, variants, donor, shown
):
    make_campaign(
        variants=[
            Variant(key=v.key, heading=v.heading, weight=v.weight, audience=v.audience) for v in variants
        ]
    )
    query = {"path": "/news/a", **({"donor": donor} if donor else {})}
    response = client.get("/api/banner", query_string=query)
    if shown is None:
        assert response.status_code == 204
    else:
        assert [variant["key"] for variant in response.json["variants"]] == shown


@pytest.mark.parametrize(
    "query",
    [
        {"campaign": "s" * 61},
        {"path": "x" * 2001},
        {"ref": "x" * 2001},
        {"preview": "not-a-preview"},
        {"donor": "someday"},
        {"campaign": "spring\x00"},
    ],
    ids=["long-campaign", "long-path", "long-ref", "bad-preview", "bad-donor", "nul"],
)
def test_a_bad_banner_query_is_a_400_naming_the_field(client, make_campaign, query):
    make_campaign()
    response = client.get("/api/banner", query_string=query)
    assert response.status_code == 400
    assert list(response.json["error"]["fields"]) == list(query)


# The marker of the links back to the article: until when the reader is a current donor.


def test_the_thank_you_link_marks_a_current_donor_for_as_long_as_the_gift_says():
    campaign = factories.campaign(gave_hide_days=30, save=False)
    assert gave_marker(factories.gift(Frequency.ONCE, campaign=campaign, save=False)) == "banner-gave-30"
    assert gave_marker(factories.gift(Frequency.ONCE, save=False)) == "banner-gave-365"
    for frequency in (Frequency.MONTH, Frequency.YEAR):
        recurring = factories.gift(frequency, campaign=campaign, save=False)
        assert gave_marker(recurring) == f"banner-gave-{RECURRING_DAYS}"


def test_the_cancellation_link_marks_a_former_donor_once_the_paid_period_ends():
    paid_on = factories.gift(current_period_end=utcnow() + timedelta(days=9, hours=2), save=False)
    assert cancelled_marker(paid_on) == "banner-gave-10"
    ended = factories.gift(current_period_end=utcnow() - timedelta(days=1), save=False)
    assert cancelled_marker(ended) == "banner-gave-0"
    assert cancelled_marker(factories.gift(save=False)) == "banner-gave-0"
