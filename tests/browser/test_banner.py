"""The banner on a news site's article page, in Chromium: another origin, real script, real API."""

import contextlib
import http.server
import re
import shutil
import threading
import time
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from banner.assets import Script
from banner.extensions import db
from banner.models import BannerStat, CampaignStatus, Gift, Placement, Variant, utcnow
from banner.services import banners
from tests import factories
from tests.browser.conftest import HIDE, close, type_card
from tests.conftest import ROOT, free_port
from tests.stripe_helpers import VISA
from tests.waiting import eventually

pytestmark = pytest.mark.browser

REGION = "Support our journalism"
STRICT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'nonce-r4nd0m' 'strict-dynamic'; style-src 'self'; connect-src {live}; img-src 'self' data:">
<title>Strict</title><link rel="icon" href="data:,"><script nonce="r4nd0m" async src="{live}/embed.js"></script></head>
<body><h1>A page with a strict policy</h1><p>Text.</p></body></html>"""
SLOT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Slot</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="slot.css"><script async src="{live}/embed.js"></script></head>
<body><div data-donation-banner></div><h1>Story</h1><p>Text.</p></body></html>"""
# Installed before any page script: records CSP violations, layout shifts, the beacons sent, and
# when the banner script has had the service's answer (or given up) and acted on it.
PROBES = """
window.__bannerDone = false;
window.__beacons = [];
const answered = () => setTimeout(() => { window.__bannerDone = true; });  // after the script's own steps
const realFetch = window.fetch;
window.fetch = function (resource) {
  const answer = realFetch.apply(this, arguments);
  if (!String(resource).includes("/api/banner")) return answer;
  return answer.then(response => {
    if (response.status != 200) answered();
    else { const json = response.json.bind(response); response.json = () => json().finally(answered); }
    return response;
  }, error => { answered(); throw error; });
};
const realBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => { window.__beacons.push(url); return realBeacon(url, data); };
window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective));
window.__cls = 0;
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
}).observe({type: "layout-shift", buffered: true});
window.__globals = Object.keys(window);
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("site")


@pytest.fixture(scope="session")
def site(site_dir, live_server, session_app):
    """The demo article site, served from another origin, its banner tag pointing at the app."""
    shutil.copytree(ROOT / "demo" / "site", site_dir, dirs_exist_ok=True)
    article = (site_dir / "index.html").read_text().replace("http://127.0.0.1:5000", live_server)
    (site_dir / "index.html").write_text(article)
    (site_dir / "strict.html").write_text(STRICT_PAGE.format(live=live_server))
    (site_dir / "slot.html").write_text(SLOT_PAGE.format(live=live_server))
    script = Script(ROOT / "static" / "embed" / "banner.js")
    (site_dir / "pinned.html").write_text(
        SLOT_PAGE.replace("<div data-donation-banner></div>", "")
        .replace(
            '<script async src="{live}/embed.js">',
            f'<script async src="{{live}}/{script.hashed_name}" integrity="{script.integrity}" crossorigin="anonymous">',
        )
        .format(live=live_server)
    )
    (site_dir / "slot.css").write_text("[data-donation-banner]{display:block;min-height:120px}")
    (site_dir / "down.html").write_text(article.replace(live_server, f"http://127.0.0.1:{free_port()}"))
    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), partial(QuietHandler, directory=str(site_dir))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origins = session_app.config["SITE_ORIGINS"]
    session_app.config["SITE_ORIGINS"] = (
        f"{origins},http://127.0.0.1:{port}"  # "Back to the article" leads here
    )
    yield f"http://127.0.0.1:{port}"
    session_app.config["SITE_ORIGINS"] = origins
    server.shutdown()
    server.server_close()


@pytest.fixture
def campaign(live):
    def make(**overrides):
        fields = dict(
            starts_at=utcnow() - timedelta(minutes=1),
            variants=[Variant(key="a", heading="Heading A", body="Body A", button_text="Give")],
        )
        return factories.campaign(**(fields | overrides))

    return make


@pytest.fixture
def reader(page):
    page.add_init_script(PROBES)
    return page


def banner(page):
    return page.get_by_role("region", name=REGION)


def answered(page) -> None:
    """Wait until the banner script has had the service's answer, or given up, and acted on it."""
    page.wait_for_function("() => window.__bannerDone")


def counted(column: str, expected: int, timeout: float = 8) -> int:
    """The sum of this counter over all banner stats, once it reaches `expected` (or after `timeout`)."""

    def total() -> int:
        db.session.expire_all()
        return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(getattr(BannerStat, column)), 0)))

    with contextlib.suppress(AssertionError):
        eventually(lambda: total() >= expected, timeout)
    return total()


def test_banner_appears_on_an_article_of_another_origin_without_shifting_it(site, campaign, reader):
    campaign()
    reader.goto(site + "/")
    expect(banner(reader)).to_be_visible()
    expect(banner(reader)).to_contain_text("Heading A")
    expect(banner(reader)).to_contain_text("$0 raised of $1,000")
    counted("views", 1)  # seen for a second: the page has settled

    assert reader.evaluate("window.__cls") == 0
    assert reader.errors == []
    new_globals = reader.evaluate(
        "Object.keys(window).filter(k => !window.__globals.includes(k) && k !== '__globals')"
    )
    assert new_globals == ["DonationBanner"]
    assert reader.context.cookies() == []
    assert counted("impressions", 1) == 1
    assert counted("views", 1) == 1


def test_banner_is_keyboard_operable_and_never_takes_focus(site, campaign, reader):
    campaign()
    reader.goto(site + "/")
    expect(banner(reader)).to_be_visible()
    assert reader.evaluate("document.activeElement === document.body")

    reached = []
    for _ in range(60):
        reader.keyboard.press("Tab")
        reached.append(
            reader.evaluate(
                "(() => { let e = document.activeElement; while (e && e.shadowRoot && e.shadowRoot.activeElement)"
                " e = e.shadowRoot.activeElement; return e ? (e.getAttribute('aria-label') || e.textContent.trim()) : ''; })()"
            )
        )
        if reached[-1] == "Close":
            break
    assert "$5" in reached and "Close" in reached
    reader.keyboard.press("Enter")
    expect(banner(reader)).to_have_count(0)
    assert counted("dismissals", 1) == 1


def test_focus_is_visible_and_motion_is_reduced_on_request(site, campaign, browser):
    campaign()
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    page.goto(site + "/")
    expect(banner(page)).to_be_visible()
    section = "[...document.body.children].find(e => e.shadowRoot).shadowRoot.querySelector('section')"
    assert page.evaluate(f"getComputedStyle({section}).animationName") == "none"
    banner(page).get_by_role("link", name="$5").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate(
        f"getComputedStyle({section}.querySelector('a:focus-visible') || {section}.querySelector('a')).outlineStyle"
    )
    assert outline == "solid"
    close(context)


def test_closing_hides_the_campaign_for_its_dismiss_days(site, campaign, reader):
    campaign(dismiss_days=14)
    reader.goto(site + "/")
    banner(reader).get_by_role("button", name="Close").click()
    expect(banner(reader)).to_have_count(0)

    reader.reload()
    answered(reader)
    expect(banner(reader)).to_have_count(0)

    # Fifteen days later it comes back.
    reader.evaluate("localStorage.setItem('dbn:closed:spring', JSON.stringify(Date.now() - 15 * 864e5))")
    reader.reload()
    expect(banner(reader)).to_be_visible()


def test_daily_cap_limits_impressions_per_reader(site, campaign, reader):
    campaign(daily_cap=2)
    for _ in range(2):
        reader.goto(site + "/")
        expect(banner(reader)).to_be_visible()
    reader.goto(site + "/")
    answered(reader)
    expect(banner(reader)).to_have_count(0)


def test_a_reader_keeps_one_variant_and_readers_are_spread_by_weight(site, campaign, browser):
    campaign(variants=[Variant(key="a", heading="Heading A"), Variant(key="b", heading="Heading B")])
    seen = set()
    # The banner knows a reader only by what it keeps in the site's localStorage (no cookie), so
    # emptying that makes the next reader: a new browser context each would cost half a second more.
    context = browser.new_context()
    page = context.new_page()
    for reader in range(10):
        if reader:
            page.evaluate("localStorage.clear()")
        headings = set()
        for _ in range(2):
            page.goto(site + "/")
            expect(banner(page)).to_be_visible()
            headings.add(banner(page).locator("b").inner_text())
        assert len(headings) == 1  # stable across pages and visits
        seen |= headings
    close(context)
    assert seen == {"Heading A", "Heading B"}


def test_preview_forces_a_variant_and_counts_nothing(site, campaign, reader):
    # A slug of its own: a late beacon of an earlier test names "spring" and its variant keys.
    campaign(
        slug="preview-only",
        status=CampaignStatus.DRAFT,
        variants=[Variant(key="a", heading="Heading A"), Variant(key="b", heading="Heading B")],
    )
    reader.clock.install()
    reader.goto(site + "/?banner_preview=" + banners.preview_token("preview-only", "b"))
    expect(banner(reader)).to_contain_text("Heading B")
    reader.clock.run_for(2500)  # an impression would be sent after 2 s, a view after 1 s
    reader.evaluate(HIDE)  # and anything queued, when the page is hidden
    assert reader.evaluate("window.__beacons") == []
    assert [url for url, _ in reader.sent if "/api/events" in url] == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(BannerStat.id))) == 0


@pytest.mark.parametrize("failure", ["abort", "500", "garbage", "wrong-shape", "timeout"])
def test_a_failing_service_shows_nothing_and_breaks_nothing(site, campaign, reader, failure):
    campaign()

    def fail(route):
        if failure == "abort":
            route.abort()
        elif failure == "500":
            route.fulfill(status=500, body="oops")
        elif failure == "garbage":
            route.fulfill(status=200, content_type="application/json", body="<<not json")
        elif failure == "wrong-shape":
            route.fulfill(
                status=200,
                content_type="application/json",
                body='{"campaign": "spring", "variants": [{"amounts": 5}]}',
            )
        # "timeout": never answered; the script gives up after 2 s

    reader.route(re.compile(r".*/api/banner.*"), fail)
    reader.goto(site + "/")
    answered(reader)  # the script gives up after 2 s
    expect(banner(reader)).to_have_count(0)
    assert [error for error in reader.errors if "Failed to load resource" not in error[1]] == []
    assert reader.evaluate("document.body.lastElementChild.shadowRoot") is None


def test_with_the_service_stopped_the_article_still_works(site, reader):
    reader.goto(site + "/down.html")
    reader.wait_for_load_state("load")  # the script's own load has failed by then
    expect(reader.get_by_role("heading", level=1)).to_be_visible()
    assert [error for error in reader.errors if "Failed to load resource" not in error[1]] == []


def test_a_host_page_with_a_strict_policy_reports_no_violation(site, campaign, reader):
    campaign()
    reader.goto(site + "/strict.html")
    expect(banner(reader)).to_be_visible()
    answered(reader)
    assert reader.evaluate("window.__violations") == []


def test_a_reserved_slot_takes_the_banner_without_shifting_the_page(site, campaign, reader):
    campaign()
    reader.goto(site + "/slot.html")
    expect(banner(reader)).to_be_visible()
    assert reader.evaluate(
        "document.querySelector('[data-donation-banner]').firstElementChild.shadowRoot !== null"
    )
    assert reader.evaluate("window.__cls") == 0


def test_the_pinned_script_passes_its_integrity_check(site, campaign, reader):
    campaign()
    reader.goto(site + "/pinned.html")
    expect(banner(reader)).to_be_visible()
    assert reader.errors == []


def test_a_reader_gives_from_the_banner_and_the_banner_then_stays_away(site, campaign, reader):
    campaign()
    reader.goto(site + "/")
    banner(reader).get_by_role("link", name="$25").click()

    reader.wait_for_url(re.compile(r"/donate\?"))
    expect(reader.get_by_label("Amount", exact=True)).to_have_value("25")
    reader.get_by_label("Your name").fill("Ada Reader")
    reader.get_by_label("E-mail").fill("ada@example.org")
    type_card(reader, VISA)
    reader.get_by_role("button", name="Give $25").click()
    reader.wait_for_url(re.compile(r"/donate/thanks/"))

    reader.get_by_role("link", name="Back to the article").click()
    reader.wait_for_url(site + "/")  # the script took its marker off the address, having kept it
    assert reader.evaluate("JSON.parse(localStorage.getItem('dbn:donor'))") > reader.evaluate("Date.now()")
    expect(banner(reader)).to_have_count(0)  # a current donor: the script asked for no banner
    db.session.expire_all()
    gift = db.session.scalar(sa.select(Gift))
    assert (gift.campaign.slug, gift.variant.key, gift.article_url) == ("spring", "a", site + "/")
    assert counted("clicks", 1) == 1


def test_a_former_donor_is_welcomed_back(site, campaign, reader, browser):
    campaign(
        variants=[
            Variant(key="a", heading="Heading A"),
            Variant(key="back", heading="Welcome back", audience="former"),
        ]
    )
    reader.goto(site + "/#banner-gave-0")  # the link on the cancellation page
    expect(banner(reader)).to_contain_text("Welcome back")
    assert "#" not in reader.url
    reader.goto(site + "/")
    expect(banner(reader)).to_contain_text("Welcome back")

    stranger = browser.new_context().new_page()
    stranger.goto(site + "/")
    expect(banner(stranger)).to_contain_text("Heading A")
    close(stranger.context)


def test_a_current_donor_sees_nothing_until_their_gift_ends_then_is_a_former_donor(site, campaign, reader):
    campaign(
        variants=[
            Variant(key="a", heading="Heading A"),
            Variant(key="back", heading="Welcome back", audience="former"),
        ]
    )
    asked = []
    reader.on("request", lambda request: "/api/banner" in request.url and asked.append(request.url))
    reader.goto(site + "/#banner-gave-3650")  # back from a monthly gift's thank-you page
    # the script has run once it took the marker off the address (it keeps it first)
    expect(reader).to_have_url(site + "/")
    expect(banner(reader)).to_have_count(0)
    assert asked == []  # a current donor asks for no banner at all

    reader.goto(site + "/?p=2#banner-gave-10")  # cancelled, paid for 10 more days: still current
    expect(reader).to_have_url(site + "/?p=2")
    expect(banner(reader)).to_have_count(0)
    assert asked == []

    # 11 days later the paid period is over: the reader is a former donor
    reader.evaluate("localStorage.setItem('dbn:donor', JSON.stringify(Date.now() - 864e5))")
    reader.goto(site + "/")
    expect(banner(reader)).to_contain_text("Welcome back")
    assert "donor=former" in asked[-1] and "campaign=" not in asked[-1]  # the page pins no campaign
    assert len(asked) == 1  # and nothing was asked while the reader was a current donor


PHONES = [(360, 640), (390, 844)]
DEMO_VARIANT = dict(
    key="b",
    heading="No paywall. No billionaire. Just you.",
    body="Monthly gifts from readers fund two-thirds of our newsroom.",
    button_text="Give monthly",
)


def sized_page(browser, width: int, height: int):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.add_init_script(PROBES)
    return page


def screen_share(page) -> float:
    """Return the share of the viewport the banner covers."""
    box = banner(page).bounding_box()
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    seen_width = max(0, min(box["x"] + box["width"], width) - max(box["x"], 0))
    seen_height = max(0, min(box["y"] + box["height"], height) - max(box["y"], 0))
    return seen_width * seen_height / (width * height)


def covered_by_banner(page, target) -> float:
    """Return how many pixels of `target`'s height the banner covers."""
    bar, box = banner(page).bounding_box(), target.bounding_box()
    return max(0, min(bar["y"] + bar["height"], box["y"] + box["height"]) - max(bar["y"], box["y"]))


@pytest.mark.parametrize(("width", "height"), [*PHONES, (1280, 900)])
def test_banner_takes_at_most_15_percent_of_the_screen(site, campaign, browser, width, height):
    campaign(variants=[Variant(**DEMO_VARIANT)])
    page = sized_page(browser, width, height)
    page.goto(site + "/")
    expect(banner(page)).to_be_visible()
    share = screen_share(page)
    print(f"\nbanner at {width}x{height}: {share:.1%} of the viewport")
    assert share <= 0.15
    expect(banner(page).locator("b")).to_be_visible()
    for amount in ("$5", "$10", "$25"):
        expect(banner(page).get_by_role("link", name=amount)).to_be_visible()
    assert page.evaluate("window.__cls") == 0
    close(page.context)


@pytest.mark.parametrize(("width", "height"), PHONES)
def test_banner_collapses_to_a_slim_bar_and_expands_again_and_remembers(
    site, campaign, browser, width, height
):
    campaign(variants=[Variant(**DEMO_VARIANT)])
    page = sized_page(browser, width, height)
    page.goto(site + "/")
    toggle = banner(page).get_by_role("button", name="Ways to give")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    full = screen_share(page)

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(banner(page).get_by_role("link", name="$5")).to_be_hidden()
    slim = screen_share(page)
    print(f"\nbanner at {width}x{height}: {full:.1%} expanded, {slim:.1%} slim")
    assert slim < full * 0.7 and slim <= 0.07

    page.reload()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(banner(page).get_by_role("link", name="$5")).to_be_visible()
    page.reload()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("window.__cls") == 0
    close(page.context)


def test_tabbing_to_the_footer_links_scrolls_them_clear_of_the_banner(site, campaign, browser):
    campaign(variants=[Variant(**DEMO_VARIANT)])
    page = sized_page(browser, 390, 844)
    page.goto(site + "/")
    expect(banner(page)).to_be_visible()
    footer_links = page.locator(".site-footer a")
    footer_links.first.focus()
    for index in range(footer_links.count()):
        if index:
            page.keyboard.press("Tab")
        expect(footer_links.nth(index)).to_be_focused()
        assert covered_by_banner(page, footer_links.nth(index)) == 0
    expect(banner(page).get_by_role("link", name="$5")).to_be_visible()  # scrolled, not collapsed
    assert page.evaluate("window.__cls") == 0
    close(page.context)


# Scroll so that the link sits just inside the screen's edge, under a bar at that edge.
UNDER_THE_BAR = {
    Placement.BOTTOM: "(link) => scrollBy(0, link.getBoundingClientRect().bottom - innerHeight + 10)",
    Placement.TOP: "(link) => scrollBy(0, link.getBoundingClientRect().top - 10)",
}


@pytest.mark.parametrize("placement", [Placement.BOTTOM, Placement.TOP], ids=lambda p: p.value)
def test_focus_moving_to_a_link_under_the_banner_scrolls_it_into_view(site, campaign, browser, placement):
    campaign(placement=placement, variants=[Variant(**DEMO_VARIANT)])
    page = sized_page(browser, 360, 640)
    page.goto(site + "/")
    expect(banner(page)).to_be_visible()
    link = page.locator(".story-footer a")
    page.evaluate(UNDER_THE_BAR[placement], link.element_handle())
    assert covered_by_banner(page, link) > 0

    link.focus()
    expect(link).to_be_focused()
    assert covered_by_banner(page, link) == 0
    assert page.evaluate("window.__cls") == 0
    close(page.context)


def test_give_monthly_opens_the_donate_page_with_monthly_chosen(site, campaign, reader):
    campaign(variants=[Variant(**DEMO_VARIANT)])
    reader.goto(site + "/")
    give_monthly = banner(reader).get_by_role("link", name="Give monthly")
    five = banner(reader).get_by_role("link", name="$5")
    assert "frequency=month" in give_monthly.get_attribute("href")
    assert "frequency=once" in five.get_attribute("href")

    banner(reader).get_by_role("checkbox", name="Monthly").check()
    assert "frequency=month" in five.get_attribute("href")  # the reader's choice travels with the link
    banner(reader).get_by_role("checkbox", name="Monthly").uncheck()
    assert "frequency=once" in five.get_attribute("href")
    assert "frequency=month" in give_monthly.get_attribute("href")

    give_monthly.click()
    reader.wait_for_url(re.compile(r"/donate\?"))
    expect(reader.get_by_label("Monthly")).to_be_checked()
    assert counted("clicks", 1) == 1


def count_clicks(page) -> list:
    """Record every click the reader makes, on every page of the journey."""
    clicks: list[str] = []
    page.expose_function("clicked", lambda: clicks.append(page.url))
    page.add_init_script(
        "document.addEventListener('click', e => { if (e.isTrusted) window.clicked(); }, true);"
    )
    return clicks


@pytest.mark.parametrize(
    ("choose", "frequency", "amount"),
    [(("$25",), "once", 2500), (("Give monthly", "$10"), "month", 1000)],
    ids=["once", "monthly"],
)
def test_from_the_banner_to_the_thank_you_page(site, campaign, reader, choose, frequency, amount):
    """The reader's whole path, with the clicks and seconds it takes (printed for `pytest -s`)."""
    campaign(variants=[Variant(**DEMO_VARIANT)])
    clicks = count_clicks(reader)
    reader.goto(site + "/")
    started = time.monotonic()
    banner(reader).get_by_role("link", name=choose[0], exact=True).click()
    reader.wait_for_url(re.compile(r"/donate\?"))
    for preset in choose[1:]:
        reader.get_by_role("button", name=preset, exact=True).click()
    reader.get_by_label("Your name").fill("Ada Reader")
    reader.get_by_label("E-mail").fill("ada@example.org")
    type_card(reader, VISA)
    reader.locator("#submit").click()
    reader.wait_for_url(re.compile(r"/donate/thanks/"))
    seconds = time.monotonic() - started

    print(f"\n{frequency}: {len(clicks)} clicks, {seconds:.1f} s from the banner to the thank-you page")
    assert len(clicks) == len(choose) + 1
    db.session.expire_all()
    [gift] = db.session.scalars(sa.select(Gift)).all()
    assert (gift.frequency.value, gift.amount, gift.variant.key) == (frequency, amount, "b")
