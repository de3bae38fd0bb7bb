"""The variant editor's live preview in Chromium: logged in through the real form, CSRF on."""

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from banner.extensions import db
from banner.models import BannerStat, Variant
from tests import factories
from tests.browser.conftest import HIDE
from tests.waiting import eventually

pytestmark = pytest.mark.browser

REGION = "Support our journalism"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def editor(live, page):
    """A fundraiser's browser on variant a of the live campaign "spring", logged in through the form."""
    factories.campaign()
    factories.staff("fundraiser")
    page.goto(f"{live}/staff/campaigns/spring/variants/a")
    page.get_by_label("E-mail").fill("fundraiser@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live}/staff/campaigns/spring/variants/a")
    return page


def banner_texts(page) -> list[str]:
    """Return the text of each banner on the page, from Chromium's accessibility tree: unlike
    Playwright's locators, it includes what a closed shadow root holds."""
    cdp = page.context.new_cdp_session(page)
    nodes = {node["nodeId"]: node for node in cdp.send("Accessibility.getFullAXTree")["nodes"]}
    cdp.detach()

    def texts(node):
        own = [node["name"]["value"]] if node.get("role", {}).get("value") == "StaticText" else []
        return own + [
            text for child in node.get("childIds", []) if child in nodes for text in texts(nodes[child])
        ]

    return [
        " ".join(texts(node))
        for node in nodes.values()
        if node.get("role", {}).get("value") == "region" and node.get("name", {}).get("value") == REGION
    ]


#: Records, in the page, every beacon and every request to the service's API.
API_CALLS = """
window.__apiCalls = [];
const beacon = navigator.sendBeacon.bind(navigator), fetched = window.fetch;
navigator.sendBeacon = (url, data) => { window.__apiCalls.push(String(url)); return beacon(url, data); };
window.fetch = function (resource) {
  if (String(resource).includes("/api/")) window.__apiCalls.push(String(resource));
  return fetched.apply(this, arguments);
};
"""
#: The tag names of the elements the preview drew, inside its shadow root.
TAGS_IN_PREVIEW = """[...document.querySelectorAll('#banner-preview *')]
  .flatMap(e => e.shadowRoot ? [...e.shadowRoot.querySelectorAll('*')].map(n => n.tagName) : [])"""


def preview_shows(page, *expected: str, timeout: float = 5) -> str:
    """Wait until the one banner on the page, the preview, shows every expected text; return its text."""
    shown: list[str] = []

    def showing():
        shown[:] = banner_texts(page)
        return len(shown) == 1 and all(text in shown[0] for text in expected) and shown[0]

    return eventually(showing, timeout, what=lambda: f"{expected} in {shown}")


def test_preview_follows_the_copy_as_it_is_typed(editor):
    page = editor
    preview_shows(page, "Support us", "Please give.", "$5", "$10", "$25", "$0 raised of $1,000")
    assert page.evaluate("document.querySelector('#banner-preview').children.length") == 1

    page.get_by_label("Heading").fill("Local news needs you")
    page.get_by_label("Text", exact=True).fill("Chip in today.")
    page.get_by_label("Button").fill("Count me in")
    page.get_by_label("Suggested amounts").fill("7, 1500.50")

    shown = preview_shows(page, "Local news needs you", "Chip in today.", "Count me in", "$7", "$1,500.50")
    assert "Support us" not in shown and "$25" not in shown
    assert page.evaluate("document.querySelector('#banner-preview').children.length") == 1

    page.get_by_label("Suggested amounts").fill("")
    preview_shows(page, "$5", "$10", "$25")  # back to the campaign's
    assert page.errors == []


def test_preview_counts_nothing_and_shows_no_real_banner(editor):
    page = editor
    page.add_init_script(API_CALLS)
    page.clock.install()
    page.reload()
    preview_shows(page, "Support us")
    page.get_by_label("Heading").fill("Changed")
    preview_shows(page, "Changed")
    page.clock.run_for(2500)  # longer than the banner waits before sending an impression
    page.evaluate(HIDE)  # and anything queued goes when the page is hidden

    assert page.evaluate("window.__apiCalls") == []
    assert not [url for url, _ in page.sent if "/api/" in url]
    assert len(banner_texts(page)) == 1
    assert db.session.scalar(sa.select(sa.func.count(BannerStat.id))) == 0
    assert page.errors == []


@pytest.mark.parametrize(
    "heading",
    [
        "<script>window.__ran = 1</script>",
        '<img src="/x-pwned" onerror="window.__ran = 1">',
    ],
)
def test_typed_markup_is_shown_as_text_and_runs_nothing(editor, heading):
    page = editor
    page.get_by_label("Heading").fill(heading)
    page.get_by_label("Text", exact=True).fill("</p><b onmouseover=alert(1)>x</b>")

    preview_shows(page, heading, "</p><b onmouseover=alert(1)>x</b>")
    tags = page.evaluate(TAGS_IN_PREVIEW)  # the markup made no element that could load or run
    assert "B" in tags and not {"IMG", "SCRIPT"} & set(tags)
    assert page.evaluate("window.__ran") is None
    assert not [url for url, _ in page.sent if "pwned" in url]
    assert page.errors == []


def test_saving_keeps_the_preview_and_stores_the_copy(editor):
    page = editor
    page.get_by_label("Heading").fill("Saved words")
    with page.expect_navigation():
        page.get_by_role("button", name="Save variant").click()

    expect(page.get_by_label("Heading")).to_have_value("Saved words")
    preview_shows(page, "Saved words")
    db.session.expire_all()
    assert db.session.scalar(sa.select(Variant.heading)) == "Saved words"
    assert page.errors == []
