"""The donate page over HTTP: rendering, validation, CSRF, the JSON steps and the thank-you page."""

import re
import uuid

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Gift, Payment
from tests.stripe_helpers import VISA, confirm_card_setup

JSON = {"Accept": "application/json"}


def form_data(**overrides):
    data = {
        "amount": "25",
        "frequency": "once",
        "currency": "usd",
        "name": "Ada Reader",
        "email": "ada@example.org",
        "checkout_key": uuid.uuid4().hex,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_donate_page_shows_the_campaign_and_prefills_from_the_link(client, make_campaign):
    make_campaign(title="Spring drive", goal_amount=500_000)
    page = client.get(
        "/donate?campaign=spring&variant=a&amount=10&frequency=month&from=https://news.example/a"
    ).text

    assert "Spring drive" in page
    assert "$5,000 goal" in page
    assert re.search(r'<input [^>]*name="amount"[^>]*value="10"', page)
    assert re.search(r'value="month"[^>]*checked|checked[^>]*value="month"', page)
    assert 'value="https://news.example/a"' in page and 'name="variant" type="hidden" value="a"' in page
    for preset in ("$5", "$10", "$25"):
        assert f">{preset}</button>" in page


def test_every_visible_field_has_a_label(client, make_campaign):
    make_campaign()
    page = client.get("/donate").text
    inputs = re.findall(r'<input (?![^>]*type="(?:hidden|radio)")[^>]*id="([^"]+)"', page)
    assert {"amount", "name", "email", "cover_fees"} <= set(inputs)
    for input_id in inputs:
        assert f'for="{input_id}"' in page, input_id
    radios = re.findall(r'(<label[^>]*>)?<input [^>]*type="radio"', page)
    assert len(radios) == 3 and all(radios)


def test_donate_page_sends_security_headers(client):
    response = client.get("/donate")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "0.50"}, "amount", "smallest gift we can take is $1"),
        ({"amount": "10000.01"}, "amount", "over $10,000"),
        ({"amount": "ten"}, "amount", "in numbers"),
        ({"amount": "-5"}, "amount", "greater than zero"),
        ({"amount": "5.123"}, "amount", "2 decimal places"),
        ({"amount": ""}, "amount", "Choose or enter an amount"),
        ({"frequency": "week"}, "frequency", "Not a valid choice"),
        ({"currency": "xyz"}, "currency", "cannot take gifts in this currency"),
        ({"email": "ada@"}, "email", "e-mail address like"),
        ({"email": None}, "email", "e-mail for the receipt"),
        ({"name": None}, "name", "Tell us your name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"checkout_key": "nope"}, "checkout_key", "Reload the page"),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_charges_nothing(
    client, stripe_base, overrides, field, message
):
    response = client.post("/donate", data=form_data(**overrides), headers=JSON)

    assert response.status_code == 400
    errors = response.json["error"]["fields"]
    assert message in " ".join(errors[field])
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 0


def test_bad_input_without_javascript_renders_the_form_with_the_error(client):
    response = client.post("/donate", data=form_data(amount="abc"))
    assert response.status_code == 400
    assert 'id="amount-error"' in response.text and "in numbers" in response.text
    assert 'aria-invalid="true"' in response.text


def test_donate_form_requires_a_csrf_token(client, app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/donate", data=form_data(), headers=JSON)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf"

    page = client.get("/donate").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/donate", data=form_data(csrf_token=token), headers=JSON)
    assert response.status_code == 200


def test_gift_over_http_from_form_to_thank_you_page(client, stripe_base, make_campaign, outbox):
    make_campaign()
    started = client.post(
        "/donate",
        data=form_data(amount="25", campaign="spring", variant="a", article_url="https://n.example/x"),
        headers=JSON,
    ).json
    assert started["status"] == "confirm_card"
    setup = confirm_card_setup(stripe_base, started["client_secret"], VISA)

    done = client.post(started["confirm_url"], data={"setup_intent": setup["id"]}, headers=JSON).json

    assert done["status"] == "succeeded"
    page = client.get(done["thanks_url"]).text
    assert "Thank you, Ada Reader" in page and "$25" in page
    assert 'href="https://n.example/x#banner-gave"' in page
    assert db.session.scalar(sa.select(Payment)).amount == 2500


def test_attribution_urls_that_are_not_web_links_are_dropped(client, stripe_base):
    client.post("/donate", data=form_data(article_url="javascript:alert(1)", referrer="data:x"), headers=JSON)
    gift = db.session.scalar(sa.select(Gift))
    assert gift.article_url is None and gift.referrer is None


def test_thank_you_page_is_only_for_paid_gifts(client, stripe_base):
    started = client.post("/donate", data=form_data(), headers=JSON).json
    assert client.get(f"/donate/thanks/{started['reference']}").status_code == 404
    assert client.get("/donate/thanks/unknown").status_code == 404


def test_unknown_gift_confirmation_is_a_json_404(client):
    response = client.post("/donate/nothing/confirm", data={}, headers=JSON)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(("amount", "fee", "total"), [("25", "$1.06", "$26.06"), ("10", "$0.61", "$10.61")])
def test_fee_quote_uses_the_one_fee_formula(client, amount, fee, total):
    quote = client.get(f"/donate/fee?amount={amount}&currency=usd").json
    assert (quote["fee_display"], quote["total_display"]) == (fee, total)


def test_fee_quote_refuses_bad_amounts(client):
    assert client.get("/donate/fee?amount=abc&currency=usd").status_code == 400
