"""Notices that save gifts: a failed renewal, the last notice, a card about to expire, a yearly
gift about to renew, a renewal waiting for 3-D Secure; each once, whatever Stripe repeats."""

import re
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Frequency, Gift, GiftStatus, MailKind, OutboxMessage, RenewalFailure
from banner.services import links, notices, reports
from tests import stripe_events as se
from tests.conftest import log_in

T0 = int(time.time()) - 3600
NEXT_YEAR = datetime.now(UTC).year + 1
#: 03:00 UTC on 5 March is still the 4th in New York (BANNER_TIMEZONE's default)
RETRY = int(datetime(NEXT_YEAR, 3, 5, 3, 0, tzinfo=UTC).timestamp())
RETRY_DAY = f"{date(NEXT_YEAR, 3, 4):%A %d %B %Y}"


def queued(kind: MailKind | None = None) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list(db.session.scalars(query))


def text(message) -> str:
    return message.get_body(("plain",)).get_content()


def failed(gift, invoice_id="in_r1", attempt=1, retry=RETRY, created=T0, **fields):
    invoice = se.invoice(
        invoice_id,
        gift.stripe_subscription_id,
        status="open",
        amount_paid=0,
        attempt_count=attempt,
        next_payment_attempt=retry,
        created=created,
    )
    invoice.update(amount_due=gift.amount, **fields)
    return se.event("invoice.payment_failed", invoice, created=created)


def failures() -> list[RenewalFailure]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(RenewalFailure).order_by(RenewalFailure.id)))


def test_a_failed_renewal_emails_the_retry_date_and_a_card_update_link(client, make_gift, outbox):
    gift = make_gift(card_brand="visa", card_last4="4242")
    assert se.deliver(client, failed(gift)).status_code == 200

    [message] = outbox
    assert message["To"] == gift.donor.email
    assert message["Subject"] == "Your gift to The Riverside Ledger could not be collected"
    body = text(message)
    assert f"We will try again on {RETRY_DAY}." in body  # the site's day, not UTC's 5th
    assert "Visa ending in 4242" in body and "monthly gift of $10 to" in body
    [token] = re.findall(r"/manage/(\S+)", body)
    assert links.donor_for(token).id == gift.donor.id
    assert RETRY_DAY in message.get_body(("html",)).get_content()
    assert [m.kind for m in queued()] == [MailKind.RENEWAL_FAILED]


def test_one_notice_per_attempt_however_often_stripe_tells(client, make_gift, outbox):
    gift = make_gift()
    first = failed(gift, attempt=1)
    se.deliver(client, first)
    se.deliver(client, first)  # the same event again
    again = failed(gift, attempt=1, created=T0 + 1)  # another event of the same attempt
    se.deliver(client, again)
    assert len(outbox) == 1
    se.deliver(client, failed(gift, attempt=2, retry=RETRY + 3 * 86400, created=T0 + 60))
    assert len(outbox) == 2
    [row] = failures()
    assert row.attempts == 2 and row.recovered_at is None and row.lost_at is None


def test_no_notice_for_a_failure_told_after_its_retry_date(client, make_gift, outbox):
    gift = make_gift()
    se.deliver(client, failed(gift, retry=T0 + 60))  # reconcile replaying an old event
    assert outbox == [] and len(failures()) == 1  # still counted


def test_the_last_notice_when_stripe_will_not_try_again(client, make_gift, outbox):
    gift = make_gift()
    se.deliver(client, failed(gift, attempt=4, retry=None))
    [message] = outbox
    assert message["Subject"] == "Last notice: your gift to The Riverside Ledger will end"
    body = text(message)
    assert "This is our last notice" in body and "after 4 tries" in body and "try again on" not in body
    assert "/manage/" in body
    assert [m.kind for m in queued()] == [MailKind.RENEWAL_LAST_NOTICE]


def test_no_notice_for_a_first_invoice_nor_for_a_failure_told_after_its_payment(client, make_gift, outbox):
    first = make_gift(status=GiftStatus.REQUIRES_ACTION, stripe_status="incomplete")
    se.deliver(client, failed(first, invoice_id="in_first", billing_reason="subscription_create"))
    gift = make_gift()
    sub = gift.stripe_subscription_id
    se.deliver(client, se.event("invoice.paid", se.invoice("in_late", sub, created=T0 + 60), created=T0 + 60))
    outbox.clear()
    se.deliver(client, failed(gift, invoice_id="in_late", created=T0))
    assert outbox == []
    [row] = failures()  # the late failure still counts, recovered already
    assert row.stripe_invoice_id == "in_late" and row.recovered_at is not None


def test_a_failed_renewal_paid_later_is_recovered(client, make_gift):
    gift = make_gift()
    se.deliver(client, failed(gift, invoice_id="in_x"))
    paid = se.invoice("in_x", gift.stripe_subscription_id, created=T0 + 60)
    se.deliver(client, se.event("invoice.paid", paid, created=T0 + 60))
    [row] = failures()
    assert row.recovered_at is not None and row.lost_at is None


@pytest.mark.parametrize("ending", ["deleted", "voided", "uncollectible"])
def test_a_failed_renewal_is_lost_when_the_gift_ends_or_stripe_gives_it_up(client, make_gift, ending):
    gift = make_gift()
    sub = gift.stripe_subscription_id
    se.deliver(client, failed(gift, invoice_id="in_y", retry=None))
    if ending == "deleted":
        cancelled = se.subscription(
            sub, status="canceled", canceled_at=T0 + 60, cancellation={"reason": "payment_failed"}
        )
        se.deliver(client, se.event("customer.subscription.deleted", cancelled, created=T0 + 60))
    else:
        kind = "invoice.voided" if ending == "voided" else "invoice.marked_uncollectible"
        given_up = se.invoice("in_y", sub, status="void" if ending == "voided" else "uncollectible")
        se.deliver(client, se.event(kind, given_up, created=T0 + 60))
    [row] = failures()
    assert row.lost_at is not None and row.recovered_at is None
    if ending == "uncollectible":  # paid after all: recovered, no longer lost
        se.deliver(
            client, se.event("invoice.paid", se.invoice("in_y", sub, created=T0 + 90), created=T0 + 90)
        )
        [row] = failures()
        assert row.recovered_at is not None and row.lost_at is None


def test_a_renewal_waiting_for_3d_secure_sends_one_notice_in_html_and_text(client, make_gift, outbox):
    gift = make_gift()
    waiting = se.invoice("in_3ds", gift.stripe_subscription_id, status="open", amount_paid=0, created=T0)
    event = se.event("invoice.payment_action_required", waiting, created=T0)
    se.deliver(client, event)
    se.deliver(client, event)
    [message] = outbox
    assert message["Subject"] == "Please confirm your gift to The Riverside Ledger"
    assert "/manage/" in text(message)
    assert "Confirm the payment" in message.get_body(("html",)).get_content()
    assert [m.kind for m in queued()] == [MailKind.ACTION_REQUIRED]


def upcoming(gift, charge_at: int, created=T0):
    invoice = se.invoice("in_upcoming", gift.stripe_subscription_id, status="draft", amount_paid=0)
    invoice.pop("id")  # an upcoming invoice has no id yet
    invoice["amount_due"] = gift.amount
    invoice["lines"]["data"][0]["period"] = {"start": charge_at, "end": charge_at + 365 * 86400}
    return se.event("invoice.upcoming", invoice, created=created)


def test_a_yearly_gift_is_reminded_once_before_each_charge(client, make_gift, outbox):
    gift = make_gift(Frequency.YEAR, amount=12000)
    charge = int(datetime(NEXT_YEAR, 1, 10, 15, 0, tzinfo=UTC).timestamp())
    se.deliver(client, upcoming(gift, charge))
    se.deliver(client, upcoming(gift, charge, created=T0 + 5))  # told again
    [message] = outbox
    assert message["Subject"] == f"Your yearly gift renews on {date(NEXT_YEAR, 1, 10):%A %d %B %Y}"
    assert "yearly gift of $120 to" in text(message) and "/manage/" in text(message)
    se.deliver(client, upcoming(gift, charge + 365 * 86400, created=T0 + 10))  # the next year's
    assert len(outbox) == 2
    assert {m.kind for m in queued()} == {MailKind.YEARLY_REMINDER}


@pytest.mark.parametrize(
    ("frequency", "status"),
    [
        (Frequency.MONTH, GiftStatus.ACTIVE),
        (Frequency.YEAR, GiftStatus.CANCELLING),
        (Frequency.YEAR, GiftStatus.PAUSED),
    ],
)
def test_no_reminder_for_a_monthly_gift_or_one_that_will_not_renew(
    client, make_gift, outbox, frequency, status
):
    gift = make_gift(frequency, status)
    se.deliver(client, upcoming(gift, T0 + 7 * 86400))
    assert outbox == []


def card_of(gift, pm_id="pm_gift", exp=(5, 2027), kind="payment_method.attached", created=T0):
    method = se.payment_method(pm_id, customer=gift.stripe_customer_id, last4="4242", exp=exp)
    return se.event(kind, method, created=created)


def with_card(gift, pm_id="pm_gift", created=T0):
    sub = se.subscription(gift.stripe_subscription_id, customer=gift.stripe_customer_id)
    sub["default_payment_method"] = pm_id
    return se.event("customer.subscription.updated", sub, created=created)


@pytest.mark.parametrize("card_first", [True, False])
def test_the_card_saved_at_checkout_keeps_its_expiry_whatever_the_order(client, make_gift, card_first):
    gift = make_gift(stripe_customer_id="cus_exp", card_brand="visa", card_last4="4242")
    events = [card_of(gift), with_card(gift, created=T0 + 1)]
    for event in events if card_first else events[::-1]:
        se.deliver(client, event)
    db.session.expire_all()
    gift = db.session.get(Gift, gift.id)
    assert (gift.stripe_payment_method_id, gift.card_exp_month, gift.card_exp_year) == ("pm_gift", 5, 2027)


def test_a_card_expiring_this_month_gets_one_notice_per_card_and_expiry(client, app, make_gift, outbox):
    gift = make_gift(stripe_customer_id="cus_exp", card_brand="visa", card_last4="4242")
    se.deliver(client, card_of(gift))
    se.deliver(client, with_card(gift, created=T0 + 1))
    make_gift(card_brand="visa", card_last4="1111", card_exp_month=6, card_exp_year=2027)  # next month
    make_gift(status=GiftStatus.CANCELLING, card_last4="2222", card_exp_month=5, card_exp_year=2027)
    runner = app.test_cli_runner()

    assert notices.send_card_notices(date(2027, 4, 30)) == 0
    result = runner.invoke(args=["banner", "notices", "--date", "2027-05-01"])
    assert result.exit_code == 0, result.output
    assert "1 card expiry notices queued" in result.output
    [message] = outbox
    assert message["To"] == gift.donor.email
    assert "expires at the end of May 2027" in text(message) and "Visa ending in 4242" in text(message)
    assert notices.send_card_notices(date(2027, 5, 20)) == 0  # once per card and expiry
    # the card network renews it: the new card's expiry is far away, so no notice
    se.deliver(
        client, card_of(gift, exp=(5, 2031), kind="payment_method.automatically_updated", created=T0 + 2)
    )
    assert notices.send_card_notices(date(2027, 5, 21)) == 0
    assert [m.kind for m in queued()] == [MailKind.CARD_EXPIRING]


def test_a_new_card_from_the_manage_page_forgets_the_old_cards_expiry(client, make_gift):
    gift = make_gift(stripe_customer_id="cus_exp", card_last4="4242")
    se.deliver(client, card_of(gift))
    se.deliver(client, with_card(gift, created=T0 + 1))
    se.deliver(client, with_card(gift, pm_id="pm_new", created=T0 + 2))  # another card now
    db.session.expire_all()
    gift = db.session.get(Gift, gift.id)
    assert gift.stripe_payment_method_id == "pm_new" and gift.card_exp_year is None
    se.deliver(client, card_of(gift, pm_id="pm_new", exp=(9, 2030), created=T0 + 3))
    db.session.expire_all()
    assert db.session.get(Gift, gift.id).card_exp_year == 2030


def test_the_monthly_revenue_report_counts_failed_renewals_recovered_and_lost(client, make_gift, make_staff):
    keys = reports.months_back(3)  # M-2, M-1, M0

    def moment(index: int, day: int = 2) -> int:
        return int((reports.month_start(keys[index]) + timedelta(days=day)).timestamp())

    recovered, ended, voided = make_gift(amount=1000), make_gift(amount=2500), make_gift(amount=500)
    for gift, invoice_id in ((recovered, "in_a"), (ended, "in_b"), (voided, "in_c")):
        se.deliver(client, failed(gift, invoice_id=invoice_id, created=moment(0)))
    se.deliver(client, failed(recovered, invoice_id="in_a", attempt=2, created=moment(0, 5)))  # one renewal
    paid = se.invoice("in_a", recovered.stripe_subscription_id, created=moment(1))
    se.deliver(client, se.event("invoice.paid", paid, created=moment(1)))
    cancelled = se.subscription(
        ended.stripe_subscription_id,
        status="canceled",
        canceled_at=moment(1, 3),
        cancellation={"reason": "payment_failed"},
    )
    se.deliver(client, se.event("customer.subscription.deleted", cancelled, created=moment(1, 3)))
    given_up = se.invoice("in_c", voided.stripe_subscription_id, status="void")
    se.deliver(client, se.event("invoice.voided", given_up, created=moment(2, 0)))

    table = reports.recurring(
        "usd", period=reports.Period(reports.month_start(keys[0]).date(), reports.today())
    )
    got = {key: table.renewals[key] for key in keys}
    assert got[keys[0]] == reports.Renewals(failed=3, failed_amount=4000)
    assert got[keys[1]] == reports.Renewals(recovered=1, recovered_amount=1000, lost=1, lost_amount=2500)
    assert got[keys[2]] == reports.Renewals(lost=1, lost_amount=500)

    make_staff(role="viewer")
    assert log_in(client, "viewer@example.org").status_code == 302
    page = client.get(f"/staff/reports/recurring?start={keys[0]}-01&end={reports.today()}").text
    assert 'id="renewals"' in page and "Recovered" in page
