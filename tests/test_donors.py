"""Donors in the staff area: the list (search, filters, sorting, pages), one donor's history,
and erasure on request."""

import re
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    Actor,
    AuditEntry,
    Donor,
    Frequency,
    GiftEvent,
    GiftStatus,
    Payment,
    utcnow,
)
from banner.services import donors
from tests import factories

NOW = utcnow()
numbers = count(1)


def add_donor(name, *gifts, email=None, joined=None):
    """Add a donor with gifts given as (frequency, status, [(amount, days ago), ...])."""
    donor = factories.donor(
        name=name,
        email=email or f"{name.lower().replace(' ', '.')}@example.org",
        created_at=joined or NOW - timedelta(days=400),
        save=False,
    )
    for frequency, status, payments in gifts:
        amount = payments[0][0] if payments else 1000
        gift = factories.gift(frequency, status, donor=donor, amount=amount, save=False)
        for amount, days_ago in payments:
            factories.payment(
                gift,
                stripe_invoice_id=f"in_{next(numbers)}",
                amount=amount,
                paid_at=NOW - timedelta(days=days_ago),
                save=False,
            )
        db.session.add(gift)
    db.session.add(donor)
    db.session.commit()
    return donor


def names(page) -> list[str]:
    return [row.name for row in page.rows]


@pytest.fixture
def crowd(app):
    """One donor of each kind the filters tell apart."""
    month, once = Frequency.MONTH, Frequency.ONCE
    add_donor("Monthly Mo", (month, GiftStatus.ACTIVE, [(1000, 40), (1000, 10)]))
    add_donor("Late Lee", (month, GiftStatus.PAST_DUE, [(1000, 45)]))
    add_donor("Leaving Liv", (month, GiftStatus.CANCELLING, [(1000, 20)]))
    add_donor("Paused Pat", (month, GiftStatus.PAUSED, [(1000, 50)]))
    add_donor(
        "Gone Gus", (month, GiftStatus.CANCELLED, [(1000, 100)]), (once, GiftStatus.SUCCEEDED, [(500, 90)])
    )
    add_donor("Once Ona", (once, GiftStatus.SUCCEEDED, [(5000, 30)]))
    add_donor("Tried Ted", (month, GiftStatus.FAILED, []), (once, GiftStatus.SUCCEEDED, [(2500, 5)]))
    add_donor("Old Olga", (once, GiftStatus.SUCCEEDED, [(7500, 400)]))
    add_donor("Never Nell", (once, GiftStatus.FAILED, []))


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("monthly", {"Monthly Mo", "Late Lee", "Leaving Liv"}),
        ("past_due", {"Late Lee"}),
        ("cancelled", {"Gone Gus"}),
        ("one_time", {"Once Ona", "Tried Ted", "Old Olga"}),
        ("lapsed", {"Old Olga"}),
        ("all", {"Monthly Mo", "Late Lee", "Leaving Liv", "Paused Pat", "Gone Gus", "Once Ona", "Tried Ted",
                 "Old Olga", "Never Nell"}),
    ],
)  # fmt: skip
def test_filters_pick_donors_by_how_they_give(crowd, choice, expected):
    page = donors.donor_page(donors.DonorQuery(filter=choice))
    assert set(names(page)) == expected and page.count == len(expected)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("mo", {"Monthly Mo"}),
        ("OLGA", {"Old Olga"}),
        ("ted@EXAMPLE", {"Tried Ted"}),
        ("e.l", {"Late Lee"}),
        ("%", set()),
        ("_", set()),
    ],
)
def test_search_finds_part_of_a_name_or_email_in_any_case(crowd, search, expected):
    assert set(names(donors.donor_page(donors.DonorQuery(search=search)))) == expected


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        ("total", True, ["Old Olga", "Once Ona", "Tried Ted", "Monthly Mo"]),
        ("total", False, ["Never Nell", "Late Lee", "Leaving Liv", "Paused Pat"]),
        ("last_gift", True, ["Tried Ted", "Monthly Mo", "Leaving Liv", "Once Ona"]),
        ("last_gift", False, ["Old Olga", "Gone Gus", "Paused Pat", "Late Lee"]),
        ("name", False, ["Gone Gus", "Late Lee", "Leaving Liv", "Monthly Mo"]),
        ("email", True, ["Tried Ted", "Paused Pat", "Once Ona", "Old Olga"]),
    ],
)
def test_donors_sort_by_each_column(crowd, sort, descending, expected):
    page = donors.donor_page(donors.DonorQuery(sort=sort, descending=descending))
    assert names(page)[:4] == expected


def test_donors_who_never_paid_come_last_by_last_gift_either_way(crowd):
    for descending in (True, False):
        page = donors.donor_page(donors.DonorQuery(sort="last_gift", descending=descending))
        assert names(page)[-1] == "Never Nell"


def test_each_row_shows_the_net_total_and_the_last_payment(app):
    add_donor("Ada", (Frequency.ONCE, GiftStatus.SUCCEEDED, [(2500, 3), (1000, 9)]))
    db.session.scalar(sa.select(Payment).where(Payment.amount == 1000)).amount_refunded = 400  # a refund
    db.session.commit()

    [row] = donors.donor_page(donors.DonorQuery()).rows

    assert (row.total, row.currency, row.several_currencies) == (3100, "usd", False)
    assert row.last_paid_at == NOW - timedelta(days=3)


def test_the_list_is_one_query_for_the_page_and_one_for_the_count(app):
    for number in range(120):
        add_donor(f"Donor {number:03}", (Frequency.ONCE, GiftStatus.SUCCEEDED, [(100 + number, number)]))
    statements = []

    def note(connection, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)

    for sort in donors.SORTS:
        statements.clear()
        page = donors.donor_page(donors.DonorQuery(sort=sort, page=3, filter="one_time", search="donor"))
        assert len(statements) == 2, sort
        assert (page.count, page.pages, len(page.rows)) == (120, 3, 20)
    sa.event.remove(db.engine, "before_cursor_execute", note)


def test_pages_hold_fifty_donors_each(app):
    db.session.add_all(
        factories.donor(
            name=f"Donor {number:03}",
            email=f"d{number}@example.org",
            created_at=NOW - timedelta(days=number),
            save=False,
        )
        for number in range(120)
    )
    db.session.commit()

    pages = [donors.donor_page(donors.DonorQuery(page=number)) for number in (1, 2, 3, 4)]

    assert [len(page.rows) for page in pages] == [50, 50, 20, 0]
    assert names(pages[0])[0] == "Donor 000" and names(pages[2])[-1] == "Donor 119"
    assert len({name for page in pages for name in names(page)}) == 120


# The donor list page


def test_the_donor_list_page_searches_filters_sorts_and_pages(client, log_in_as, crowd):
    log_in_as("viewer")

    page = client.get("/staff/donors?q=o&filter=one_time&sort=total&order=desc").text

    rows = re.findall(r'<th scope="row"><a href="/staff/donors/\d+">([^<]+)</a>', page)
    assert rows == ["Old Olga", "Once Ona", "Tried Ted"]
    assert "3 donors" in page and "$75" in page and "$50" in page
    assert '<th scope="col" class="number" aria-sort="descending">' in page
    assert "Export as CSV" not in page  # admins only


def test_the_donor_list_refuses_nonsense(client, log_in_as):
    log_in_as("viewer")
    assert client.get("/staff/donors?sort=password").status_code == 400
    assert client.get("/staff/donors?filter=everyone").status_code == 400
    assert client.get("/staff/donors?page=0").status_code == 400
    assert client.get("/staff/donors?page=&q=").status_code == 200


def test_admins_see_the_export_form(client, log_in_as):
    log_in_as("admin")
    page = client.get("/staff/donors").text
    assert 'formaction="/staff/export/payments.csv"' in page and 'name="from"' in page and 'name="to"' in page


# One donor


@pytest.fixture
def ada(app):
    """A donor whose monthly gift started, went up, and was cancelled, with a one-time gift too."""
    ada = add_donor(
        "Ada Lovelace",
        (Frequency.MONTH, GiftStatus.ACTIVE, [(1000, 60), (1500, 30)]),
        (Frequency.ONCE, GiftStatus.SUCCEEDED, [(2500, 45)]),
    )
    ada.stripe_customer_id = "cus_ada"
    monthly = ada.gifts[0]
    monthly.amount = 1500
    change = {"old": {"amount": 1000, "frequency": "month"}, "new": {"amount": 1500, "frequency": "month"}}
    monthly.events.append(GiftEvent(kind="amount", actor=Actor.DONOR, reason="can give more", data=change))
    db.session.commit()
    monthly.cancellation_comment = "Moving abroad, thank you for everything"
    monthly.events.append(
        GiftEvent(
            kind="cancel_request",
            actor=Actor.DONOR,
            reason="Moving abroad",
            data={"reason": "financial", "at_period_end": True, "offered": ["pause"]},
        )
    )
    monthly.set_status(
        GiftStatus.CANCELLED, Actor.STAFF, actor_ref="admin@example.org", reason="asked by phone"
    )
    db.session.commit()
    return ada


def test_the_donor_page_shows_gifts_payments_and_one_timeline(client, log_in_as, ada):
    log_in_as("viewer")

    page = client.get(f"/staff/donors/{ada.id}").text

    assert "Ada Lovelace" in page and "ada.lovelace@example.org" in page
    assert 'href="https://dashboard.stripe.com/test/customers/cus_ada"' in page
    assert "Monthly $15 · cancelled" in page and "One-time $25 · succeeded" in page
    assert page.count("<caption>Payments of gift") == 2 and "$25" in page
    timeline = page[page.index('id="timeline-title"') :]
    whats = re.findall(r"<td><a href=\"#gift-\d+\">#\d+</a></td>\s*<td>(.*?)</td>", timeline, re.S)
    assert [" ".join(what.split()) for what in whats] == [
        "active → cancelled",
        "Asked to cancel at the end of the paid period: My finances changed; offered a pause",
        "Monthly value: voluntary churn, −$15 a month",  # noqa: RUF001 (a minus sign, as printed)
        "Amount: $10/month → $15/month",
        "Monthly value: expansion, +$5 a month",
        "Monthly value: new, +$10 a month",
    ]
    assert "admin@example.org" in timeline and "asked by phone" in timeline and "can give more" in timeline


def test_an_unknown_donor_is_a_404(client, log_in_as):
    log_in_as("viewer")
    assert client.get("/staff/donors/999").status_code == 404


# Erasure


@pytest.mark.usefixtures("stripe_base")
def test_admin_erases_a_donor_after_confirming(client, log_in_as, ada):
    log_in_as("admin")
    confirm = client.get(f"/staff/donors/{ada.id}/erase")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text

    unconfirmed = client.post(f"/staff/donors/{ada.id}/erase", data={})
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
    assert db.session.get(Donor, ada.id).name == "Ada Lovelace"

    response = client.post(f"/staff/donors/{ada.id}/erase", data={"confirm": "y"})

    assert response.status_code == 302 and response.headers["Location"] == f"/staff/donors/{ada.id}"
    db.session.expire_all()
    donor = db.session.get(Donor, ada.id)
    assert (donor.name, donor.email) == ("Erased donor", f"erased-{ada.id}@invalid")
    assert [gift.cancellation_comment for gift in donor.gifts] == [None, None]
    cancel_requests = [e for gift in donor.gifts for e in gift.events if e.kind == "cancel_request"]
    assert [e.reason for e in cancel_requests] == [None]
    kept = [e.reason for gift in donor.gifts for e in gift.events if e.reason]
    assert sorted(kept) == ["asked by phone", "can give more"]
    assert sorted(p.amount for gift in donor.gifts for p in gift.payments) == [1000, 1500, 2500]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donor_erase"))
    assert (entry.target, entry.actor_email) == (f"donor:{ada.id}", "admin@example.org")
    assert "Lovelace" not in str(entry.data)
    page = client.get(f"/staff/donors/{ada.id}").text
    assert "Lovelace" not in page and "Moving abroad" not in page


def test_a_donor_with_a_running_monthly_gift_is_not_erased(client, log_in_as):
    donor = add_donor("Mo", (Frequency.MONTH, GiftStatus.ACTIVE, [(1000, 3)]))
    log_in_as("admin")

    response = client.post(f"/staff/donors/{donor.id}/erase", data={"confirm": "y"})

    assert response.status_code == 409 and "Cancel it first" in response.text
    db.session.expire_all()
    assert db.session.get(Donor, donor.id).name == "Mo"
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "donor_erase")) is None


@pytest.mark.parametrize("role", ["viewer", "fundraiser"])
def test_only_admins_erase(client, log_in_as, ada, role):
    log_in_as(role)
    assert client.post(f"/staff/donors/{ada.id}/erase", data={"confirm": "y"}).status_code == 403
    assert "Erase this donor" not in client.get(f"/staff/donors/{ada.id}").text
    assert db.session.get(Donor, ada.id).name == "Ada Lovelace"


def test_dates_are_shown_in_utc(client, log_in_as):
    add_donor("Ada", joined=datetime(2025, 3, 1, 23, 30, tzinfo=UTC))
    log_in_as("viewer")
    assert '<time datetime="2025-03-01T23:30:00+00:00">2025-03-01</time>' in client.get("/staff/donors").text
