"""The donate page over HTTP: rendering, validation, CSRF, the JSON steps and the thank-you page."""

import re
import time
import uuid
from unittest import mock

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Gift, Payment
from tests.stripe_helpers import VISA, confirm_payment, give

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
        assert f'>{preset}<span class="popular" hidden>' in page


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


@pytest.mark.usefixtures("stripe_base")
def test_donate_form_requires_a_csrf_token(client, app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/donate", data=form_data(), headers=JSON)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf"

    page = client.get("/donate").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/donate", data=form_data(csrf_token=token), headers=JSON)
    assert response.status_code == 200


def give_over_http(client, stripe_base, **fields):
    """Send the form, confirm the payment as Stripe.js does, tell the server: as the page does."""
    started = client.post("/donate", data=form_data(**fields), headers=JSON).json
    assert started["status"] == "confirm_payment"
    confirm_payment(stripe_base, started["client_secret"], VISA)
    return client.post(started["confirm_url"], data={}, headers=JSON).json


def test_gift_over_http_from_form_to_thank_you_page(client, stripe_base, make_campaign, outbox):
    make_campaign()
    done = give_over_http(
        client, stripe_base, amount="25", campaign="spring", variant="a", article_url="https://n.example/x"
    )

    assert done["status"] == "succeeded"
    page = client.get(done["thanks_url"])
    assert "Thank you" in page.text and "$25" in page.text
    assert 'href="https://n.example/x#banner-gave-365"' in page.text  # the campaign's days for a gift once
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert db.session.scalar(sa.select(Payment)).amount == 2500


def test_a_strangers_gift_with_a_donors_email_shows_nothing_of_the_donor(client, app, stripe_base, outbox):
    give(stripe_base, email="ada@example.org", name="Ada Lovelace")  # the real donor, monthly
    outbox.clear()

    done = give_over_http(client, stripe_base, email="ada@example.org", name="Mallory", amount="1")
    page = client.get(done["thanks_url"]).text

    assert "Ada Lovelace" not in page and "Mallory" not in page
    assert "/manage/" not in page  # no power over the donor's other gifts
    assert "ada@example.org" in page  # where the receipt went, which the stranger typed
    [receipt] = outbox
    assert receipt["To"] == "ada@example.org"  # the link to manage goes to the address only


def test_the_thank_you_page_is_only_for_the_browser_that_gave_and_only_briefly(client, app, stripe_base):
    done = give_over_http(client, stripe_base)
    assert client.get(done["thanks_url"]).status_code == 200

    assert app.test_client().get(done["thanks_url"]).status_code == 404  # another browser
    late = time.time() + app.config["THANKS_MINUTES"] * 60 + 1
    with mock.patch("banner.views.donate.time.time", return_value=late):
        assert client.get(done["thanks_url"]).status_code == 404


def test_a_browser_that_did_not_start_the_gift_cannot_claim_its_thank_you_page(client, app, stripe_base):
    done = give_over_http(client, stripe_base)
    other = app.test_client()

    again = other.post(done["confirm_url"], data={}, headers=JSON).json

    assert again["status"] == "succeeded"
    assert other.get(done["thanks_url"]).status_code == 404


def test_the_receipt_link_shows_the_receipt_and_no_manage_powers(client, app, stripe_base, outbox):
    give_over_http(client, stripe_base)
    [receipt] = outbox
    url = re.search(r"Your receipt online: (\S+)", receipt.get_body(("plain",)).get_content()).group(1)

    page = app.test_client().get(url.removeprefix(app.config["PUBLIC_URL"]))

    assert page.status_code == 200 and "$25" in page.text
    assert "/manage/" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert app.test_client().get(url.removeprefix(app.config["PUBLIC_URL"]) + "x").status_code == 404


def test_attribution_urls_that_are_not_web_links_are_dropped(client, stripe_base):
    client.post("/donate", data=form_data(article_url="javascript:alert(1)", referrer="data:x"), headers=JSON)
    gift = db.session.scalar(sa.select(Gift))
    assert gift.article_url is None and gift.referrer is None


def test_thank_you_page_is_only_for_paid_gifts(client, stripe_base):
    started = client.post("/donate", data=form_data(), headers=JSON).json
    client.post(started["confirm_url"], data={}, headers=JSON)
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
