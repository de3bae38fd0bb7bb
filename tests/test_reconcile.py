"""`flask banner reconcile` repairs what we missed, and a second run changes nothing."""

import sqlalchemy as sa
import stripe

from banner import create_app, payments
from banner.extensions import db
from banner.models import Frequency, Gift, GiftStatus, Payment, StripeEvent
from banner.services import lifecycle
from tests import factories
from tests import stripe_events as se
from tests.stripe_helpers import give


def give_monthly(stripe_base, email):
    return give(stripe_base, email=email, name="Ada")


def reconcile(app, *args):
    result = app.test_cli_runner().invoke(args=["banner", "reconcile", "--since", "7", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_reconcile_restores_a_lost_payment_and_a_missed_cancellation_then_changes_nothing(app, stripe_base):
    kept = give_monthly(stripe_base, "kept@example.org")
    ended = give_monthly(stripe_base, "ended@example.org")
    for event in payments.list_events(0):  # every event so far reached us as a webhook
        lifecycle.receive(event)
    # Local damage: a payment lost, a status changed behind Stripe's back.
    db.session.delete(kept.payments[0])
    kept.status = GiftStatus.PAST_DUE
    kept.stripe_status = "past_due"
    db.session.commit()
    # Stripe-side change we never heard of: the second donor's gift cancelled in the dashboard.
    client = stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})
    client.v1.subscriptions.cancel(
        ended.stripe_subscription_id, options={"idempotency_key": "dashboard-cancel"}
    )

    dry = reconcile(app, "--dry-run")
    assert "would change" in dry
    db.session.expire_all()
    assert db.session.get(Gift, kept.id).status is GiftStatus.PAST_DUE

    first = reconcile(app)
    db.session.expire_all()
    kept, ended = db.session.get(Gift, kept.id), db.session.get(Gift, ended.id)
    assert kept.status is GiftStatus.ACTIVE
    assert [p.amount for p in kept.payments] == [1000]
    assert ended.status is GiftStatus.CANCELLED and ended.cancellation_channel == "stripe_dashboard"
    assert ended.cancelled_at is not None
    assert f"gift {kept.reference}: past_due 1000 usd/month -> active 1000 usd/month" in first
    assert f"gift {kept.reference}: payment of invoice" in first
    assert "(customer.subscription.deleted) was missed; applied" in first

    second = reconcile(app)
    assert second.strip().splitlines()[-1].startswith("0 changed")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 2


def test_webhooks_answer_5xx_while_the_database_is_down_and_nothing_is_lost(app, client, app_settings):

    donor = factories.donor(
        email="drill@example.org", name="Drill", stripe_customer_id="cus_drill", save=False
    )
    gift = factories.gift(
        Frequency.MONTH,
        GiftStatus.ACTIVE,
        donor=donor,
        stripe_subscription_id="sub_drill",
        stripe_status="active",
    )
    evt = se.event("invoice.paid", se.invoice("in_drill", "sub_drill"))

    down = create_app({**app_settings, "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    with down.app_context():
        response = se.deliver(down.test_client(), evt)
    assert response.status_code >= 500

    assert se.deliver(client, evt).status_code == 200  # Stripe's redelivery, the database back
    assert se.deliver(client, evt).status_code == 200
    db.session.expire_all()
    assert [(p.stripe_invoice_id, p.amount) for p in db.session.get(Gift, gift.id).payments] == [
        ("in_drill", 1000)
    ]
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 1
