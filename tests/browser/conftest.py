"""A real app server and Debian's Chromium, driven by Playwright."""

import os
import urllib.request

import pytest

from banner.extensions import db, limiter
from tests.conftest import STRICT, empty_tables

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if STRICT:
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def live(live_server, session_app, stripe_base):
    """The live server's URL, over an empty database and emulator, with CSRF on."""
    urllib.request.urlopen(urllib.request.Request(f"{stripe_base}/_config/data", method="DELETE"))
    session_app.config["WTF_CSRF_ENABLED"] = True
    session_app.extensions.pop("banner_cache", None)
    session_app.extensions.pop("progress_cache", None)
    limiter.reset()
    with session_app.app_context():
        yield live_server
        db.session.remove()
        empty_tables()


def close(context) -> None:
    """Leave the context's pages, so that the banner sends what it has queued, give those beacons
    half a second to land, then close it. Events name campaigns by slug and variants by key, so a
    beacon landing during the next test would count for that test's campaign. (Playwright does
    not report beacons sent while a page unloads, so there is nothing to wait on but time.)"""
    pages = context.pages or [context.new_page()]
    for page in pages:
        page.goto("about:blank")
    pages[0].wait_for_timeout(500)
    context.close()


@pytest.fixture
def page(browser, stripe_base):
    """A fresh browser page that collects console errors and uncaught exceptions, and every
    request the page sends to origins other than Stripe's."""
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.sent = []

    def console(message):
        # A declined card is an HTTP 402 from Stripe, which Chromium logs; that is Stripe's, not ours.
        if message.type == "error" and not message.location.get("url", "").startswith(stripe_base):
            page.errors.append((message.location.get("url", ""), message.text))

    def request(sent):
        if not sent.url.startswith(stripe_base):
            page.sent.append((sent.url, sent.post_data or ""))

    page.on("console", console)
    page.on("pageerror", lambda error: page.errors.append(("", str(error))))
    page.on("request", request)
    yield page
    if any("/api/banner" in url for url, _ in page.sent):  # a banner showed: it may send events
        close(context)  # they land before the tables are emptied
    else:
        context.close()


def type_card(page, number: str) -> None:
    """Type a test card into the Payment Element (the emulator's Stripe.js double)."""
    card = page.locator("#payment-element")
    card.get_by_label("Card number").fill(number)
    card.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    card.get_by_label("CVC").fill("123")
