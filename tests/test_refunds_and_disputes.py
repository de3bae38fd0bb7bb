"""Every payment, renewals included, is known by its PaymentIntent and charge, so its refunds,
failed refunds and disputes are recorded and reach the reports, whatever the order of events."""

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Frequency, Gift, GiftStatus, Payment, PaymentStatus, StripeEvent
from banner.services import reports
from tests import factories
from tests import stripe_events as se

T0 = int(time.time()) - 3600  # an hour ago, so every event below is within the tolerance
TODAY = reports.Period(datetime.now(UTC).date() - timedelta(days=1), datetime.now(UTC).date())


def renewal_events(gift: Gift, number: int = 1) -> list[dict]:
    """invoice.paid and invoice_payment.paid of one renewal, paid by pi_/ch_<sub>_<number>."""
    sub_id = gift.stripe_subscription_id
    invoice_id, ids = f"in_{sub_id}_{number}", f"{sub_id}_{number}"
    paid = se.invoice(invoice_id, sub_id, amount_paid=gift.amount, created=T0)
    paid_by = se.invoice_payment(invoice_id, payment_intent=f"pi_{ids}", charge=f"ch_{ids}", paid_at=T0)
    return [
        se.event("invoice.paid", paid, created=T0),
        se.event("invoice_payment.paid", paid_by, created=T0),
    ]


def the_payment(gift: Gift) -> Payment:
    db.session.expire_all()
    [payment] = db.session.scalars(sa.select(Payment).where(Payment.gift_id == gift.id)).all()
    return payment


def received(gift: Gift) -> int:
    db.session.expire_all()
    return db.session.get(Gift, gift.id).received


def deliver_all(client, events) -> None:
    for evt in events:
        assert se.deliver(client, evt).status_code == 200


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_renewal_is_paid_by_its_payment_intent_and_charge_whatever_the_order(client, make_gift, order):
    gift = make_gift()
    paid, paid_by = renewal_events(gift)
    succeeded = se.event("invoice.payment_succeeded", paid["data"]["object"], created=T0)
    events = [paid, paid_by, succeeded]
    deliver_all(client, [events[index] for index in order])
    deliver_all(client, events)  # each told twice

    sub_id = gift.stripe_subscription_id
    payment = the_payment(gift)
    assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
        f"in_{sub_id}_1",
        f"pi_{sub_id}_1",
        f"ch_{sub_id}_1",
    )
    assert received(gift) == 1000


@pytest.mark.parametrize("frequency", [Frequency.MONTH, Frequency.YEAR])
def test_a_refunded_renewal_counts_net_of_its_refund_in_the_reports(client, make_gift, frequency):
    gift = make_gift(frequency)
    deliver_all(client, renewal_events(gift))
    ch_id, pi_id = f"ch_{gift.stripe_subscription_id}_1", f"pi_{gift.stripe_subscription_id}_1"

    partial = se.charge(ch_id, payment_intent=pi_id, amount=1000, amount_refunded=400)
    se.deliver(client, se.event("charge.refunded", partial, created=T0 + 10))
    assert (the_payment(gift).amount_refunded, received(gift)) == (400, 600)
    overview = reports.overview("usd", TODAY)
    assert (overview.raised[frequency.value], overview.refunded) == (600, 400)

    full = se.charge(ch_id, payment_intent=pi_id, amount=1000, amount_refunded=1000)
    se.deliver(client, se.event("charge.refunded", full, created=T0 + 20))
    assert the_payment(gift).status is PaymentStatus.REFUNDED and received(gift) == 0
    assert reports.overview("usd", TODAY).raised[frequency.value] == 0


@pytest.mark.parametrize(("outcome", "counted"), [("won", 1000), ("lost", 0)])
def test_a_disputed_renewal_is_out_of_the_reports_until_the_dispute_is_won(
    client, make_gift, outcome, counted
):
    gift = make_gift(Frequency.YEAR)
    deliver_all(client, renewal_events(gift))
    ch_id = f"ch_{gift.stripe_subscription_id}_1"

    opened = se.dispute("dp_1", charge_id=ch_id, amount=1000, status="needs_response")
    se.deliver(client, se.event("charge.dispute.created", opened, created=T0 + 10))
    assert the_payment(gift).status is PaymentStatus.DISPUTED
    assert received(gift) == 0 and reports.overview("usd", TODAY).raised["year"] == 0
    assert db.session.get(Gift, gift.id).disputed_at is not None

    closed = se.dispute("dp_1", charge_id=ch_id, amount=1000, status=outcome)
    se.deliver(client, se.event("charge.dispute.closed", closed, created=T0 + 20))
    assert received(gift) == counted
    assert reports.overview("usd", TODAY).raised["year"] == counted
    assert the_payment(gift).status is (PaymentStatus.SUCCEEDED if counted else PaymentStatus.DISPUTED)


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_closed_dispute_stays_closed_when_its_opening_arrives_late(client, make_gift, outcome):
    gift = make_gift()
    deliver_all(client, renewal_events(gift))
    ch_id = f"ch_{gift.stripe_subscription_id}_1"
    closed = se.dispute("dp_2", charge_id=ch_id, amount=1000, status=outcome)
    opened = se.dispute("dp_2", charge_id=ch_id, amount=1000, status="needs_response")
    se.deliver(client, se.event("charge.dispute.closed", closed, created=T0 + 20))
    se.deliver(client, se.event("charge.dispute.created", opened, created=T0 + 10))
    assert the_payment(gift).dispute_status == outcome
    assert received(gift) == (1000 if outcome == "won" else 0)


def test_an_inquiry_flags_the_gift_but_takes_no_money(client, make_gift):
    gift = make_gift()
    deliver_all(client, renewal_events(gift))
    inquiry = se.dispute(
        "dp_3", charge_id=f"ch_{gift.stripe_subscription_id}_1", status="warning_needs_response"
    )
    se.deliver(client, se.event("charge.dispute.created", inquiry, created=T0 + 10))
    assert received(gift) == 1000 and db.session.get(Gift, gift.id).disputed_at is not None


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_failed_refund_gives_its_money_back_whatever_the_order(client, make_gift, order):
    """Refunds of 500 then 1000 of a 2500 gift; the second fails: 500 stays refunded."""
    gift = make_gift(Frequency.ONCE, GiftStatus.SUCCEEDED, stripe_payment_intent_id="pi_f")
    factories.payment(gift, amount=2500, stripe_payment_intent_id="pi_f", stripe_charge_id="ch_f")
    events = [
        se.event(
            "charge.refunded", se.charge("ch_f", payment_intent="pi_f", amount_refunded=500), created=T0
        ),
        se.event(
            "charge.refunded", se.charge("ch_f", payment_intent="pi_f", amount_refunded=1500), created=T0 + 10
        ),
        se.event(
            "refund.failed",
            se.refund("re_2", charge_id="ch_f", amount=1000, status="failed"),
            created=T0 + 20,
        ),
    ]
    deliver_all(client, [events[index] for index in order])

    assert (the_payment(gift).amount_refunded, received(gift)) == (500, 2000)
    assert db.session.get(Gift, gift.id).status is GiftStatus.SUCCEEDED


def test_a_full_refund_that_failed_makes_the_gift_paid_again(client, make_gift):
    gift = make_gift(Frequency.ONCE, GiftStatus.SUCCEEDED, stripe_payment_intent_id="pi_g")
    factories.payment(gift, amount=1000, stripe_payment_intent_id="pi_g", stripe_charge_id="ch_g")
    refunded = se.charge("ch_g", payment_intent="pi_g", amount=1000, amount_refunded=1000)
    se.deliver(client, se.event("charge.refunded", refunded, created=T0))
    assert db.session.get(Gift, gift.id).status is GiftStatus.REFUNDED

    failed = se.refund("re_g", charge_id="ch_g", amount=1000, status="failed")
    se.deliver(client, se.event("refund.failed", failed, created=T0 + 10))
    gift = db.session.get(Gift, gift.id)
    assert gift.status is GiftStatus.SUCCEEDED and received(gift) == 1000
    assert [e.to_status for e in gift.events if e.kind == "status"] == [
        GiftStatus.REFUNDED,
        GiftStatus.SUCCEEDED,
    ]


def test_a_refund_of_an_unknown_charge_is_kept_with_a_note(client):
    se.deliver(client, se.event("refund.failed", se.refund("re_x", charge_id="ch_x", amount=100)))
    assert db.session.scalar(sa.select(StripeEvent.error)) == "no payment for this refund"


def test_an_invoice_and_its_payment_told_at_once_are_linked(live_server, app, make_gift):
    """invoice.paid and invoice_payment.paid of ten renewals, all posted together."""
    gift = make_gift()
    events = []
    for number in range(10):
        paid, paid_by = renewal_events(gift, number)
        events += [paid, paid_by]

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(lambda evt: se.deliver_over_http(live_server, evt), events)) == [200] * 20
    se.applied()
    db.session.expire_all()
    found = db.session.scalars(sa.select(Payment).where(Payment.gift_id == gift.id)).all()
    assert len(found) == 10 and received(gift) == 10 * 1000
    assert all(p.stripe_charge_id == p.stripe_invoice_id.replace("in_", "ch_") for p in found)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_a_renewals_refund_and_dispute_count_whatever_the_order(client, make_gift, order):
    """A renewal of 1000, refunded 300, then disputed for the 700 left: nothing of it counts, even
    when the refund and the dispute come before the payment or its charge id."""
    gift = make_gift()
    ch_id, pi_id = f"ch_{gift.stripe_subscription_id}_1", f"pi_{gift.stripe_subscription_id}_1"
    refunded = se.charge(ch_id, payment_intent=pi_id, amount=1000, amount_refunded=300)
    disputed = se.dispute("dp_o", charge_id=ch_id, amount=700, status="needs_response")
    events = [
        *renewal_events(gift),
        se.event("charge.refunded", refunded, created=T0 + 10),
        se.event("charge.dispute.created", disputed, created=T0 + 20),
    ]
    deliver_all(client, [events[index] for index in order])

    payment = the_payment(gift)
    assert (payment.amount_refunded, payment.amount_disputed, payment.status) == (
        300,
        700,
        PaymentStatus.DISPUTED,
    )
    assert received(gift) == 0 and reports.overview("usd", TODAY).raised["month"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(StripeEvent.error.like("no payment%"))) == 0
