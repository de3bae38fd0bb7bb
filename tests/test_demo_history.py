"""The made-up demo history (devtools.demo): plausible, consistent with itself, repeatable, added once,
and made by the service's own functions."""

from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import sqlalchemy as sa

from banner import cli, create_app, payments
from banner.extensions import db
from banner.models import (
    MRR_STATUSES,
    Actor,
    BannerStat,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    InvoicePayment,
    OutboxMessage,
    Payment,
    PaymentStatus,
    StripeEvent,
    Variant,
    monthly_value,
)
from banner.services import lifecycle, outbox
from banner.services.manage import REASONS
from devtools import demo as demo_data
from devtools.demo.clock import Recorder
from devtools.demo.stripe_double import StripeDouble
from tests import factories
from tests.conftest import without_durability

NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
END = datetime(2026, 6, 15, tzinfo=UTC)  #: the history ends at midnight before NOW
MONTHS = 6
DONORS = 60
SMALL = 12  #: donors of the histories made three times over
MONTHLY = 0.5  #: more monthly donors than the demo's, so that a small history has every kind of change
#: what a cancellation's reason may read: our words (manage page), or Stripe's feedback code
#: (cancelled in Stripe's dashboard: lifecycle keeps the code Stripe sends)
CANCEL_REASONS = set(REASONS) | {code for _, code in REASONS.values()}


def add_campaign() -> None:
    """The live campaign and its two variants, as seed-demo adds them."""
    factories.campaign(
        starts_at=NOW,
        preset_amounts=[],
        variants=[
            Variant(key="a", heading="Local news, paid for by its readers"),
            Variant(key="b", heading="No paywall. Just you."),
        ],
    )


@pytest.fixture(scope="module")
def history_app(tmp_path_factory):
    """An app with a database of its own holding one history, made once for this module's
    read-only tests (a history takes the service many steps to make)."""
    path = tmp_path_factory.mktemp("history") / "history.sqlite3"
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "STRIPE_SECRET_KEY": "sk_test_suite",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_suite",
            "STRIPE_WEBHOOK_SECRET": "whsec_test_suite",
            "PUBLIC_URL": "http://testserver",
        }
    )
    with app.app_context():
        without_durability(db.engine)
        db.create_all()
        add_campaign()
        summary = demo_data.generate(DONORS, MONTHS, seed=7, now=NOW, monthly_share=MONTHLY)
        db.session.remove()
    yield app, summary
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def history(history_app):
    app, summary = history_app
    with app.app_context():
        yield summary
        db.session.rollback()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_history_has_plausible_counts(history):
    assert (history.donors, history.gifts, history.payments, history.events) == (
        count(Donor),
        count(Gift),
        count(Payment),
        count(GiftEvent),
    )
    assert history.donors == DONORS
    frequencies = Counter(db.session.scalars(sa.select(Gift.frequency)))
    assert 0.3 * DONORS < frequencies[Frequency.MONTH] < 0.8 * DONORS
    assert 0 < frequencies[Frequency.YEAR] < 0.2 * DONORS
    assert frequencies[Frequency.ONCE] > 0.3 * DONORS
    assert history.payments > history.gifts  # monthly gifts renew
    kinds = Counter(db.session.scalars(sa.select(GiftEvent.kind)))
    assert {"status", "payment", "mrr", "cancel_request"} <= set(kinds)
    assert history.banner_stats == 2 * (END - datetime(2025, 12, 15, tzinfo=UTC)).days


def test_each_gifts_totals_match_its_payments(history):
    net = sa.func.coalesce(sa.func.sum(Payment.amount - Payment.amount_refunded), 0)
    rows = db.session.execute(
        sa.select(Gift.received, Gift.last_paid_at, net, sa.func.max(Payment.paid_at))
        .outerjoin(Payment, Payment.gift_id == Gift.id)
        .group_by(Gift.id, Gift.received, Gift.last_paid_at)
    ).all()
    assert sum(received > 0 for received, *_ in rows) > DONORS
    assert [(received, last) for received, last, *_ in rows] == [(net, last) for *_, net, last in rows]


def test_mrr_movements_add_up_to_each_gifts_monthly_value(history):
    totals = db.session.execute(
        sa.select(
            Gift.amount, Gift.frequency, Gift.status, sa.func.coalesce(sa.func.sum(GiftEvent.mrr_delta), 0)
        )
        .outerjoin(GiftEvent, (GiftEvent.gift_id == Gift.id) & (GiftEvent.kind == "mrr"))
        .group_by(Gift.id, Gift.amount, Gift.frequency, Gift.status)
    ).all()
    assert sum(total > 0 for *_, total in totals) > 10
    assert [total for *_, total in totals] == [monthly_value(a, f, s) for a, f, s, _ in totals]


def test_mrr_up_to_each_movement_is_the_monthly_value_then(history):
    running = sa.func.sum(GiftEvent.mrr_delta).over(
        partition_by=GiftEvent.gift_id, order_by=(GiftEvent.created_at, GiftEvent.id)
    )
    rows = db.session.execute(
        sa.select(GiftEvent.gift_id, GiftEvent.kind, GiftEvent.to_status, GiftEvent.data)
        .add_columns(GiftEvent.movement, GiftEvent.mrr_delta, GiftEvent.created_at, running)
        .where(GiftEvent.kind.in_(("status", "amount", "mrr")))
        .order_by(GiftEvent.gift_id, GiftEvent.created_at, GiftEvent.id)
    ).all()
    gifts = {gift.id: gift for gift in db.session.scalars(sa.select(Gift))}
    state = {gift.id: [gift.amount, gift.frequency, None] for gift in gifts.values()}
    for row in reversed(rows):  # each gift starts with the amount its first change replaced
        if row.kind == "amount":
            state[row.gift_id][:2] = row.data["old"]["amount"], Frequency(row.data["old"]["frequency"])
    for gift_id, kind, to_status, data, move, delta, at, total in rows:
        gift = gifts[gift_id]
        if kind == "amount":
            state[gift_id][:2] = data["new"]["amount"], Frequency(data["new"]["frequency"])
        elif kind == "status":
            state[gift_id][2] = to_status
        else:
            amount, frequency, status = state[gift_id]
            assert status is to_status
            assert total == monthly_value(amount, frequency, status), (gift_id, at)
            assert (delta > 0) == (move in ("new", "reactivation", "expansion"))
            assert gift.created_at <= at < END


def test_statuses_agree_with_the_events(history):
    chains = defaultdict(list)
    for gift_id, from_status, to_status in db.session.execute(
        sa.select(GiftEvent.gift_id, GiftEvent.from_status, GiftEvent.to_status)
        .where(GiftEvent.kind == "status")
        .order_by(GiftEvent.created_at, GiftEvent.id)
    ):
        chains[gift_id].append((from_status, to_status))
    gifts = db.session.scalars(sa.select(Gift)).all()
    for gift in gifts:
        chain = chains[gift.id]
        assert chain[0][0] is None and chain[-1][1] is gift.status, gift.id
        assert all(a[1] is b[0] or b[0] is GiftStatus.PROCESSING for a, b in pairwise(chain))
    by_status = defaultdict(list)
    for gift in gifts:
        by_status[gift.status].append(gift)
    assert by_status[GiftStatus.CANCELLED] and by_status[GiftStatus.ACTIVE]
    for gift in by_status[GiftStatus.CANCELLED]:
        assert gift.cancelled_at < END and gift.cancellation_channel, gift.id
        voluntary = gift.cancellation_channel in ("donor", "stripe_dashboard")
        assert (gift.cancellation_reason in CANCEL_REASONS) if voluntary else gift.cancellation_reason is None
    for gift in by_status[GiftStatus.CANCELLING]:
        assert gift.cancel_at_period_end and gift.current_period_end >= END
        assert gift.cancellation_channel == "donor" and gift.cancellation_reason in REASONS
    for gift in by_status[GiftStatus.PAST_DUE]:
        assert gift.failed_attempts > 0
    for gift in by_status[GiftStatus.PAUSED]:
        assert gift.paused_until >= END
    for gift in gifts:
        if gift.status in MRR_STATUSES and gift.status is not GiftStatus.PAST_DUE:
            assert gift.current_period_end >= END, gift.id


def test_save_offers_are_taken_or_declined_in_the_donors_words(history):
    requests = db.session.scalars(
        sa.select(GiftEvent).where(GiftEvent.kind.in_(("save_offer", "cancel_request")))
    )
    for event in requests:
        assert event.data["offered"]
        if event.kind == "cancel_request":
            assert event.data["taken"] is None and event.data["reason"] in REASONS
        else:
            assert event.data["taken"] in event.data["offered"]


def test_payments_are_unique_and_in_the_past(history):
    assert db.session.scalar(sa.select(sa.func.max(GiftEvent.created_at))) < END
    payments = db.session.scalars(sa.select(Payment)).all()
    invoices = [p.stripe_invoice_id for p in payments if p.stripe_invoice_id]
    intents = [p.stripe_payment_intent_id for p in payments if p.stripe_payment_intent_id]
    assert len(invoices) == len(set(invoices)) and len(intents) == len(set(intents))
    assert all(p.stripe_invoice_id or p.stripe_payment_intent_id for p in payments)
    assert all(p.stripe_charge_id for p in payments)  # so that refunds and disputes find them
    assert all(p.paid_at < END and 0 <= p.amount_refunded <= p.amount for p in payments)
    assert all((p.status is PaymentStatus.REFUNDED) == (p.amount_refunded == p.amount) for p in payments)
    per_gift = Counter(p.gift_id for p in payments)
    for gift in db.session.scalars(sa.select(Gift)):
        if gift.frequency is Frequency.ONCE:
            assert per_gift[gift.id] == (gift.status in (GiftStatus.SUCCEEDED, GiftStatus.REFUNDED))
        else:
            assert per_gift[gift.id] <= MONTHS + 1


def test_banner_counters_follow_the_gifts(history):
    gifts = Counter(
        (variant_id, created_at.date())
        for variant_id, created_at in db.session.execute(
            sa.select(Gift.variant_id, Gift.created_at).where(
                Gift.variant_id.is_not(None), Gift.status != GiftStatus.FAILED
            )
        )
    )
    assert gifts
    for stat in db.session.scalars(sa.select(BannerStat)):
        assert stat.impressions > stat.views > stat.clicks > gifts[stat.variant_id, stat.day] * 5


def snapshot() -> dict:
    return {
        "donors": db.session.execute(
            sa.select(Donor.email, Donor.name, Donor.created_at).order_by(Donor.email)
        ).all(),
        "gifts": db.session.execute(
            sa.select(Gift.created_at, Gift.frequency, Gift.amount, Gift.status).order_by(
                Gift.created_at, Gift.amount
            )
        ).all(),
        "payments": db.session.execute(
            sa.select(Payment.stripe_invoice_id, Payment.amount, Payment.paid_at).order_by(Payment.paid_at)
        ).all(),
        "events": sorted(
            db.session.execute(
                sa.select(GiftEvent.kind, GiftEvent.created_at, GiftEvent.movement, GiftEvent.mrr_delta)
            ).all()
        ),
    }


def clear_history() -> None:
    for model in (GiftEvent, Payment, Gift, Donor, BannerStat, StripeEvent, InvoicePayment, OutboxMessage):
        db.session.execute(sa.delete(model))
    db.session.commit()


def test_the_same_seed_makes_the_same_history(app):
    add_campaign()
    demo_data.generate(SMALL, 3, seed=7, now=NOW, monthly_share=MONTHLY)
    first = snapshot()
    assert first["donors"] and first["payments"]
    clear_history()
    demo_data.generate(SMALL, 3, seed=7, now=NOW, monthly_share=MONTHLY)
    assert snapshot() == first
    clear_history()
    demo_data.generate(SMALL, 3, seed=8, now=NOW, monthly_share=MONTHLY)
    assert snapshot()["donors"] != first["donors"]


def test_no_history_is_added_while_there_are_donors(history):
    assert demo_data.generate(10, seed=9, now=NOW) is None
    assert count(Donor) == DONORS


def test_seed_demo_adds_a_history_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["banner", "seed-demo", "--donors", "15", "--months", "3", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "Added 15 donors" in result.output
    assert "Messages queued per lifecycle event" in result.output
    assert "Renewals recovered:" in result.output
    gifts = count(Gift)
    again = runner.invoke(args=["banner", "seed-demo", "--donors", "15"])
    assert again.exit_code == 0 and "There are donors already; no history added." in again.output
    assert (count(Donor), count(Gift)) == (15, gifts)


def test_every_stripe_event_of_the_history_was_applied_by_the_webhooks_function(history):
    stored = db.session.scalars(sa.select(StripeEvent)).all()
    assert (
        len(stored)
        == history.stripe_events
        == sum(n for step, n in history.applied.items() if "page" not in step)
    )
    waiting = "invoice not paid here yet; its invoice.paid takes these ids"  # invoice_payment.paid came first
    assert all(event.processed_at is not None and event.error in (None, waiting) for event in stored)
    assert not any((event.error or "").startswith(lifecycle.OTHER_VERSION) for event in stored)
    assert {event.type for event in stored} >= {"invoice.paid", "payment_intent.succeeded"}
    assert all(event.payload["api_version"] == payments.API_VERSION for event in stored)
    # time travel: each event is applied at its own `created` moment, months ago
    assert all(event.processed_at == datetime.fromtimestamp(event.created, UTC) for event in stored)
    ids = {event.event_id for event in stored}
    # what Stripe's events did names the event (the donate page's own reading of a decline names none)
    by_stripe = db.session.scalars(
        sa.select(GiftEvent.actor_ref).where(
            GiftEvent.actor == Actor.STRIPE, GiftEvent.actor_ref.is_not(None)
        )
    ).all()
    assert by_stripe and set(by_stripe) <= ids


def test_the_historys_mail_is_kept_as_sent_and_never_delivered(history):
    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert len(messages) == sum(history.messages.values()) > DONORS // 2
    assert all(m.sent_at is not None and m.next_attempt_at is None and m.sent_at < END for m in messages)
    assert all(m.sent_at == m.created_at for m in messages)
    assert outbox.deliver_due().attempted == 0
    by_kind: Counter[str] = Counter()
    for (_, kind), n in history.messages.items():
        by_kind[kind] += n
    assert Counter(m.kind.value for m in messages) == by_kind
    assert history.messages["donate page: card step done", "receipt"] > 0


def test_renewals_recovered_are_the_failed_invoices_paid_later(history):
    failed = {
        e.payload["data"]["object"]["id"]
        for e in db.session.scalars(
            sa.select(StripeEvent).where(StripeEvent.type == "invoice.payment_failed")
        )
    }
    paid = set(
        db.session.scalars(sa.select(Payment.stripe_invoice_id).where(Payment.stripe_invoice_id.in_(failed)))
    )
    lost = db.session.scalar(
        sa.select(sa.func.count()).select_from(Gift).where(Gift.cancellation_channel == "failed_payment")
    )
    assert failed
    assert history.renewals["failed"] == len(failed)
    assert history.renewals["recovered"] == len(paid)
    assert history.renewals["lost"] == lost
    assert history.renewals["recovered"] + history.renewals["lost"] + history.renewals[
        "still retrying"
    ] == len(failed)
    lines = history.lines()
    assert lines[-1].startswith(
        f"Renewals recovered: {len(paid)} of {len(failed)} failed renewals paid later"
    )
    assert any(line.split()[0] == "invoice.paid" for line in lines[1:-1])


def test_the_history_sends_no_request_to_stripe(app):
    with StripeDouble(Recorder()).answering(), pytest.raises(RuntimeError, match="no request to Stripe"):
        payments.get_saved_card("seti_1")


def test_the_cli_offers_the_demos_own_shares():
    assert (cli.DEMO_MONTHLY_SHARE, cli.DEMO_YEARLY_SHARE) == (
        demo_data.MONTHLY_SHARE,
        demo_data.YEARLY_SHARE,
    )


def test_refunds_and_disputes_go_through_the_webhooks_function(app, monkeypatch):
    from devtools.demo import choices

    for table in ("CANCEL_CHANCE", "UPGRADE_CHANCE", "DOWNGRADE_CHANCE", "PAUSE_CHANCE"):
        for frequency in (Frequency.MONTH, Frequency.YEAR):
            monkeypatch.setitem(getattr(choices, table), frequency, 0.0)
    monkeypatch.setitem(choices.DISPUTE_CHANCE, Frequency.MONTH, 1.0)
    monkeypatch.setattr(choices, "REFUND_SHARE", 0.3)
    add_campaign()
    summary = demo_data.generate(SMALL, 3, seed=3, now=NOW, monthly_share=0.9)

    assert summary.applied["charge.dispute.created"] > 0 and summary.applied["charge.refunded"] > 0
    disputed = db.session.scalars(sa.select(Gift).where(Gift.cancellation_channel == "dispute")).all()
    assert disputed and all(g.status is GiftStatus.CANCELLED and g.disputed_at for g in disputed)
    assert all(any(p.status is PaymentStatus.DISPUTED for p in g.payments) for g in disputed)
    refunded = db.session.scalars(sa.select(Payment).where(Payment.amount_refunded > 0)).all()
    assert refunded and all(p.gift.received < sum(q.amount for q in p.gift.payments) for p in refunded)
