"""The banner reading the answers `banner publish` put on a CDN (`data-source`), in Chromium."""

import http.server
import threading
from datetime import timedelta
from functools import partial

import pytest
from playwright.sync_api import expect

from banner.models import CampaignStatus, Variant, utcnow
from banner.services import banners, publish
from tests import factories
from tests.browser.conftest import send_queued_events
from tests.conftest import free_port

pytestmark = pytest.mark.browser

ARTICLE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Story</title>
<link rel="icon" href="data:,"><script async src="{live}/embed.js" data-source="{cdn}/banner"{pin}></script></head>
<body><h1>Story</h1><p>Text.</p></body></html>"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class CDN(Quiet):
    """A bucket behind a CDN: static files, readable from any origin (the bucket's CORS rule)."""

    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()


def serve(directory, handler) -> tuple[str, http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), partial(handler, directory=str(directory))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def cdn(live, tmp_path):
    """A CDN serving what `banner publish` wrote, and an article site on a third origin; `article(pin)`
    returns the URL of an article whose tag reads from the CDN."""
    (tmp_path / "cdn").mkdir()
    (tmp_path / "site").mkdir()
    cdn_url, cdn_server = serve(tmp_path / "cdn", CDN)
    site_url, site_server = serve(tmp_path / "site", Quiet)

    def article(pin: str | None = None) -> str:
        name = f"{pin or 'live'}.html"
        pinned = f' data-campaign="{pin}"' if pin else ""
        (tmp_path / "site" / name).write_text(ARTICLE.format(live=live, cdn=cdn_url, pin=pinned))
        return f"{site_url}/{name}"

    article.directory = tmp_path / "cdn"
    article.url = cdn_url
    yield article
    for server in (cdn_server, site_server):
        server.shutdown()
        server.server_close()


def make_campaign(slug, heading, **overrides):
    fields = dict(
        slug=slug,
        title=slug,
        starts_at=utcnow() - timedelta(minutes=1),
        variants=[Variant(key="a", heading=heading, body="Body", button_text="Give")],
    )
    return factories.campaign(**(fields | overrides))


def region(page):
    return page.get_by_role("region", name="Support our journalism")


def test_the_banner_reads_the_published_answer_from_the_cdn(cdn, page, live):
    make_campaign("cdn-spring", "From the CDN")
    publish.publish(cdn.directory)

    page.goto(cdn())

    expect(region(page)).to_contain_text("From the CDN")
    expect(region(page)).to_contain_text("$0 raised of $1,000")
    fetched = [url for url, _ in page.sent]
    assert f"{cdn.url}/banner/_live.json" in fetched
    assert not any("/api/banner" in url for url in fetched)
    events = f"{live}/api/events"
    if not any(
        url == events for url, _ in page.sent
    ):  # the impression is sent after 2 s, to the service itself
        page.wait_for_event("request", lambda request: request.url == events)
    assert any(url == events for url, _ in page.sent)
    assert page.errors == []
    send_queued_events(page)


def test_data_campaign_reads_that_campaigns_file(cdn, page):
    make_campaign("cdn-first", "First", priority=9)
    make_campaign("cdn-second", "Second", priority=1)
    publish.publish(cdn.directory)

    page.goto(cdn("cdn-second"))

    expect(region(page)).to_contain_text("Second")
    assert f"{cdn.url}/banner/cdn-second.json" in [url for url, _ in page.sent]
    send_queued_events(page)


def test_a_campaign_without_a_published_file_shows_nothing_and_breaks_nothing(cdn, page):
    make_campaign("cdn-spring", "From the CDN")
    publish.publish(cdn.directory)

    with page.expect_response(f"{cdn.url}/banner/cdn-ended.json") as missing:
        page.goto(cdn("cdn-ended"))
    assert missing.value.status == 404

    expect(region(page)).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert [error for error in page.errors if "Failed to load resource" not in error[1]] == []


def test_a_preview_link_still_asks_the_service(cdn, page):
    make_campaign("cdn-draft", "Draft words", status=CampaignStatus.DRAFT)
    publish.publish(cdn.directory)

    page.goto(cdn() + "?banner_preview=" + banners.preview_token("cdn-draft", "a"))

    expect(region(page)).to_contain_text("Draft words")
    assert any("/api/banner?" in url and "preview=" in url for url, _ in page.sent)
