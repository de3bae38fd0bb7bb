"""CSV exports of donors, gifts and payments for admins: content, formula escaping, streaming,
the audit log."""

import csv
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import AuditEntry, Frequency, GiftStatus, PaymentStatus
from banner.services import exports
from tests import factories

PERIOD = {"from": "2025-03-01", "to": "2025-03-31"}


def at(day: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, 12, tzinfo=UTC)


@pytest.fixture
def ledger(app, make_campaign):
    """Two donors of March 2025 (one with a formula for a name) and one of February."""
    campaign = make_campaign()
    mallory = factories.donor(
        email="mallory@example.org",
        name='=HYPERLINK("https://evil.example","Click")',
        created_at=at(2),
        stripe_customer_id="cus_m",
        save=False,
    )
    ada = factories.donor(email="ada@example.org", name="Ada", created_at=at(31), save=False)
    early = factories.donor(
        email="early@example.org", name="-Early Bird", created_at=at(28, month=2), save=False
    )
    monthly = factories.gift(
        Frequency.MONTH,
        GiftStatus.ACTIVE,
        donor=ada,
        amount=1530,
        fee_amount=30,
        campaign=campaign,
        variant=campaign.variants[0],
        article_url="https://news.example/story",
        created_at=at(31),
        stripe_subscription_id="sub_1",
        save=False,
    )
    factories.payment(monthly, stripe_invoice_id="in_1", paid_at=at(31, month=3), save=False)
    once = factories.gift(Frequency.ONCE, GiftStatus.REFUNDED, donor=early, amount=500000, currency="jpy",
                          created_at=at(28, month=2), save=False)  # fmt: skip
    factories.payment(
        once,
        stripe_payment_intent_id="pi_1",
        amount_refunded=500000,
        status=PaymentStatus.REFUNDED,
        paid_at=at(1),
        save=False,
    )
    db.session.add_all([mallory, monthly, once])
    db.session.commit()
    return {"ada": ada, "mallory": mallory, "early": early}


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_donor_export_lists_the_donors_who_joined_in_the_period(client, log_in_as, ledger):
    log_in_as("admin")

    response = client.get("/staff/export/donors.csv", query_string=PERIOD, buffered=False)

    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="donors-2025-03-01-2025-03-31.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert rows(response) == [
        ["donor_id", "email", "name", "joined_at", "stripe_customer_id", "total_minor", "total_currency"],
        [str(ledger["mallory"].id), "mallory@example.org", '\'=HYPERLINK("https://evil.example","Click")',
         "2025-03-02T12:00:00+00:00", "cus_m", "0", ""],
        [str(ledger["ada"].id), "ada@example.org", "Ada", "2025-03-31T12:00:00+00:00", "", "1530", "usd"],
    ]  # fmt: skip


def test_gift_export_has_amounts_in_minor_units_with_their_currency(client, log_in_as, ledger):
    log_in_as("admin")

    [header, gift] = rows(client.get("/staff/export/gifts.csv", query_string=PERIOD))

    assert dict(zip(header, gift, strict=True)) == {
        "gift_id": str(ledger["ada"].gifts[0].id),
        "reference": ledger["ada"].gifts[0].reference,
        "donor_id": str(ledger["ada"].id),
        "donor_email": "ada@example.org",
        "frequency": "month",
        "status": "active",
        "amount_minor": "1530",
        "fee_minor": "30",
        "currency": "usd",
        "campaign": "spring",
        "variant": "a",
        "article_url": "https://news.example/story",
        "created_at": "2025-03-31T12:00:00+00:00",
        "cancelled_at": "",
        "cancellation_reason": "",
        "cancellation_reason_words": "",
        "cancellation_channel": "",
        "cancellation_comment": "",
        "stripe_subscription_id": "sub_1",
    }


def test_donor_totals_add_up_every_gift_net_of_refunds_in_one_currency(client, log_in_as, ledger):
    ada = ledger["ada"]
    later = factories.gift(Frequency.ONCE, donor=ada, amount=2500, save=False)
    factories.payment(later, stripe_payment_intent_id="pi_2", amount_refunded=500, paid_at=at(20, month=4),
                      save=False)  # fmt: skip
    euro = factories.gift(Frequency.ONCE, donor=ledger["mallory"], amount=900, currency="eur", save=False)
    factories.payment(euro, stripe_payment_intent_id="pi_3", paid_at=at(3), save=False)
    pound = factories.gift(Frequency.ONCE, donor=ledger["mallory"], amount=800, currency="gbp", save=False)
    factories.payment(pound, stripe_payment_intent_id="pi_4", paid_at=at(4), save=False)
    db.session.add_all([later, euro, pound])
    db.session.commit()
    log_in_as("admin")

    exported = rows(client.get("/staff/export/donors.csv", query_string=PERIOD))

    totals = {row[1]: (row[5], row[6]) for row in exported[1:]}
    assert totals == {
        "ada@example.org": ("3530", "usd"),  # $15.30 + $25.00 - $5.00 refunded, after the period too
        "mallory@example.org": ("", "several"),  # no sum of euros and pounds
    }


def test_gift_export_carries_the_cancellation_reason_in_words_and_the_comment(client, log_in_as, ledger):
    gift = ledger["ada"].gifts[0]
    gift.status = GiftStatus.CANCELLED
    gift.cancelled_at = at(31)
    gift.cancellation_reason, gift.cancellation_channel = "financial", "donor"
    gift.cancellation_comment = "=Lost my job, back soon"
    db.session.commit()
    log_in_as("admin")

    [header, row] = rows(client.get("/staff/export/gifts.csv", query_string=PERIOD))

    exported = dict(zip(header, row, strict=True))
    assert (exported["cancellation_reason"], exported["cancellation_reason_words"]) == (
        "financial",
        "My finances changed",
    )
    assert exported["cancellation_channel"] == "donor"
    assert exported["cancellation_comment"] == "'=Lost my job, back soon"  # a formula stays text


def test_payment_export_covers_payments_received_in_the_period(client, log_in_as, ledger):
    log_in_as("admin")

    exported = rows(client.get("/staff/export/payments.csv", query_string=PERIOD))

    assert exported[0] == [
        "payment_id", "gift_id", "donor_id", "donor_email", "frequency", "status", "amount_minor",
        "refunded_minor", "currency", "paid_at", "stripe_payment_intent_id", "stripe_invoice_id",
        "stripe_charge_id",
    ]  # fmt: skip
    assert [(row[3], row[5], row[6], row[7], row[8], row[9]) for row in exported[1:]] == [
        ("ada@example.org", "succeeded", "1530", "0", "usd", "2025-03-31T12:00:00+00:00"),
        ("early@example.org", "refunded", "500000", "500000", "jpy", "2025-03-01T12:00:00+00:00"),
    ]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("Ada = Countess", "Ada = Countess"),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_written_as_text(text, written):
    assert exports._cell(text) == written


def test_each_export_is_audited_once_with_its_kind_and_period(client, log_in_as, ledger):
    log_in_as("admin")

    for kind in ("donors", "gifts", "payments"):
        client.get(f"/staff/export/{kind}.csv", query_string=PERIOD).get_data()

    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)
    ).all()
    assert [(e.target, e.data, e.actor_email, e.ip) for e in entries] == [
        (f"export:{kind}", {"kind": kind, "from": "2025-03-01", "to": "2025-03-31"}, "admin@example.org",
         "127.0.0.1")
        for kind in ("donors", "gifts", "payments")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": "2025-03-01"},
        {"from": "2025-03-31", "to": "2025-03-01"},
        {"from": "March", "to": "April"},
    ],
)
def test_an_export_needs_a_period(client, log_in_as, query):
    log_in_as("admin")
    response = client.get("/staff/export/donors.csv", query_string=query)
    assert response.status_code == 400 and "Export as CSV" in response.text
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export")) is None


@pytest.mark.parametrize("role", ["viewer", "fundraiser"])
def test_only_admins_export(client, log_in_as, ledger, role):
    log_in_as(role)
    for kind in ("donors", "gifts", "payments"):
        assert client.get(f"/staff/export/{kind}.csv", query_string=PERIOD).status_code == 403
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export")) is None


def test_an_unknown_export_is_a_404(client, log_in_as):
    log_in_as("admin")
    assert client.get("/staff/export/staff.csv", query_string=PERIOD).status_code == 404


def test_a_large_export_streams_in_batches(client, log_in_as, monkeypatch):
    db.session.add_all(
        factories.donor(email=f"d{number}@example.org", name=f"Donor {number}", created_at=at(10), save=False)
        for number in range(25)
    )
    db.session.commit()
    monkeypatch.setattr(exports, "BATCH", 10)
    log_in_as("admin")

    response = client.get("/staff/export/donors.csv", query_string=PERIOD)
    chunks = list(response.response)

    assert [chunk.count(b"\n") for chunk in chunks] == [1, 10, 10, 5]
    assert b"".join(chunks).decode().count("Donor ") == 25
