"""A gift's rules, in one place: its states, named sets of them, the moves allowed between
them, and the watermark ordering Stripe's news; templates and services ask them."""

import ast
import re
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    CHANGEABLE,
    COUNTED_IN_MRR,
    LIVE,
    MRR_STATUSES,
    TRANSITIONS,
    Actor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    TransitionRefused,
    watermark,
)
from banner.services import lifecycle, manage
from banner.services.links import manage_url
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
EVERY_MOVE = list(product([None, *GiftStatus], GiftStatus))


def describe(table) -> str:
    return "\n".join(
        f"{(before.value if before else 'new'):>16} -> {', '.join(sorted(s.value for s in after)) or '(none)'}"
        for before, after in table.items()
    )


def test_every_status_has_a_row_in_the_transition_table():
    print(describe(TRANSITIONS))
    assert set(TRANSITIONS) == {None, *GiftStatus}


@pytest.mark.parametrize(("before", "after"), EVERY_MOVE, ids=lambda s: s.value if s else "new")
def test_set_status_makes_exactly_the_moves_in_the_table(before, after):
    gift = factories.gift(Frequency.MONTH, before, donor=None, save=False)

    if after in TRANSITIONS[before]:
        gift.set_status(after, Actor.SYSTEM, reason="test")
        assert gift.status is after and gift.events[-1].to_status is after
    else:
        with pytest.raises(TransitionRefused):
            gift.set_status(after, Actor.SYSTEM, reason="test")
        assert gift.status is before and not gift.events


def test_a_cancelled_gift_stays_cancelled():
    gift = factories.gift(Frequency.MONTH, GiftStatus.CANCELLED, donor=None, save=False)

    with pytest.raises(TransitionRefused, match="from cancelled to active"):
        gift.set_status(GiftStatus.ACTIVE, Actor.STRIPE)


def test_the_mrr_statuses_are_the_ones_counted_in_mrr():
    assert MRR_STATUSES is COUNTED_IN_MRR and COUNTED_IN_MRR < LIVE and CHANGEABLE < LIVE


def test_the_watermark_orders_by_second_then_by_kind():
    second = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    created = int(second.timestamp())

    assert watermark(second, "invoice.paid") == watermark(created, "invoice.paid")
    assert watermark(created, "customer.subscription.created") < watermark(
        created, "customer.subscription.deleted"
    )
    assert watermark(created, "invoice.payment_failed") < watermark(created, "invoice.paid")
    assert watermark(created, "customer.deleted") < watermark(created + 1, "customer.subscription.created")


def test_a_webhook_delivery_is_marked_by_the_one_watermark():
    event = {"id": "evt_1", "type": "invoice.paid", "created": 1_770_000_000}

    assert lifecycle.Delivery(event).mark == watermark(1_770_000_000, "invoice.paid")


# Every copy of a rule lives in banner/models/gift_rules.py: nothing else spells a set of
# statuses or the watermark's arithmetic, and no template compares status strings.


def python_sources():
    for path in sorted((ROOT / "banner").rglob("*.py")):
        if path.name != "gift_rules.py":
            yield path


def status_collections(path: Path) -> list[str]:
    """Return the tuples, lists and sets of two or more GiftStatus members in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            members = [
                e for e in node.elts if isinstance(e, ast.Attribute) and ast.unparse(e.value) == "GiftStatus"
            ]
            if len(members) >= 2 or (members and any(isinstance(e, ast.Starred) for e in node.elts)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_spells_out_a_set_of_statuses_of_its_own():
    assert [found for path in python_sources() for found in status_collections(path)] == []


def test_no_module_computes_a_watermark_of_its_own():
    spelled = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in python_sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\*\s*10\s*\+", line)
    ]
    assert spelled == []


def test_no_template_compares_status_strings():
    compared = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "templates").rglob("*.*"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"gift\.status(\.value)?\s*(==|!=|\bin\b|\bnot in\b)|set status = gift\.status", line)
    ]
    assert compared == []


# Templates ask the model


def add_gift(status: GiftStatus) -> Gift:
    donor = factories.donor(
        name="Ada Lovelace", email="ada@example.org", stripe_customer_id="cus_ada", save=False
    )
    gift = factories.gift(
        Frequency.MONTH, status, donor=donor, stripe_subscription_id=f"sub_{status.value}", save=False
    )
    gift.events.append(GiftEvent(kind="created", actor=Actor.DONOR, data={}))
    db.session.add(gift)
    db.session.commit()
    return gift


def manage_page(client, gift: Gift) -> str:
    link = manage_url(gift.donor).split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + link).status_code == 302
    return client.get("/manage/gifts").text


@pytest.mark.parametrize("status", sorted(LIVE, key=lambda s: s.value), ids=lambda s: s.value)
def test_the_manage_page_offers_changes_exactly_for_changeable_gifts(client, status):
    gift = add_gift(status)

    page = manage_page(client, gift)

    assert ("Cancel my gift" in page) is (status in CHANGEABLE)
    assert ("Confirm my payment" in page) is (status is GiftStatus.ACTION_REQUIRED)
    assert ("Resume now" in page) is (status is GiftStatus.PAUSED)
    assert ("Keep my gift" in page) is (status is GiftStatus.CANCELLING)


def test_a_gift_ending_at_the_close_of_its_period_may_be_kept_active():
    gift = factories.gift(Frequency.MONTH, GiftStatus.CANCELLING, donor=None, save=False)

    gift.set_status(GiftStatus.ACTIVE, Actor.DONOR, reason="kept")

    assert gift.status is GiftStatus.ACTIVE


@pytest.mark.parametrize("status", sorted(LIVE, key=lambda s: s.value), ids=lambda s: s.value)
def test_staff_may_cancel_exactly_the_changeable_gifts(client, log_in_as, status):
    gift = add_gift(status)
    log_in_as("admin")

    page = client.get(f"/staff/donors/{gift.donor_id}").text

    assert ("Cancel this gift at the donor" in page) is (status in CHANGEABLE)


def test_a_gift_ending_at_the_close_of_its_period_cannot_be_changed_any_more(app):
    gift = add_gift(GiftStatus.CANCELLING)

    with pytest.raises(manage.ManageError, match="cannot be changed"):
        manage.pause(gift, 1, "key")
    assert db.session.scalar(sa.select(Gift.status).where(Gift.id == gift.id)) is GiftStatus.CANCELLING
