"""Receipts that count for tax, one per payment, and yearly statements sent once per donor and year."""

import itertools
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from banner.config import DEFAULTS
from banner.extensions import db
from banner.models import AuditEntry, Frequency, GiftStatus, MailKind, OutboxMessage, Payment
from banner.services import checkout, links, receipts
from tests import factories
from tests import stripe_events as se
from tests.conftest import log_in
from tests.test_lifecycle import T0

#: 8 pm in New York on 31 December 2025 is already 1 January 2026 in UTC
NEW_YEARS_EVE_8PM = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


INTENT_NUMBERS = itertools.count(1)


def pay(gift, paid_at=NEW_YEARS_EVE_8PM, amount=None, **fields):
    return factories.payment(
        gift,
        amount=amount or gift.amount,
        paid_at=paid_at,
        stripe_payment_intent_id=f"pi_receipt_{next(INTENT_NUMBERS)}",
        **fields,
    )


def queued(kind: MailKind) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)).all()


def test_a_us_gift_at_8pm_on_31_december_is_dated_31_december(make_gift):
    gift = make_gift(frequency=Frequency.ONCE, status=GiftStatus.SUCCEEDED)

    receipt = receipts.receipt_of(gift, pay(gift))

    assert receipt.date.isoformat() == "2025-12-31"


def test_the_receipt_counts_for_tax_in_html_and_text(app, make_gift, outbox):
    gift = make_gift(
        frequency=Frequency.ONCE, status=GiftStatus.SUCCEEDED, card_brand="visa", card_last4="4242"
    )
    payment = pay(gift, amount=2500)

    checkout.send_receipt(gift)
    db.session.commit()

    (message,) = outbox
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    print("\n--- receipt (text) ---\n" + text)
    for body in (text, html):
        assert app.config["ORG_LEGAL_NAME"] in body
        assert app.config["ORG_ADDRESS"] in body
        assert app.config["ORG_TAX_ID"] in body
        assert "501(c)(3)" in body
        assert "No goods or services were provided in exchange for this contribution." in body
        assert "$25" in body and "Visa ending in 4242" in body
        assert "31 December 2025" in body
    assert db.session.get(Payment, payment.id).receipt_queued_at is not None


def test_the_deductibility_statement_is_replaceable(app, make_gift, outbox):
    app.config["DEDUCTIBILITY"] = "Registered charity 1234567 in England and Wales."
    try:
        gift = make_gift(frequency=Frequency.ONCE, status=GiftStatus.SUCCEEDED)
        pay(gift)
        checkout.send_receipt(gift)
        db.session.commit()
        text = outbox[0].get_body(("plain",)).get_content()
    finally:
        app.config["DEDUCTIBILITY"] = DEFAULTS["DEDUCTIBILITY"]
    assert "Registered charity 1234567" in text and "501(c)(3)" not in text


@pytest.mark.parametrize(
    "status", [GiftStatus.PAUSED, GiftStatus.CANCELLING, GiftStatus.CANCELLED, GiftStatus.PAST_DUE]
)
def test_the_receipt_page_works_whatever_happened_to_the_gift_since(client, make_gift, status):
    gift = make_gift(status=status)
    payment = pay(gift)

    page = client.get(urlsplit(links.receipt_url(gift, payment)).path)

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "No goods or services were provided" in body and "31 December 2025" in body


def test_the_receipt_page_of_a_refunded_gift_still_shows_it_and_the_refund(client, make_gift):
    gift = make_gift(frequency=Frequency.ONCE, status=GiftStatus.REFUNDED)
    payment = pay(gift, amount=1000, amount_refunded=1000)

    page = client.get(urlsplit(links.receipt_url(gift, payment)).path)

    assert page.status_code == 200 and "Refunded since" in page.get_data(as_text=True)


def test_with_renewal_receipts_statement_renewals_get_no_receipt(app, client, make_gift):
    app.config["RENEWAL_RECEIPTS"] = "statement"
    try:
        gift = make_gift()
        se.deliver(
            client, se.event("invoice.paid", se.invoice("in_r1", gift.stripe_subscription_id), created=T0)
        )
        renewal = se.invoice("in_r2", gift.stripe_subscription_id, created=T0 + 60)
        se.deliver(client, se.event("invoice.paid", renewal, created=T0 + 60))
    finally:
        app.config["RENEWAL_RECEIPTS"] = "each"
    assert queued(MailKind.RECEIPT) == []


def test_statements_are_sent_once_per_donor_and_year_net_of_refunds(app, make_gift, outbox):
    gift = make_gift()
    pay(gift, amount=1000)
    pay(gift, paid_at=datetime(2025, 6, 1, 16, tzinfo=UTC), amount=1000, amount_refunded=400)
    pay(gift, paid_at=datetime(2026, 1, 2, tzinfo=UTC))  # another year
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["banner", "statements", "--year", "2025", "--dry-run"])
    assert f"would send: donor {gift.donor_id}" in listed.output and queued(MailKind.STATEMENT) == []
    first = runner.invoke(args=["banner", "statements", "--year", "2025"])
    second = runner.invoke(args=["banner", "statements", "--year", "2025"])

    assert first.exit_code == 0 and "1 statements of 2025 queued" in first.output
    assert "0 statements of 2025 queued" in second.output
    (message,) = outbox
    text = message.get_body(("plain",)).get_content()
    print("\n--- statement (text) ---\n" + text)
    assert "Total 2025, net of refunds: $16" in text
    assert "31 Dec 2025" in text and "01 Jun 2025" in text and "02 Jan 2026" not in text


def test_the_manage_page_offers_a_printable_statement(client, make_gift):
    gift = make_gift()
    pay(gift)
    client.get(urlsplit(links.manage_url(gift.donor)).path)

    page = client.get("/manage/gifts/statement/2025")
    latest = client.get("/manage/gifts/statement")
    none = client.get("/manage/gifts/statement/1999")

    assert page.status_code == 200 and latest.status_code == 200
    body = page.get_data(as_text=True)
    assert 'media="print"' in body and "Total, net of refunds" in body
    assert none.status_code == 302  # back to the gifts with a message, never a 500


def test_the_statement_page_needs_the_manage_session(client):
    assert client.get("/manage/gifts/statement/2025").status_code == 403


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("fundraiser", True), ("admin", True)])
def test_staff_resend_a_statement_from_the_donor_page_audited(client, make_gift, make_staff, role, allowed):
    gift = make_gift()
    pay(gift)
    staff = make_staff(role=role)
    log_in(client, staff.email)

    response = client.post(f"/staff/donors/{gift.donor_id}/statement", data={"year": "2025"})

    assert (len(queued(MailKind.STATEMENT)) == 1) is allowed
    actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert ("statement_resend" in actions) is allowed
    if not allowed:
        assert response.status_code == 403


@pytest.mark.parametrize("year", ["", "abc", "1999", "2024"])
def test_a_resend_with_a_bad_year_or_no_gifts_sends_nothing(client, make_gift, make_staff, year):
    gift = make_gift()
    pay(gift)
    log_in(client, make_staff(role="admin").email)

    response = client.post(f"/staff/donors/{gift.donor_id}/statement", data={"year": year})

    assert response.status_code == 302 and queued(MailKind.STATEMENT) == []
