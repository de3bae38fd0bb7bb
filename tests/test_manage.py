"""A donor manages their gifts from the signed link in their receipt, against the emulator."""

import re
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import request, request_started
from itsdangerous import URLSafeTimedSerializer

from banner import billing, payments
from banner.extensions import db
from banner.models import Frequency, Gift, GiftEvent, GiftStatus
from banner.services import donor_marker, links, manage, pauses, save_offers
from tests import fake_stripe as fake
from tests import stripe_events as se
from tests.stripe_helpers import VISA, confirm_setup, give


@pytest.fixture
def gift(app, stripe_base, outbox):
    """A monthly gift of $10 paid through checkout; its receipt is in the outbox."""

    def make(amount=1000, frequency=Frequency.MONTH, email="ada@example.org"):
        return give(
            stripe_base,
            email=email,
            amount=amount,
            frequency=frequency,
            article_url="https://news.example/story",
        )

    return make


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/manage/\S+)", message.get_body(("plain",)).get_content()).group(1)


def opened(client, message) -> str:
    """Follow the link in `message` as the donor's browser does; return where the manage area is."""
    assert client.get(link_in(message)).headers["Location"] == "/manage/gifts"
    return "/manage"


@pytest.fixture
def paths(app):
    """The path and query of every request the app answers from here on."""
    seen: list[str] = []

    def record(sender, **extra):
        seen.append(request.full_path)

    request_started.connect(record, app)
    yield seen
    request_started.disconnect(record, app)


def events(gift, kind=None):
    db.session.expire_all()
    query = sa.select(GiftEvent).where(GiftEvent.gift_id == gift.id).order_by(GiftEvent.id)
    return [e for e in db.session.scalars(query) if kind is None or e.kind == kind]


def reload(gift):
    db.session.expire_all()
    return db.session.get(Gift, gift.id)


def test_a_donors_dates_are_the_newsrooms_days_as_on_the_receipts(client, gift, outbox):
    """02:30 UTC is the evening before in New York (BANNER_TIMEZONE): the pages say that day,
    as the e-mailed receipt does, at any hour of the test run."""
    monthly = reload(gift())
    monthly.created_at = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
    monthly.current_period_end = datetime(2027, 1, 5, 2, 30, tzinfo=UTC)
    db.session.commit()
    page = client.get(link_in(outbox[0]), follow_redirects=True).text
    assert "Next charge on 04 January 2027" in page and "charge (4 January 2027) is skipped" in page
    assert "5 January 2027" not in page


def test_the_receipt_link_opens_the_donors_gifts(client, gift, outbox):
    monthly = gift()
    page = client.get(link_in(outbox[0]), follow_redirects=True)
    assert page.status_code == 200
    assert "$10 every month" in page.text and "Next charge on" in page.text
    assert "Visa ending in 4242" in page.text
    assert monthly.reference in page.text


def test_a_tampered_link_offers_a_new_one(client, gift, outbox):
    gift()
    link = link_in(outbox[0])
    page = client.get(link[:-3] + "abc")
    assert page.status_code == 403 and "E-mail me a new link" in page.text


def test_an_expired_link_offers_a_new_one(client, gift, outbox, app, monkeypatch):
    gift()
    link = link_in(outbox[0])
    app.config["MANAGE_LINK_DAYS"] = 30
    later = time.time() + 31 * 86400
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    page = client.get(link)
    assert page.status_code == 403 and "expired" in page.text


def test_a_link_stops_working_when_the_email_changes(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    monthly.donor.email = "new@example.org"
    db.session.commit()
    assert client.get(link).status_code == 403


def test_a_token_for_another_purpose_is_refused(client, gift, app):
    monthly = gift()
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="something-else")
    token = other.dumps({"donor": monthly.donor_id, "email": links.email_tag(monthly.donor.email)})
    assert client.get(f"/manage/{token}").status_code == 403


def test_after_following_a_link_no_address_carries_the_token(client, gift, outbox, paths):
    monthly = gift()
    link = link_in(outbox[0])
    token = link.rsplit("/", 1)[1]
    page = client.get(link, follow_redirects=True)
    assert page.status_code == 200 and monthly.reference in page.text
    pages = [page.text, client.get(f"/manage/gifts/{monthly.reference}/cancel").text]
    pages.append(client.get(f"/manage/gifts/{monthly.reference}/card").text)
    paused = client.post(
        f"/manage/gifts/{monthly.reference}/pause",
        data={"months": "1", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "Paused." in paused.text
    assert paths[0] == f"/manage/{token}?"
    assert [path for path in paths[1:] if token in path] == []
    assert len(paths) == 6 and all(token not in text for text in [*pages, paused.text])


def test_every_manage_page_is_kept_out_of_caches_and_referers(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    answers = [
        client.get(link),
        client.get("/manage/gifts"),
        client.get(f"/manage/gifts/{monthly.reference}/cancel"),
        client.get(link[:-3] + "abc"),
        client.get("/manage"),
    ]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.path
        assert answer.headers["Referrer-Policy"] == "no-referrer", answer.request.path


def test_without_a_session_the_manage_area_offers_a_new_link(client, gift):
    monthly = gift()
    page = client.get("/manage/gifts")
    assert page.status_code == 403 and "E-mail me a new link" in page.text
    paused = client.post(
        f"/manage/gifts/{monthly.reference}/pause", data={"months": "1", "action_key": uuid.uuid4().hex}
    )
    assert paused.status_code == 403
    assert reload(monthly).status is GiftStatus.ACTIVE


def idle_for(client, minutes: int) -> int:
    """Make the browser's manage session look unused for `minutes`; return when it was last used."""
    with client.session_transaction() as session:
        grant = session["manage"]
        session["manage"] = {**grant, "seen": grant["seen"] - minutes * 60}
        return session["manage"]["seen"]


def test_the_session_ends_after_half_an_hour_without_use(client, gift, outbox, app):
    gift()
    assert app.config["MANAGE_SESSION_MINUTES"] == 30
    opened(client, outbox[0])
    before = idle_for(client, 20)
    assert client.get("/manage/gifts").status_code == 200  # each use starts the half hour again
    with client.session_transaction() as session:
        assert session["manage"]["seen"] > before
    idle_for(client, 31)
    page = client.get("/manage/gifts")
    assert page.status_code == 403 and "E-mail me a new link" in page.text
    with client.session_transaction() as session:
        assert "manage" not in session


def test_a_session_ends_when_the_email_changes(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    assert client.get(f"{link}/gifts").status_code == 200
    monthly.donor.email = "new@example.org"
    db.session.commit()
    assert client.get(f"{link}/gifts").status_code == 403
    assert client.get(link_in(outbox[0])).status_code == 403


def test_asking_for_a_link_answers_the_same_for_known_and_unknown_addresses(client, gift, outbox):
    gift()
    outbox.clear()
    known = client.post("/manage", data={"email": "ADA@example.org"})
    unknown = client.post("/manage", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ADA@example.org", "X") == unknown.text.replace("nobody@example.org", "X")
    [sent] = outbox
    assert sent["To"] == "ada@example.org" and "/manage/" in sent.get_content()


def test_asking_for_links_is_rate_limited_per_address(client, app):
    for _ in range(5):
        assert client.post("/manage", data={"email": "limit@example.org"}).status_code == 200
    assert client.post("/manage", data={"email": "limit@example.org"}).status_code == 429
    assert client.post("/manage", data={"email": "other@example.org"}).status_code == 200


def test_asking_for_links_is_rate_limited_per_ip(client):
    statuses = [
        client.post("/manage", data={"email": f"reader{n}@example.org"}).status_code for n in range(21)
    ]
    assert statuses == [200] * 20 + [429]


def test_changing_the_amount_is_one_change_from_the_next_charge(client, gift, outbox, request):
    monthly = gift()
    link = opened(client, outbox[0])
    stripe = on_fake_stripe(request, monthly)
    stripe.answer(
        "POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", subscription(monthly, amount=1500)
    )
    key = uuid.uuid4().hex
    url = f"{link}/gifts/{monthly.reference}/amount"
    response = client.post(
        url, data={"amount": "15", "frequency": "month", "action_key": key}, follow_redirects=True
    )
    assert "you now give $15 every month, from your next charge" in response.text
    client.post(url, data={"amount": "15", "frequency": "month", "action_key": key})  # double submit

    monthly = reload(monthly)
    assert (monthly.amount, monthly.frequency, monthly.status) == (1500, Frequency.MONTH, GiftStatus.ACTIVE)
    [change] = events(monthly, "amount")
    assert change.data == {
        "old": {"amount": 1000, "frequency": "month"},
        "new": {"amount": 1500, "frequency": "month"},
    }
    assert change.actor.value == "donor"
    [update] = stripe.requests("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}")
    assert update.form == {
        "items[0][id]": f"si_{monthly.stripe_subscription_id}",
        "items[0][price_data][currency]": "usd",
        "items[0][price_data][product]": "banner-recurring-gift",
        "items[0][price_data][unit_amount]": "1500",
        "items[0][price_data][recurring][interval]": "month",
        "proration_behavior": "none",
    }
    assert stripe.requests("POST", "/v1/invoices/create_preview") == []


#: a gift paid on 1 December 2026, next charged on 1 January 2027
PAID = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NEXT = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)


def subscription(gift, *, amount=None, interval=None, period_end=NEXT, anchor=PAID, pause=None) -> dict:
    """The gift's subscription as today's Stripe API shows it."""
    answer = se.subscription(
        gift.stripe_subscription_id,
        customer=gift.donor.stripe_customer_id,
        gift=gift.reference,
        amount=amount or gift.amount,
        interval=interval or gift.frequency.value,
        period_end=int(period_end.timestamp()),
        pause=pause,
    )
    return {**answer, "billing_cycle_anchor": int(anchor.timestamp())}


def on_fake_stripe(request, gift):
    """From here on the app's Stripe answers with today's shapes; it knows the gift's subscription."""
    stripe = request.getfixturevalue("fake_stripe")
    stripe.answer("GET", f"/v1/subscriptions/{gift.stripe_subscription_id}", subscription(gift))
    stripe.answer(
        "GET", "/v1/products/banner-recurring-gift", {"id": "banner-recurring-gift", "object": "product"}
    )
    return stripe


def se_client(stripe_base):
    import stripe

    return stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})


@pytest.mark.parametrize("amount", ["0.5", "abc", "20000"])
def test_a_bad_new_amount_changes_nothing(client, gift, outbox, amount):
    monthly = gift()
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/amount",
        data={"amount": amount, "frequency": "month", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert 'class="message error"' in response.text
    assert reload(monthly).amount == 1000 and events(monthly, "amount") == []


def test_pausing_and_resuming(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    dates = billing.charge_dates(
        monthly.current_period_end, "month", 3
    )  # the emulator reports no anchor: the day of the next charge
    page = client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": "2", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.PAUSED
    said = ", ".join(pauses.day_month(d) for d in dates[:2])
    assert (
        f"Your next 2 charges ({said}) are skipped; giving resumes on {pauses.day_month(dates[2])}"
        in page.text
    )
    assert dates[1] < monthly.paused_until < dates[2]
    assert monthly.giving_resumes_on == dates[2]

    client.post(f"{link}/gifts/{monthly.reference}/resume", data={"action_key": uuid.uuid4().hex})
    assert reload(monthly).status is GiftStatus.ACTIVE
    assert [e.to_status for e in events(monthly, "status")][-2:] == [GiftStatus.PAUSED, GiftStatus.ACTIVE]


@pytest.mark.parametrize(
    ("months", "skipped", "resumes"),
    [
        ("1", "Your next charge (1 January 2027) is skipped", "1 February 2027"),
        ("2", "Your next 2 charges (1 January 2027, 1 February 2027) are skipped", "1 March 2027"),
        (
            "3",
            "Your next 3 charges (1 January 2027, 1 February 2027, 1 March 2027) are skipped",
            "1 April 2027",
        ),
    ],
)
def test_a_pause_skips_exactly_the_charges_it_names(client, gift, outbox, request, months, skipped, resumes):
    monthly = gift()
    link = opened(client, outbox[0])
    stripe = on_fake_stripe(request, monthly)
    count = int(months)
    last_skipped = billing.charge_dates(NEXT, "month", count)[-1]
    resumes_at = int((last_skipped + billing.PAUSE_MARGIN).timestamp())
    paused = subscription(monthly, pause={"behavior": "void", "resumes_at": resumes_at})
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", paused)
    page = client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": months, "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert f"{skipped}; giving resumes on {resumes}." in page.text
    [update] = stripe.requests("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}")
    assert update.form["pause_collection[behavior]"] == "void"
    sent = datetime.fromtimestamp(int(update.form["pause_collection[resumes_at]"]), UTC)
    assert last_skipped < sent < billing.charge_dates(NEXT, "month", count + 1)[-1]
    assert reload(monthly).status is GiftStatus.PAUSED


def test_a_pause_from_a_charge_on_the_31st_follows_the_short_months(client, gift, outbox, request):
    monthly = gift()
    link = opened(client, outbox[0])
    stripe = on_fake_stripe(request, monthly)
    anchored = subscription(
        monthly,
        period_end=datetime(2027, 2, 28, 9, 0, tzinfo=UTC),
        anchor=datetime(2026, 10, 31, 9, 0, tzinfo=UTC),
    )
    stripe.answer("GET", f"/v1/subscriptions/{monthly.stripe_subscription_id}", anchored)
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", anchored)
    page = client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": "2", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "(28 February 2027, 31 March 2027) are skipped; giving resumes on 30 April 2027" in page.text


def test_a_yearly_gift_may_skip_its_next_charge_and_no_more(client, gift, outbox):
    yearly = gift(amount=12000, frequency=Frequency.YEAR)
    link = opened(client, outbox[0])
    page = client.get(f"{link}/gifts").text
    next_year = billing.charge_dates(yearly.current_period_end, "year", 2)[-1]
    assert "Skip the next yearly charge" in page and "2 months" not in page
    assert f"giving resumes on {pauses.day_month(next_year)}" in page
    offers = client.get(f"{link}/gifts/{yearly.reference}/cancel").text
    assert "Skip the next yearly charge instead" in offers and "Pause for 3 months" not in offers

    refused = client.post(
        f"{link}/gifts/{yearly.reference}/pause",
        data={"months": "3", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "Choose one of the pauses offered" in refused.text
    assert reload(yearly).status is GiftStatus.ACTIVE

    client.post(
        f"{link}/gifts/{yearly.reference}/pause", data={"months": "1", "action_key": uuid.uuid4().hex}
    )
    yearly = reload(yearly)
    assert yearly.status is GiftStatus.PAUSED
    assert yearly.current_period_end < yearly.paused_until < next_year


def test_switching_to_yearly_shows_todays_charge_and_changes_only_once_confirmed(
    client, gift, outbox, request
):
    monthly = gift(amount=1500)
    link = opened(client, outbox[0])
    stripe = on_fake_stripe(request, monthly)
    next_year = datetime(2027, 12, 1, 14, 0, tzinfo=UTC)
    preview = {
        **se.EXAMPLES["invoice"],
        "id": None,
        "amount_due": 16550,
        "currency": "usd",
        "lines": {
            "object": "list",
            "data": [
                {"amount": -1450, "period": {"start": int(PAID.timestamp()), "end": int(NEXT.timestamp())}},
                {
                    "amount": 18000,
                    "period": {"start": int(PAID.timestamp()), "end": int(next_year.timestamp())},
                },
            ],
        },
    }
    stripe.answer("POST", "/v1/invoices/create_preview", preview)
    url = f"{link}/gifts/{monthly.reference}/amount"
    key = uuid.uuid4().hex

    page = client.post(url, data={"amount": "180", "frequency": "year", "action_key": key})
    assert page.status_code == 200
    assert "$165.50 is charged today" in page.text and "next on 1 December 2027" in page.text
    assert "Nothing extra is charged now" not in page.text
    [asked] = stripe.requests("POST", "/v1/invoices/create_preview")
    assert asked.form["subscription"] == monthly.stripe_subscription_id
    assert asked.form["subscription_details[items][0][price_data][unit_amount]"] == "18000"
    assert asked.form["subscription_details[items][0][price_data][recurring][interval]"] == "year"
    assert asked.form["subscription_details[proration_behavior]"] == "always_invoice"
    proration_date = asked.form["subscription_details[proration_date]"]
    assert stripe.requests("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}") == []
    assert reload(monthly).frequency is Frequency.MONTH

    yearly = subscription(monthly, amount=18000, interval="year", period_end=next_year)
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", yearly)
    confirm = re.search(r'name="proration_date" type="hidden" value="(\d+)"', page.text).group(1)
    assert confirm == proration_date
    done = client.post(
        url,
        data={"amount": "180", "frequency": "year", "proration_date": confirm, "action_key": key},
        follow_redirects=True,
    )
    assert "you now give $180 every year, starting today" in done.text
    [update] = stripe.requests("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}")
    assert update.form["proration_date"] == proration_date
    assert update.form["proration_behavior"] == "always_invoice"
    assert update.form["payment_behavior"] == "error_if_incomplete"
    assert update.form["items[0][price_data][unit_amount]"] == "18000"
    assert update.form["items[0][price_data][recurring][interval]"] == "year"
    monthly = reload(monthly)
    assert (monthly.amount, monthly.frequency) == (18000, Frequency.YEAR)


def test_yearly_giving_is_proposed_as_twelve_months_of_the_gift(client, gift, outbox, request):
    monthly = gift(amount=1500)
    link = opened(client, outbox[0])
    page = client.get(f"{link}/gifts").text
    assert f'id="interval-amount-{monthly.reference}"' in page
    assert re.search(rf'id="interval-amount-{monthly.reference}"[^>]*value="180"', page)

    stripe = on_fake_stripe(request, monthly)
    stripe.answer(
        "POST", "/v1/invoices/create_preview", {**se.EXAMPLES["invoice"], "amount_due": 0, "lines": {}}
    )
    same_number = client.post(
        f"{link}/gifts/{monthly.reference}/amount",
        data={"amount": "15", "frequency": "year", "action_key": uuid.uuid4().hex},
    )
    assert "That is $15 for the whole year; giving monthly, you give $180 a year." in same_number.text
    assert "Give $180 a year instead" in same_number.text


def test_an_interval_change_with_stale_figures_changes_nothing(client, gift, outbox, request):
    monthly = gift()
    stripe = on_fake_stripe(request, monthly)
    stale = int(time.time()) - 2 * manage.CONFIRM_SECONDS
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/amount",
        data={"amount": "120", "frequency": "year", "proration_date": stale, "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "out of date, so nothing was changed" in response.text
    assert stripe.requests("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}") == []
    assert reload(monthly).frequency is Frequency.MONTH


def test_a_declined_card_on_an_interval_change_changes_nothing(client, gift, outbox, request):
    monthly = gift()
    stripe = on_fake_stripe(request, monthly)
    declined = fake.error("card_declined", "Your card was declined.", kind="card_error")
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", declined, status=402)
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/amount",
        data={
            "amount": "120",
            "frequency": "year",
            "proration_date": int(time.time()),
            "action_key": uuid.uuid4().hex,
        },
        follow_redirects=True,
    )
    assert "Your card was declined. Nothing was changed." in response.text
    assert reload(monthly).frequency is Frequency.MONTH and events(monthly, "amount") == []


def test_cancelling_records_the_reason_and_the_channel_and_confirms_by_email(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    outbox.clear()
    form = client.get(f"{link}/gifts/{monthly.reference}/cancel").text
    assert "Pause for 3 months instead" in form and "Cancel my gift" in form
    dates = billing.charge_dates(
        monthly.current_period_end, "month", 4
    )  # the emulator reports no anchor: the day of the next charge
    assert f"Your next 3 charges ({', '.join(pauses.day_month(d) for d in dates[:3])}) are skipped" in form

    page = client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={
            "reason": "community",
            "comment": "I am seriously thinking of halting my monthly donations.",
            "action_key": uuid.uuid4().hex,
        },
    )
    assert page.status_code == 200 and "Your gift is cancelled" in page.text
    monthly = reload(monthly)
    # a current donor until the paid month ends, a former one after (the banner's marker)
    assert f'href="https://news.example/story#{donor_marker.cancelled_marker(monthly)}"' in page.text
    assert donor_marker.cancelled_marker(monthly).startswith("banner-gave-")
    assert monthly.status is GiftStatus.CANCELLING  # the paid month runs out first
    assert (monthly.cancellation_reason, monthly.cancellation_channel) == ("community", "donor")
    assert monthly.cancellation_comment.startswith("I am seriously")
    [request] = events(monthly, "cancel_request")
    assert request.data["offered"] == ["pause", "lower", "yearly"] and request.data["taken"] is None
    [confirmation] = outbox
    assert "is cancelled" in confirmation["Subject"]

    again = client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "community", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "already cancelled" in again.text
    assert len(events(monthly, "cancel_request")) == 1


def test_a_donor_keeps_a_gift_set_to_end_in_one_click(client, gift, outbox, stripe_base):
    monthly = gift()
    link = opened(client, outbox[0])
    client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "too_expensive", "comment": "Tight month", "action_key": uuid.uuid4().hex},
    )
    assert "Keep my gift" in client.get(f"{link}/gifts").text

    page = client.post(
        f"{link}/gifts/{monthly.reference}/keep", data={"action_key": uuid.uuid4().hex}, follow_redirects=True
    )

    assert "your gift continues" in page.text and "Keep my gift" not in page.text
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.ACTIVE and not monthly.cancel_at_period_end
    assert (monthly.cancellation_reason, monthly.cancellation_channel, monthly.cancellation_comment) == (
        None,
        None,
        None,
    )
    [kept] = events(monthly, "keep")
    assert kept.data == {"reason": "too_expensive"}
    assert (
        not payments.client().v1.subscriptions.retrieve(monthly.stripe_subscription_id).cancel_at_period_end
    )

    again = client.post(
        f"{link}/gifts/{monthly.reference}/keep", data={"action_key": uuid.uuid4().hex}, follow_redirects=True
    )
    assert "not set to end" in again.text and len(events(monthly, "keep")) == 1


def test_a_gift_already_cancelled_cannot_be_kept(client, gift, outbox, app):
    app.config["CANCEL_AT_PERIOD_END"] = False
    try:
        monthly = gift()
        link = opened(client, outbox[0])
        client.post(
            f"{link}/gifts/{monthly.reference}/cancel",
            data={"reason": "other", "action_key": uuid.uuid4().hex},
        )
    finally:
        app.config["CANCEL_AT_PERIOD_END"] = True

    page = client.post(
        f"{link}/gifts/{monthly.reference}/keep", data={"action_key": uuid.uuid4().hex}, follow_redirects=True
    )

    assert page.status_code == 200 and "has ended" in page.text
    assert reload(monthly).status is GiftStatus.CANCELLED and events(monthly, "keep") == []


def test_giving_again_prefills_the_donate_form_with_the_last_gift(client, gift, outbox, make_campaign):
    gift(amount=2550, frequency=Frequency.ONCE)
    link = opened(client, outbox[0])
    again = "/donate?amount=25.50&amp;frequency=once"

    page = client.get(f"{link}/gifts").text

    assert page.count(f'href="{again}"') == 2  # the gift's row, and "Give again" for the last gift
    donate = client.get(again.replace("&amp;", "&")).text
    assert 'value="25.50"' in donate

    monthly = gift(amount=1200)
    monthly.campaign = make_campaign(slug="winter")
    monthly.status = GiftStatus.CANCELLED
    db.session.commit()
    page = client.get(f"{link}/gifts").text
    assert page.count('href="/donate?amount=12&amp;frequency=month&amp;campaign=winter"') == 2
    donate = client.get("/donate?amount=12&frequency=month&campaign=winter").text
    assert 'value="12"' in donate and re.search(r'checked[^>]*value="month"', donate)
    assert f'href="{again}"' in page  # the one-time gift's row still offers itself


BY_REASON = "too_expensive=lower,pause;financial=pause;coverage="


@pytest.mark.parametrize(
    ("reason", "offered"),
    [
        ("too_expensive", ["lower", "pause"]),
        ("financial", ["pause"]),
        ("coverage", []),
        ("community", ["pause", "lower", "yearly"]),  # unspecified: BANNER_SAVE_OFFERS
        (None, ["pause", "lower", "yearly"]),
    ],
)
def test_save_offers_are_chosen_by_the_reason_given(app, monkeypatch, reason, offered):
    monkeypatch.setitem(app.config, "SAVE_OFFERS_BY_REASON", BY_REASON)
    assert save_offers.offers_for(reason) == offered


def test_the_cancellation_records_the_offers_for_the_reason_given(client, gift, outbox, app, monkeypatch):
    monkeypatch.setitem(app.config, "SAVE_OFFERS", "yearly")
    monkeypatch.setitem(app.config, "SAVE_OFFERS_BY_REASON", BY_REASON)
    monthly = gift()
    link = opened(client, outbox[0])
    form = client.get(f"{link}/gifts/{monthly.reference}/cancel").text
    assert (
        "Pause for 3 months instead" in form and "Give once a year instead" in form and "Give 5 USD" in form
    )

    client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "financial", "action_key": uuid.uuid4().hex},
    )

    [request] = events(monthly, "cancel_request")
    assert request.data["offered"] == ["pause"]


def test_the_end_of_the_period_keeps_the_donors_reason(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "too_expensive", "action_key": uuid.uuid4().hex},
    )
    ended = se.subscription(
        monthly.stripe_subscription_id,
        status="canceled",
        canceled_at=int(time.time()) + 5,
        cancellation={"reason": "cancellation_requested", "feedback": "too_expensive", "comment": None},
    )
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=int(time.time()) + 5))
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLED
    assert (monthly.cancellation_reason, monthly.cancellation_channel) == ("too_expensive", "donor")


def test_immediate_cancellation_when_the_newsroom_wants_it(client, gift, outbox, app):
    app.config["CANCEL_AT_PERIOD_END"] = False
    try:
        monthly = gift()
        client.post(
            f"{opened(client, outbox[0])}/gifts/{monthly.reference}/cancel",
            data={"reason": "other", "action_key": uuid.uuid4().hex},
        )
    finally:
        app.config["CANCEL_AT_PERIOD_END"] = True
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLED and monthly.cancelled_at is not None


def test_taking_a_save_offer_is_recorded(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": "3", "offer": "pause", "action_key": uuid.uuid4().hex},
    )
    [saved] = events(monthly, "save_offer")
    assert saved.data == {"offered": ["pause", "lower", "yearly"], "taken": "pause"}
    assert reload(monthly).status is GiftStatus.PAUSED


def test_a_donor_may_cancel_without_giving_a_reason(client, gift, outbox):
    monthly = gift()
    link = opened(client, outbox[0])
    assert "(optional)" in client.get(f"{link}/gifts/{monthly.reference}/cancel").text.split("Anything")[0]

    response = client.post(f"{link}/gifts/{monthly.reference}/cancel", data={"action_key": uuid.uuid4().hex})

    assert response.status_code == 200 and "Your gift is cancelled" in response.text
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLING
    assert (monthly.cancellation_reason, monthly.cancellation_channel) == (None, "donor")
    [request] = events(monthly, "cancel_request")
    assert request.data["reason"] is None


def test_a_reason_not_offered_is_refused(client, gift, outbox):
    monthly = gift()
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/cancel",
        data={"reason": "bored", "action_key": uuid.uuid4().hex},
    )
    assert response.status_code == 400
    assert reload(monthly).status is GiftStatus.ACTIVE and events(monthly, "cancel_request") == []


def test_a_stripe_failure_says_try_again_and_changes_nothing(client, gift, outbox, app):
    monthly = gift()
    link = opened(client, outbox[0])
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    app.extensions.pop("stripe_client", None)
    try:
        response = client.post(
            f"{link}/gifts/{monthly.reference}/cancel",
            data={"reason": "other", "action_key": uuid.uuid4().hex},
            follow_redirects=True,
        )
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)
    assert "nothing was changed" in response.text
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.ACTIVE and monthly.cancellation_reason is None


def test_a_gift_stripe_no_longer_knows_is_told_as_such(client, gift, outbox, request):
    monthly = gift()
    stripe = on_fake_stripe(request, monthly)
    missing = fake.error("resource_missing", f"No such subscription: '{monthly.stripe_subscription_id}'")
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", missing, status=404)
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "We could not find this gift at our payment provider; it may have ended." in response.text
    assert "Contact us at donations@example.org" in response.text
    assert "could not reach" not in response.text
    assert reload(monthly).status is GiftStatus.ACTIVE


def test_a_stripe_outage_says_try_again(client, gift, outbox, request):
    monthly = gift()
    stripe = on_fake_stripe(request, monthly)
    down = fake.error("api_error", "Something went wrong on Stripe's end.", kind="api_error")
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", down, status=500)
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "We could not reach our payment provider, so nothing was changed" in response.text


@pytest.mark.stripe_rejection_expected
def test_a_request_stripe_rejects_is_our_fault_and_logged_with_its_request_id(
    client, gift, outbox, request, stripe_rejections_fail_the_test
):
    monthly = gift()
    stripe = on_fake_stripe(request, monthly)
    rejected = fake.error("parameter_unknown", "Received unknown parameter: pause_collection[when]")
    stripe.answer("POST", f"/v1/subscriptions/{monthly.stripe_subscription_id}", rejected, status=400)
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "Something went wrong on our side, so nothing was changed" in response.text
    assert "could not reach" not in response.text
    [logged] = stripe_rejections_fail_the_test
    assert "request req_fake_" in logged.getMessage() and "code parameter_unknown" in logged.getMessage()


def test_another_donors_gift_is_out_of_reach(client, gift, outbox):
    gift(email="ada@example.org")
    other = gift(email="bob@example.org")
    link = opened(client, outbox[0])
    response = client.post(
        f"{link}/gifts/{other.reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "could not find this gift" in response.text
    assert reload(other).status is GiftStatus.ACTIVE


def test_updating_the_card_changes_that_gift_alone(client, gift, outbox, stripe_base):
    monthly = gift()
    other = gift(amount=3000)
    link = opened(client, outbox[0])
    key = uuid.uuid4().hex
    started = client.post(
        f"{link}/gifts/{monthly.reference}/card/start",
        data={"action_key": key},
        headers={"Accept": "application/json"},
    ).json
    setup = confirm_setup(stripe_base, started["client_secret"], "4000056655665556")
    saved = client.post(
        f"{link}/gifts/{monthly.reference}/card",
        data={"setup_intent": setup["id"], "action_key": key},
        headers={"Accept": "application/json"},
    )
    assert saved.status_code == 200
    monthly, other = reload(monthly), reload(other)
    assert (monthly.card_brand, monthly.card_last4) == ("visa", "5556")
    assert (other.card_brand, other.card_last4) == ("visa", "4242")
    stripe = se_client(stripe_base).v1
    assert (
        stripe.subscriptions.retrieve(monthly.stripe_subscription_id).default_payment_method
        == setup["payment_method"]
    )
    assert (
        stripe.subscriptions.retrieve(other.stripe_subscription_id).default_payment_method
        != setup["payment_method"]
    )
    customer = stripe.customers.retrieve(monthly.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method is None
    assert [e.data for e in events(monthly, "card")] == [{"brand": "visa", "last4": "5556"}]
    assert events(other, "card") == []


def test_manage_forms_need_csrf(client, gift, outbox, app):
    monthly = gift()
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(
        f"{opened(client, outbox[0])}/gifts/{monthly.reference}/pause",
        data={"months": "1", "action_key": uuid.uuid4().hex},
    )
    assert response.status_code == 400
    assert reload(monthly).status is GiftStatus.ACTIVE


def test_a_new_card_brings_a_past_due_gift_up_to_date(client, gift, outbox, stripe_base):
    monthly = gift()
    monthly.status, monthly.stripe_status, monthly.failed_attempts = GiftStatus.PAST_DUE, "past_due", 2
    db.session.commit()
    link = opened(client, outbox[0])
    key = uuid.uuid4().hex
    started = client.post(f"{link}/gifts/{monthly.reference}/card/start", data={"action_key": key}).json
    setup = confirm_setup(stripe_base, started["client_secret"], VISA)
    client.post(
        f"{link}/gifts/{monthly.reference}/card", data={"setup_intent": setup["id"], "action_key": key}
    )

    monthly = reload(monthly)
    assert monthly.status is GiftStatus.ACTIVE and monthly.failed_attempts == 0


def test_rate_limits_live_in_redis_when_configured(app, app_settings):
    """With BANNER_REDIS_URL every worker shares the limits; CI runs this against Redis. It runs
    in its own process: the limiter keeps one storage per process."""
    import json
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT, STRICT

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if STRICT:
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis: start one on 127.0.0.1:6379 to run this test")
    script = """
import json, sys
from banner import create_app
from banner.extensions import limiter
settings = json.loads(sys.argv[1])
app = create_app({**settings, "REDIS_URL": "redis://127.0.0.1:6379/15", "WTF_CSRF_ENABLED": False})
with app.app_context():
    limiter.reset()
    client = app.test_client()
    statuses = [client.post("/manage", data={"email": "redis@example.org"}).status_code for _ in range(6)]
    print(json.dumps([type(limiter.storage).__name__, statuses]))
    limiter.reset()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(app_settings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    storage, statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert storage == "RedisStorage"
    assert statuses == [200] * 5 + [429]
