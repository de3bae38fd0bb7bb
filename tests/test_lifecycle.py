"""Monthly gifts follow Stripe: events in the current API's shape, signed, posted to the real
endpoint, delivered twice, late and in every order."""

import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from banner import worker
from banner.extensions import db
from banner.models import (
    Actor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Payment,
    PaymentStatus,
    StripeEvent,
    monthly_value,
    utcnow,
)
from banner.payments import API_VERSION
from banner.services import lifecycle, links, reports, webhooks
from tests import factories
from tests import stripe_events as se
from tests.waiting import eventually

T0 = int(time.time()) - 3600  # an hour ago, so every event below is within the tolerance


def reload(gift: Gift) -> Gift:
    db.session.expire_all()
    return db.session.get(Gift, gift.id)


def payments_of(gift: Gift) -> list[tuple]:
    return sorted(
        (p.stripe_invoice_id, p.amount, p.amount_refunded, p.status.value)
        for p in db.session.scalars(sa.select(Payment).where(Payment.gift_id == gift.id))
    )


def test_renewals_add_one_payment_per_invoice_and_one_receipt_each(client, make_gift, outbox):
    gift = make_gift()
    first = se.event("invoice.paid", se.invoice("in_1", gift.stripe_subscription_id), created=T0)
    assert se.deliver(client, first).status_code == 200
    assert se.deliver(client, first).json["duplicate"] is True
    renewal = se.invoice("in_2", gift.stripe_subscription_id, created=T0 + 60)
    se.deliver(client, se.event("invoice.payment_succeeded", renewal, created=T0 + 60))
    se.deliver(client, se.event("invoice.paid", renewal, created=T0 + 61))  # both types, one invoice

    assert payments_of(gift) == [("in_1", 1000, 0, "succeeded"), ("in_2", 1000, 0, "succeeded")]
    # the renewal's receipt, once however often Stripe told; the first one's comes from checkout
    assert [message["Subject"] for message in outbox] == [
        "Your receipt: thank you for your gift to The Riverside Ledger"
    ]
    gift = reload(gift)
    assert gift.received == 2000  # each payment counted once, however often Stripe told
    assert gift.last_paid_at == max(p.paid_at for p in gift.payments)


def test_a_failed_renewal_puts_the_gift_at_risk_until_paid(client, make_gift):
    gift = make_gift()
    retry = T0 + 3 * 86400
    failed = se.invoice(
        "in_9", gift.stripe_subscription_id, status="open", attempt_count=2, next_payment_attempt=retry
    )
    se.deliver(client, se.event("invoice.payment_failed", failed, created=T0))

    gift = reload(gift)
    assert gift.status is GiftStatus.PAST_DUE
    assert gift.failed_attempts == 2 and int(gift.next_retry_at.timestamp()) == retry

    paid = se.invoice("in_9", gift.stripe_subscription_id, created=T0 + 10)
    se.deliver(client, se.event("invoice.paid", paid, created=T0 + 10))
    gift = reload(gift)
    assert gift.status is GiftStatus.ACTIVE and gift.failed_attempts == 0 and gift.next_retry_at is None
    assert [e.to_status for e in gift.events if e.kind == "status"] == [
        GiftStatus.PAST_DUE,
        GiftStatus.ACTIVE,
    ]
    assert all(
        e.actor is Actor.STRIPE and e.actor_ref.startswith("evt_") for e in gift.events if e.kind != "mrr"
    )


def test_an_amount_change_is_a_change_of_the_same_gift(client, make_gift):
    gift = make_gift(amount=1000)
    sub = se.subscription(gift.stripe_subscription_id, amount=2500, interval="year")
    response = se.deliver(client, se.event("customer.subscription.updated", sub, created=T0))
    assert response.status_code == 200, response.json

    gift = reload(gift)
    assert (gift.amount, gift.frequency, gift.status) == (2500, Frequency.YEAR, GiftStatus.ACTIVE)
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 1
    [change] = [e for e in gift.events if e.kind == "amount"]
    assert change.data == {
        "old": {"amount": 1000, "frequency": "month"},
        "new": {"amount": 2500, "frequency": "year"},
    }
    assert not any(e.to_status is GiftStatus.CANCELLED for e in gift.events)


def test_cancel_at_period_end_is_cancelling_then_cancelled_with_its_reason(client, make_gift):
    gift = make_gift()
    sub_id = gift.stripe_subscription_id
    details = {
        "reason": "cancellation_requested",
        "feedback": "too_expensive",
        "comment": "I am seriously thinking of halting my monthly donations.",
    }
    se.deliver(
        client,
        se.event(
            "customer.subscription.updated",
            se.subscription(sub_id, cancel_at_period_end=True, cancellation=details),
            created=T0,
        ),
    )
    assert reload(gift).status is GiftStatus.CANCELLING

    ended = se.subscription(sub_id, status="canceled", canceled_at=T0 + 100, cancellation=details)
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=T0 + 100))
    gift = reload(gift)
    assert gift.status is GiftStatus.CANCELLED
    assert int(gift.cancelled_at.timestamp()) == T0 + 100
    assert (gift.cancellation_reason, gift.cancellation_channel) == ("too_expensive", "stripe_dashboard")
    assert gift.cancellation_comment == details["comment"]


@pytest.mark.parametrize(
    ("reason", "channel"),
    [
        ("payment_failed", "failed_payment"),
        ("payment_disputed", "dispute"),
        ("cancellation_requested", "stripe_dashboard"),
    ],
)
def test_the_channel_of_a_cancellation_follows_stripes_reason(client, make_gift, reason, channel):
    gift = make_gift()
    ended = se.subscription(
        gift.stripe_subscription_id,
        status="canceled",
        canceled_at=T0,
        cancellation={"reason": reason, "feedback": None, "comment": None},
    )
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=T0))
    assert reload(gift).cancellation_channel == channel


def test_a_cancellation_made_through_this_service_keeps_its_channel(client, make_gift):
    gift = make_gift(cancellation_channel="donor")
    ended = se.subscription(
        gift.stripe_subscription_id,
        status="canceled",
        canceled_at=T0,
        cancellation={"reason": "cancellation_requested", "feedback": None, "comment": None},
    )
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=T0))
    assert reload(gift).cancellation_channel == "donor"


def test_paused_collection_pauses_the_gift_until_it_resumes(client, make_gift):
    gift = make_gift()
    sub_id = gift.stripe_subscription_id
    resumes = T0 + 60 * 86400
    paused = se.subscription(sub_id, pause={"behavior": "void", "resumes_at": resumes})
    se.deliver(client, se.event("customer.subscription.updated", paused, created=T0))
    gift = reload(gift)
    assert gift.status is GiftStatus.PAUSED and int(gift.paused_until.timestamp()) == resumes

    se.deliver(client, se.event("customer.subscription.updated", se.subscription(sub_id), created=T0 + 5))
    gift = reload(gift)
    assert gift.status is GiftStatus.ACTIVE and gift.paused_until is None


def test_a_one_time_gift_left_at_3d_secure_is_paid_by_its_webhook_with_one_receipt(client, make_gift, outbox):
    gift = make_gift(Frequency.ONCE, GiftStatus.REQUIRES_ACTION, amount=2500, stripe_payment_intent_id="pi_1")
    evt = se.event("payment_intent.succeeded", se.payment_intent("pi_1", gift=gift.reference, charge="ch_1"))
    se.deliver(client, evt)
    se.deliver(client, evt)

    gift = reload(gift)
    assert gift.status is GiftStatus.SUCCEEDED
    assert [(p.stripe_payment_intent_id, p.amount, p.stripe_charge_id) for p in gift.payments] == [
        ("pi_1", 2500, "ch_1")
    ]
    assert len(outbox) == 1


@pytest.mark.usefixtures("stripe_base")
def test_a_failed_one_time_payment_fails_the_gift(client, make_gift):
    gift = make_gift(Frequency.ONCE, GiftStatus.REQUIRES_ACTION, stripe_payment_intent_id="pi_2")
    se.deliver(
        client,
        se.event(
            "payment_intent.payment_failed",
            se.payment_intent("pi_2", status="requires_payment_method", error="Insufficient funds."),
        ),
    )
    gift = reload(gift)
    assert gift.status is GiftStatus.FAILED and gift.failure_message == "Insufficient funds."


def test_refunds_are_recorded_partly_then_fully(client, make_gift):
    gift = make_gift(Frequency.ONCE, GiftStatus.SUCCEEDED, amount=2500, stripe_payment_intent_id="pi_3")
    factories.payment(gift, stripe_payment_intent_id="pi_3", stripe_charge_id="ch_3")

    partly = se.event("charge.refunded", se.charge("ch_3", payment_intent="pi_3", amount_refunded=1000))
    se.deliver(client, partly)
    assert payments_of(reload(gift)) == [(None, 2500, 1000, "succeeded")]
    assert reload(gift).received == 1500
    se.deliver(
        client,
        se.event(
            "charge.refunded",
            se.charge("ch_3", payment_intent="pi_3", amount_refunded=2500),
            created=partly["created"] + 1,
        ),
    )
    gift = reload(gift)
    assert payments_of(gift) == [(None, 2500, 2500, "refunded")]
    assert gift.status is GiftStatus.REFUNDED
    assert gift.received == 0 and gift.last_paid_at == gift.payments[0].paid_at
    se.deliver(  # told again, late: nothing changes
        client,
        se.event(
            "charge.refunded",
            se.charge("ch_3", payment_intent="pi_3", amount_refunded=1000),
            created=partly["created"],
        ),
    )
    assert reload(gift).received == 0


def test_a_dispute_flags_the_gift(client, make_gift):
    gift = make_gift(Frequency.ONCE, GiftStatus.SUCCEEDED, amount=2500, stripe_payment_intent_id="pi_4")
    factories.payment(gift, stripe_payment_intent_id="pi_4", stripe_charge_id="ch_4")
    se.deliver(client, se.event("charge.dispute.created", se.dispute("dp_1", charge_id="ch_4")))

    gift = reload(gift)
    assert gift.disputed_at is not None
    assert gift.payments[0].status is PaymentStatus.DISPUTED
    assert [e.kind for e in gift.events if e.kind != "mrr"] == ["dispute"]


def test_a_donors_new_email_and_name_are_followed(client, make_gift):
    gift = make_gift()
    se.deliver(
        client,
        se.event(
            "customer.updated",
            se.customer(gift.donor.stripe_customer_id, email="New@Example.org", name="New Name"),
        ),
    )
    donor = reload(gift).donor
    assert (donor.email, donor.name) == ("new@example.org", "New Name")


def test_unhandled_events_are_acknowledged_and_kept(client):
    response = se.deliver(client, se.event("customer.source.created", {"id": "src_1", "object": "source"}))
    assert response.status_code == 200
    [stored] = db.session.scalars(sa.select(StripeEvent)).all()
    assert stored.type == "customer.source.created" and stored.processed_at is not None


def test_an_event_for_an_unknown_subscription_is_kept_with_a_note(client):
    se.deliver(client, se.event("customer.subscription.updated", se.subscription("sub_unknown")))
    stored = db.session.scalar(sa.select(StripeEvent))
    assert stored.error == "no gift for this subscription"


def test_an_event_is_answered_before_it_is_applied_and_applied_once_the_answer_is_sent(client, make_gift):
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_4", gift.stripe_subscription_id), created=T0)
    answer = se.deliver(client, evt, buffered=False)
    assert answer.status_code == 200 and answer.content_length == len(
        b'{"duplicate":false,"received":true}\n'
    )
    stored = db.session.scalar(sa.select(StripeEvent))
    assert stored.processed_at is None and payments_of(gift) == []  # answered, stored, not yet applied
    assert answer.json == {"received": True, "duplicate": False}  # the server asks for more: applied
    db.session.expire_all()
    assert stored.processed_at is not None and stored.next_attempt_at is None
    assert payments_of(gift) == [("in_4", 1000, 0, "succeeded")]


def test_with_events_applied_by_the_worker_the_answer_only_stores_and_the_worker_applies(
    app, client, make_gift, monkeypatch
):
    """The process that answers does nothing after it (bench/load.py: an answer waited behind
    the previous event's effect in the same process, p99 over 100 ms)."""
    monkeypatch.setitem(app.config, "EVENTS_APPLIED_BY", "worker")
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_5", gift.stripe_subscription_id), created=T0)
    answer = se.deliver(client, evt)  # the whole answer, as a server sends it
    assert answer.status_code == 200 and answer.json == {"received": True, "duplicate": False}
    stored = db.session.scalar(sa.select(StripeEvent))
    assert stored.processed_at is None and payments_of(gift) == []
    assert stored.next_attempt_at <= utcnow()  # due at once, for the worker
    assert lifecycle.apply_due() == 1
    assert payments_of(gift) == [("in_5", 1000, 0, "succeeded")]


def test_the_worker_applies_an_event_stored_for_it_as_soon_as_it_is_told(app, client, make_gift, monkeypatch):
    """On PostgreSQL the worker is told when an event is stored (NOTIFY): with its own look a
    minute away, it applies the event within seconds, and it stops within seconds. On SQLite
    it looks every POLL_SECONDS."""
    postgresql = db.engine.dialect.name == "postgresql"
    monkeypatch.setattr(worker, "POLL_SECONDS", 60 if postgresql else 0.2)
    monkeypatch.setitem(app.config, "EVENTS_APPLIED_BY", "worker")
    gift = make_gift()
    looked, errors, stop = threading.Event(), [], threading.Event()
    apply_due = lifecycle.apply_due

    def apply_due_then_say(*args, **kwargs):
        applied = apply_due(*args, **kwargs)
        looked.set()  # it has looked once: from now on it waits to be told (or for its next look)
        return applied

    monkeypatch.setattr(lifecycle, "apply_due", apply_due_then_say)

    def run():
        with app.app_context():
            try:
                worker.run(stop)
            except Exception as error:  # a thread cannot fail the test; the assertion below does
                errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        eventually(looked.is_set, what="the worker's first look for due events")
        evt = se.event("invoice.paid", se.invoice("in_6", gift.stripe_subscription_id), created=T0)
        assert se.deliver(client, evt).status_code == 200
        eventually(lambda: payments_of(gift), timeout=20, what="the worker applying the event")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and errors == []
    assert payments_of(gift) == [("in_6", 1000, 0, "succeeded")]


def test_an_event_whose_answer_a_server_ends_early_is_applied_too(client, make_gift):
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_3", gift.stripe_subscription_id), created=T0)
    answer = se.deliver(client, evt, buffered=False)
    assert payments_of(gift) == []
    answer.close()  # a client gone: the server ends the answer without asking for more
    assert payments_of(gift) == [("in_3", 1000, 0, "succeeded")]


def test_an_event_whose_applying_fails_is_kept_and_applied_once_later(client, make_gift, monkeypatch, caplog):
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_5", gift.stripe_subscription_id), created=T0)
    real = lifecycle.HANDLERS["invoice.paid"]

    def broken(obj, delivery):
        real(obj, delivery)
        raise RuntimeError("the database went away")

    monkeypatch.setitem(lifecycle.HANDLERS, "invoice.paid", broken)
    assert se.deliver(client, evt).status_code == 200  # stored: Stripe need not send it again
    stored = db.session.scalar(sa.select(StripeEvent))
    assert payments_of(gift) == [] and stored.processed_at is None  # nothing of its effect kept
    assert (stored.attempts, stored.error) == (1, "RuntimeError: the database went away")
    assert "not applied (attempt 1)" in caplog.text
    assert lifecycle.events_that_failed() == 1
    assert lifecycle.apply_due() == 0  # the worker's retry comes later
    assert lifecycle.apply_due(stored.next_attempt_at) == 0  # failing again, kept again
    assert db.session.get(StripeEvent, stored.id).attempts == 2

    monkeypatch.setitem(lifecycle.HANDLERS, "invoice.paid", real)
    assert lifecycle.apply_due(stored.next_attempt_at) == 1
    assert se.deliver(client, evt).json == {"received": True, "duplicate": True}
    assert lifecycle.apply_due(utcnow() + timedelta(days=30)) == 0
    assert lifecycle.events_that_failed() == 0
    assert payments_of(gift) == [("in_5", 1000, 0, "succeeded")]
    assert reload(gift).received == 1000
    assert db.session.get(StripeEvent, stored.id).next_attempt_at is None


def test_stripes_redelivery_of_an_event_that_failed_applies_it(client, make_gift, monkeypatch):
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_6", gift.stripe_subscription_id), created=T0)
    real = lifecycle.HANDLERS["invoice.paid"]
    monkeypatch.setitem(lifecycle.HANDLERS, "invoice.paid", lambda obj, delivery: 1 / 0)
    se.deliver(client, evt)
    monkeypatch.setitem(lifecycle.HANDLERS, "invoice.paid", real)
    assert se.deliver(client, evt).json == {"received": True, "duplicate": True}
    assert se.deliver(client, evt).json == {"received": True, "duplicate": True}
    assert payments_of(gift) == [("in_6", 1000, 0, "succeeded")]


def test_an_event_that_keeps_failing_is_given_up_with_its_error(client, make_gift, monkeypatch, caplog):
    gift = make_gift()
    monkeypatch.setitem(lifecycle.HANDLERS, "invoice.paid", lambda obj, delivery: 1 / 0)
    se.deliver(client, se.event("invoice.paid", se.invoice("in_7", gift.stripe_subscription_id), created=T0))
    stored = db.session.scalar(sa.select(StripeEvent))
    for _ in lifecycle.RETRY_DELAYS:
        assert lifecycle.apply_due(db.session.get(StripeEvent, stored.id).next_attempt_at) == 0
    db.session.expire_all()
    assert stored.next_attempt_at is None and stored.processed_at is None
    assert (stored.attempts, stored.error) == (
        len(lifecycle.RETRY_DELAYS) + 1,
        "ZeroDivisionError: division by zero",
    )
    assert f"stripe event {stored.event_id} given up after 9 attempts" in caplog.text
    assert lifecycle.events_that_failed() == 1
    assert lifecycle.apply_due(utcnow() + timedelta(days=30)) == 0


def test_an_event_applied_by_several_at_once_is_applied_once(app, client, make_gift, monkeypatch):
    """Its request, two workers and Stripe's redelivery, all at the same moment."""
    gift = make_gift()
    monkeypatch.setattr(webhooks, "then_apply", lambda body, stored: [body])
    se.deliver(client, se.event("invoice.paid", se.invoice("in_9", gift.stripe_subscription_id), created=T0))
    row_id, gift_id = db.session.scalar(sa.select(StripeEvent.id)), gift.id
    db.session.remove()

    def apply(_):
        with app.app_context():
            return lifecycle.apply(row_id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(apply, range(4))) == [False, False, False, True]
    assert payments_of(db.session.get(Gift, gift_id)) == [("in_9", 1000, 0, "succeeded")]
    assert db.session.scalar(sa.select(sa.func.count(GiftEvent.id)).where(GiftEvent.kind == "payment")) == 1


def test_a_failure_told_after_another_attempt_applied_the_event_leaves_it_applied(client, make_gift):
    """Two attempts at once: the first fails and waits for the row while the second applies it."""
    gift = make_gift()
    se.deliver(client, se.event("invoice.paid", se.invoice("in_10", gift.stripe_subscription_id), created=T0))
    stored = db.session.scalar(sa.select(StripeEvent))
    lifecycle._record_failure(stored.id, RuntimeError("late"))
    db.session.expire_all()
    assert (stored.attempts, stored.error, stored.next_attempt_at) == (0, None, None)
    assert stored.processed_at is not None and lifecycle.apply_due(utcnow() + timedelta(days=30)) == 0


def test_an_event_its_request_left_unapplied_is_applied_by_the_worker(app, client, make_gift, monkeypatch):
    """The process died between the answer and the effect: the worker applies it after a grace."""
    gift = make_gift()
    monkeypatch.setattr(webhooks, "then_apply", lambda body, stored: [body])
    se.deliver(client, se.event("invoice.paid", se.invoice("in_8", gift.stripe_subscription_id), created=T0))
    assert payments_of(gift) == []
    output = app.test_cli_runner().invoke(args=["banner", "worker", "--once"]).output
    assert output.startswith("0 Stripe events applied.")  # its request may still be applying it
    later = utcnow() + lifecycle.APPLY_GRACE
    assert lifecycle.apply_due(later) == 1 and lifecycle.apply_due(later) == 0
    assert payments_of(gift) == [("in_8", 1000, 0, "succeeded")]


def final_state(gift: Gift) -> tuple:
    gift = reload(gift)
    return (
        gift.status,
        gift.amount,
        gift.frequency,
        gift.cancel_at_period_end,
        gift.cancelled_at,
        gift.cancellation_reason,
        gift.cancellation_channel,
        gift.failed_attempts,
        tuple(p[1:] for p in payments_of(gift)),
        gift.received,
    )


def test_any_order_of_a_subscriptions_events_ends_in_the_same_state(client, make_gift):
    """created, first invoice paid, amount raised, a renewal failed, deleted: all 120 orders."""

    def events_for(gift: Gift) -> list[dict]:
        sub_id, ref = gift.stripe_subscription_id, gift.reference
        ended = {"reason": "payment_failed", "feedback": None, "comment": None}
        return [
            se.event("customer.subscription.created", se.subscription(sub_id, gift=ref), created=T0),
            se.event("invoice.paid", se.invoice(f"in_a_{sub_id}", sub_id, created=T0 + 1), created=T0 + 1),
            se.event(
                "customer.subscription.updated",
                se.subscription(sub_id, gift=ref, amount=1500),
                created=T0 + 2,
            ),
            se.event(
                "invoice.payment_failed",
                se.invoice(
                    f"in_b_{sub_id}", sub_id, status="open", amount_paid=0, attempt_count=3, created=T0 + 3
                ),
                created=T0 + 3,
            ),
            se.event(
                "customer.subscription.deleted",
                se.subscription(
                    sub_id, gift=ref, amount=1500, status="canceled", canceled_at=T0 + 4, cancellation=ended
                ),
                created=T0 + 4,
            ),
        ]

    def run(order) -> tuple:
        gift = make_gift(status=GiftStatus.PENDING, stripe_status=None)
        events = events_for(gift)
        for index in order:
            assert se.deliver(client, events[index]).status_code == 200
        return final_state(gift)

    expected = run(range(5))
    assert expected[0] is GiftStatus.CANCELLED and expected[1] == 1500
    assert expected[6] == "failed_payment" and expected[8] == ((1000, 0, "succeeded"),)
    assert expected[9] == 1000
    mismatches = [order for order in itertools.permutations(range(5)) if run(order) != expected]
    assert mismatches == []


def test_concurrent_deliveries_of_one_event_have_one_effect(live_server, app, make_gift):
    gift = make_gift()
    evt = se.event("invoice.paid", se.invoice("in_c", gift.stripe_subscription_id), created=T0)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: se.deliver_over_http(live_server, evt), range(20)))
    assert statuses == [200] * 20
    se.applied()
    assert payments_of(gift) == [("in_c", 1000, 0, "succeeded")]
    assert reload(gift).received == 1000
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(GiftEvent.id)).where(GiftEvent.kind == "payment")) == 1


def test_payments_of_one_gift_recorded_at_once_all_add_to_its_total(live_server, app, make_gift):
    """Twelve renewals of one gift arriving together: the gift's received total counts each."""
    gift = make_gift()
    subscription = gift.stripe_subscription_id

    def post(number):
        invoice = se.invoice(f"in_p{number}", subscription, created=T0 + number)
        return se.deliver_over_http(live_server, se.event("invoice.paid", invoice, created=T0 + number))

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert list(pool.map(post, range(12))) == [200] * 12
    se.applied()
    gift = reload(gift)
    assert len(gift.payments) == 12
    assert gift.received == 12 * 1000 == sum(p.amount for p in gift.payments)
    assert gift.last_paid_at == max(p.paid_at for p in gift.payments)


def test_a_new_gift_and_its_payments_in_one_flush(app):

    gift = factories.gift(
        Frequency.MONTH,
        GiftStatus.ACTIVE,
        donor=factories.donor(email="flush@example.org", name="F", save=False),
        amount=700,
        save=False,
    )
    early, late = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 99, UTC)
    factories.payment(gift, stripe_invoice_id="in_f2", paid_at=late, save=False)
    factories.payment(gift, amount_refunded=200, stripe_invoice_id="in_f1", paid_at=early, save=False)
    db.session.add(gift)
    db.session.commit()
    gift = reload(gift)
    assert (gift.received, gift.last_paid_at) == (1200, late)

    factories.payment(gift, stripe_invoice_id="in_f3", paid_at=early, save=False)
    gift.payments[0].amount_refunded = 700
    db.session.commit()
    gift = reload(gift)
    assert (gift.received, gift.last_paid_at) == (1200 - 700 + 700, late)  # an older payment: same last

    factories.payment(gift_id=gift.id, amount=300, currency="usd", stripe_invoice_id="in_f4")
    assert reload(gift).received == 1500  # a payment made with the gift's id alone counts too


def test_the_emulators_own_events_agree_with_checkout(live_server, app, stripe_base):
    """The emulator sends the older shape of Stripe's objects; they lead to the same gift."""
    import urllib.parse
    import urllib.request
    import uuid

    from banner.services import checkout
    from tests.stripe_helpers import VISA, confirm_payment

    def register(url):
        body = urllib.parse.urlencode({"url": url, "secret": se.SECRET}).encode()
        urllib.request.urlopen(f"{stripe_base}/_config/webhooks/banner", data=body)

    register(f"{live_server}/stripe/webhook")
    try:
        started = checkout.start_gift(
            checkout.GiftRequest(
                amount=1200,
                currency="usd",
                frequency=Frequency.MONTH,
                cover_fees=False,
                name="Ada",
                email="ada@example.org",
                checkout_key=uuid.uuid4().hex,
            )
        )
        confirm_payment(stripe_base, started.client_secret, VISA)
        assert checkout.complete_gift(started.reference).status == "succeeded"
        wanted = {"invoice.payment_succeeded", "customer.subscription.created"}

        def stored_types():
            db.session.expire_all()
            return set(db.session.scalars(sa.select(StripeEvent.type)))

        eventually(lambda: wanted <= stored_types(), 15, what=lambda: f"{wanted} among {stored_types()}")
    finally:
        register("http://127.0.0.1:9/closed")

    stored = db.session.scalars(sa.select(StripeEvent)).all()
    assert wanted <= {event.type for event in stored}
    assert all(event.error is None for event in stored if event.type in wanted)
    gift = db.session.scalar(sa.select(Gift))
    assert gift.status is GiftStatus.ACTIVE and gift.stripe_status == "active"
    assert len(gift.payments) == 1


def test_an_erased_donor_stays_erased(client, make_gift):
    gift = make_gift()
    gift.donor.email, gift.donor.name = f"erased-{gift.donor.id}@invalid", "Erased donor"
    db.session.commit()
    se.deliver(
        client,
        se.event(
            "customer.updated",
            se.customer(gift.donor.stripe_customer_id, email="back@example.org", name="Back"),
        ),
    )
    donor = reload(gift).donor
    assert (donor.email, donor.name) == (f"erased-{donor.id}@invalid", "Erased donor")


@pytest.mark.usefixtures("stripe_base")
def test_an_event_of_another_api_version_is_kept_flagged_and_not_applied(client, make_gift, caplog):
    gift = make_gift()
    older = se.event(
        "invoice.paid", se.invoice("in_v", gift.stripe_subscription_id), created=T0, api_version="2024-06-20"
    )
    assert se.deliver(client, older).status_code == 200

    assert payments_of(gift) == []
    stored = db.session.scalar(sa.select(StripeEvent))
    assert stored.error == f"api_version 2024-06-20 is not {API_VERSION}; not applied"
    assert stored.processed_at is None
    assert "api_version 2024-06-20" in caplog.text
    assert client.get("/readyz").json["stripe_events_of_other_versions"] == 1


def test_a_renewal_needing_3d_secure_waits_for_the_donor_until_it_is_paid(client, make_gift, outbox):
    gift = make_gift()
    waiting = se.invoice("in_3ds", gift.stripe_subscription_id, status="open", amount_paid=0, created=T0)
    se.deliver(client, se.event("invoice.payment_action_required", waiting, created=T0))

    gift = reload(gift)
    assert gift.status is GiftStatus.ACTION_REQUIRED
    [message] = outbox
    assert message["To"] == gift.donor.email
    [token] = re.findall(r"/manage/(\S+)", message.get_body(("plain",)).get_content())
    assert links.donor_for(token).id == gift.donor.id

    paid = se.invoice("in_3ds", gift.stripe_subscription_id, created=T0 + 60)
    se.deliver(client, se.event("invoice.paid", paid, created=T0 + 60))
    gift = reload(gift)
    assert gift.status is GiftStatus.ACTIVE
    assert [e.to_status for e in gift.events if e.kind == "status"] == [
        GiftStatus.ACTION_REQUIRED,
        GiftStatus.ACTIVE,
    ]
    assert monthly_value(gift.amount, gift.frequency, GiftStatus.ACTION_REQUIRED) == 1000  # still counted


def test_a_late_request_for_3d_secure_of_a_paid_renewal_changes_nothing(client, make_gift, outbox):
    gift = make_gift()
    sub_id = gift.stripe_subscription_id
    se.deliver(
        client, se.event("invoice.paid", se.invoice("in_late", sub_id, created=T0 + 60), created=T0 + 60)
    )
    waiting = se.invoice("in_late", sub_id, status="open", amount_paid=0, created=T0)
    se.deliver(client, se.event("invoice.payment_action_required", waiting, created=T0))
    assert reload(gift).status is GiftStatus.ACTIVE and outbox == []


@pytest.mark.parametrize(
    ("kind", "stripe_status", "details"),
    [
        ("customer.subscription.updated", "incomplete_expired", None),
        ("customer.subscription.deleted", "canceled", {"reason": "cancellation_requested"}),
        ("customer.subscription.deleted", "canceled", {"reason": "payment_failed"}),
    ],
)
@pytest.mark.parametrize("status", [GiftStatus.REQUIRES_ACTION, GiftStatus.FAILED, GiftStatus.PENDING])
def test_a_subscription_ended_before_its_first_payment_is_a_failed_gift_not_a_cancellation(
    client, make_gift, kind, stripe_status, details, status
):
    gift = make_gift(status=status, stripe_status="incomplete")
    cancellation = {"feedback": None, "comment": None, "reason": None, **(details or {})}
    ended = se.subscription(
        gift.stripe_subscription_id, status=stripe_status, canceled_at=T0, cancellation=cancellation
    )
    assert se.deliver(client, se.event(kind, ended, created=T0)).status_code == 200

    assert reload(gift).status is GiftStatus.FAILED
    today = reports.Period(date.today() - timedelta(days=1), date.today())
    assert reports.cancellations("usd", today).total == 0
    month = reports.recurring("usd").months[-1]
    assert (month.lost, month.movements["voluntary_churn"], month.movements["involuntary_churn"]) == (0, 0, 0)


def test_a_first_invoice_declined_leaves_the_gift_to_the_donate_page(client, make_gift):
    gift = make_gift(status=GiftStatus.REQUIRES_ACTION, stripe_status="incomplete")
    declined = se.invoice("in_first", gift.stripe_subscription_id, status="open", amount_paid=0, created=T0)
    se.deliver(client, se.event("invoice.payment_failed", declined, created=T0))
    se.deliver(client, se.event("invoice.payment_action_required", declined, created=T0))
    assert reload(gift).status is GiftStatus.REQUIRES_ACTION


def test_a_deleted_customer_ends_the_donors_monthly_gifts_and_is_forgotten(client, make_gift):
    gift = make_gift()
    donor_id, customer_id = gift.donor.id, gift.donor.stripe_customer_id
    one_time = factories.gift(Frequency.ONCE, GiftStatus.SUCCEEDED, donor_id=donor_id, amount=500)
    deleted = se.customer(customer_id, email="donor@example.org", name="Donor")
    se.deliver(client, se.event("customer.deleted", deleted, created=T0))

    gift = reload(gift)
    assert gift.donor.stripe_customer_id is None
    assert (gift.status, gift.stripe_status, gift.cancellation_channel) == (
        GiftStatus.CANCELLED,
        "canceled",
        "stripe_dashboard",
    )
    assert int(gift.cancelled_at.timestamp()) == T0
    assert db.session.get(Gift, one_time.id).status is GiftStatus.SUCCEEDED

    ended = se.subscription(gift.stripe_subscription_id, status="canceled", canceled_at=T0)
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=T0))  # Stripe tells too
    assert reload(gift).status is GiftStatus.CANCELLED


def test_a_card_the_network_updated_shows_on_the_gifts_it_pays(client, make_gift):
    gift = make_gift(stripe_payment_method_id="pm_1", card_brand="visa", card_last4="4242")
    other = make_gift(stripe_payment_method_id="pm_2", card_brand="visa", card_last4="1111")
    updated = se.payment_method("pm_1", last4="0005", exp=(11, 2031))
    se.deliver(client, se.event("payment_method.automatically_updated", updated))

    gift = reload(gift)
    assert (gift.card_brand, gift.card_last4, gift.card_exp_month, gift.card_exp_year) == (
        "visa",
        "0005",
        11,
        2031,
    )
    assert reload(other).card_last4 == "1111"
