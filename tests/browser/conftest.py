"""A real app server and Debian's Chromium, driven by Playwright."""

import os

import pytest

from banner.extensions import db, limiter
from tests.conftest import STRICT, empty_tables, use_what_the_test_asks_for

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
def live(live_server, session_app, stripe_base, request):
    """The live server's URL, over an empty database and emulator, with CSRF on."""
    use_what_the_test_asks_for(session_app, request)
    session_app.config["WTF_CSRF_ENABLED"] = True
    session_app.extensions.pop("banner_cache", None)
    session_app.extensions.pop("progress_cache", None)
    limiter.reset()
    with session_app.app_context():
        yield live_server
        db.session.remove()
        empty_tables()


#: Tell the page's scripts it is hidden, as when the reader leaves it: the banner sends what it has
#: queued. Returns how many beacons that sent.
HIDE = """() => {
  let sent = 0;
  const own = Object.getOwnPropertyDescriptor(navigator, "sendBeacon"), send = navigator.sendBeacon;
  navigator.sendBeacon = function () { sent++; return send.apply(navigator, arguments); };
  Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
  delete document.visibilityState;
  own ? Object.defineProperty(navigator, "sendBeacon", own) : delete navigator.sendBeacon;
  return sent;
}"""


def send_queued_events(page) -> None:
    """Have the banner on this page send what it has queued, and wait until those beacons are
    answered. (Playwright does not see beacons sent while a page unloads, so they are sent before.)"""
    answered: list = []

    def landed(request):
        if "/api/events" in request.url:
            answered.append(request)

    page.on("requestfinished", landed)
    page.on("requestfailed", landed)
    sent = page.evaluate(HIDE)
    while len(answered) < sent:
        page.wait_for_event("requestfinished", lambda request: "/api/events" in request.url)


def close(context) -> None:
    """Have the banner send what it has queued while each page is still open, wait until those
    beacons are answered, then close the context. Events name campaigns by slug and variants by key,
    so a beacon landing during the next test would count for that test's campaign."""
    for page in context.pages:
        send_queued_events(page)
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
