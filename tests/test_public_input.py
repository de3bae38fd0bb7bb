"""Bad input from anyone on the internet is answered with a 4xx, quickly, and changes nothing."""

import json

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import BannerStat, Gift
from tests.test_donate_views import JSON, form_data, give_over_http


@pytest.mark.parametrize("amount", ["1e150000", "1e999990", "1e10000000", "9" * 40, "10,50"])
def test_fee_quote_refuses_huge_or_foreign_amounts_with_a_400(client, amount):
    response = client.get(f"/donate/fee?amount={amount}&currency=usd")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid"


def test_fee_quote_reads_a_decimal_comma_in_euros(client):
    assert client.get("/donate/fee?amount=10,50&currency=eur").json["total_display"] == "€11.12"


@pytest.mark.parametrize(
    ("article", "kept"),
    [
        ("https://news.example/2026/bridge#top", "https://news.example/2026/bridge"),
        ("{public}/about", "{public}/about"),  # the service's own origin
        ("https://evil.example/news.example", None),
        ("https://news.example.evil.example/a", None),
        ("https://news.example@evil.example/a", None),
        ("https://user:pw@news.example/a", None),
        ("http://news.example/a", None),  # another scheme is another origin
        ("https://news.example:8443/a", None),
        ("http://[::1", None),
        ("javascript:alert(1)", None),
    ],
)
def test_only_the_news_site_s_articles_are_kept_as_the_way_back(client, app, stripe_base, article, kept):
    public = app.config["PUBLIC_URL"]
    article, kept = article.format(public=public), kept and kept.format(public=public)
    response = client.post("/donate", data=form_data(article_url=article), headers=JSON)
    assert response.status_code == 200
    assert db.session.scalar(sa.select(Gift.article_url)) == kept


def test_thank_you_page_has_no_way_back_to_another_site(client, stripe_base):
    done = give_over_http(client, stripe_base, article_url="https://evil.example/a")
    page = client.get(done["thanks_url"]).text
    assert "Back to the article" not in page and "evil.example" not in page


@pytest.mark.parametrize("query", ["from=http://[::1", "ref=http://[::1", "from=%00", "amount=%ff%fe"])
def test_donate_page_with_unreadable_links_is_not_a_server_error(client, query):
    assert client.get(f"/donate?{query}").status_code in (200, 400)


@pytest.mark.parametrize("ref", ["http://[::1", "http://[::1]:99999/", "http://%zz"])
def test_banner_query_with_an_unparsable_referrer_is_answered(client, make_campaign, ref):
    make_campaign(referrer_domains=["facebook.com"])
    response = client.get("/api/banner", query_string={"ref": ref})
    assert response.status_code == 204


@pytest.mark.parametrize("next_page", ["http://[::1", "/staff/\x00", "//evil.example/staff/"])
def test_login_with_an_unparsable_next_page_is_not_a_server_error(client, next_page):
    response = client.post(
        "/staff/login", data={"email": "a@example.org", "password": "x", "next": next_page}
    )
    assert response.status_code in (400, 401)


def beacon_body(**event):
    return json.dumps({"events": [{"type": "impression", "campaign": "spring", "variant": "a", **event}]})


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"events": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"events": [{"type": "impression", "campaign": "\\ud800", "variant": "a"}]}',
        '{"events": [{"type": "impression", "campaign": "spring", "variant": "a\\u0000"}]}',
        '{"events": [{"type": "impression", "campaign": "spring", "variant": "a"}], "reader": "\\udfff-abcdefgh"}',
        beacon_body(type=5),
        beacon_body(campaign=["spring"]),
        beacon_body(variant={"key": "a"}),
        beacon_body(campaign=None),
        beacon_body(type=True),
        '{"events": [{"type": "impression", "campaign": "spring", "variant": 1' + "0" * 5000 + "}]}",
        '{"events": [], "reader": 1e999}',
        json.dumps({"events": [{"type": "impression", "campaign": "spring", "variant": "a"}], "reader": 7}),
    ],
    ids=[
        "deep-list",
        "deep-events",
        "lone-surrogate",
        "nul",
        "surrogate-reader",
        "number-type",
        "list-campaign",
        "object-variant",
        "null-campaign",
        "bool-type",
        "huge-number",
        "infinite-reader",
        "number-reader",
    ],
)
def test_beacons_of_any_shape_are_a_400_not_a_server_error(client, make_campaign, body):
    make_campaign()
    response = client.post("/api/events", data=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid"
    assert db.session.scalar(sa.select(sa.func.count(BannerStat.id))) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 25},
        {"amount": None},
        {"name": ["Ada", {"x": 1}]},
        {"email": {"$ne": ""}},
        {"cover_fees": True},
        {"name": "Ada\u0000"},
        {"name": "\ud800"},
        [1, 2],
        "text",
    ],
    ids=["number", "null", "list-of-objects", "object", "bool", "nul", "lone-surrogate", "list", "string"],
)
def test_json_bodies_with_fields_that_are_not_text_are_a_400(client, body):
    fields = {**form_data(), **body} if isinstance(body, dict) else body
    response = client.post(
        "/donate", data=json.dumps(fields), headers={**JSON, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid"
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 0


def test_json_bodies_nested_too_deep_are_a_400(client):
    response = client.post("/donate", data="[" * 60_000, headers={**JSON, "Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/donate/thanks/ab%00cd",
        "/manage/ab%00cd",
        "/donate/fee?amount=5%00&currency=usd",
        "/api/banner?campaign=spring%00",
        "/donate?campaign=%00",
    ],
)
def test_nul_bytes_in_addresses_are_a_400_on_every_database(client, make_campaign, url):
    make_campaign()
    assert client.get(url).status_code == 400


def test_nul_bytes_in_forms_are_a_400(client, stripe_base):
    response = client.post("/donate", data=form_data(name="Ada\x00Reader"), headers=JSON)
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 0


def test_a_webhook_body_over_a_megabyte_is_a_413_in_the_json_error_shape(client):
    response = client.post("/stripe/webhook", data=b"{" + b" " * (1024 * 1024) + b"}")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_a_form_body_over_64_kilobytes_is_a_413(client):
    response = client.post("/donate", data=form_data(name="x" * 70_000), headers=JSON)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"
