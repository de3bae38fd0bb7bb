"""Donors as staff see them: a list to search, filter and sort, one donor's whole history, and
what staff do for a donor who asks: correct their name or e-mail, cancel a gift (erasure and
export of their personal data: services.privacy).

The list is built by SQL alone (one query for the page, one for the count), so it stays quick
with a hundred thousand donors and a million payments: what donors gave, and when they last did,
comes from their gifts' own totals (`Gift.received`, `Gift.last_paid_at`), never from adding up
payments.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from banner import mail, payments
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import (
    BEFORE_FIRST_PAYMENT,
    COUNTED_IN_MRR,
    LIVE,
    PAID,
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    StaffUser,
    normalise_email,
    utcnow,
)
from banner.services import manage, outbox
from banner.services.audit import record_audit
from banner.services.links import manage_url

PAGE_SIZE = 50
#: a donor whose last payment is older than this has lapsed
LAPSED_AFTER = timedelta(days=365)
#: filter name -> label
FILTERS = {
    "all": "All donors",
    "monthly": "Monthly active",
    "past_due": "Past due",
    "cancelled": "Cancelled",
    "one_time": "One-time only",
    "lapsed": "Lapsed (no payment for 12 months)",
}
#: sort name -> label
SORTS = {
    "name": "Name",
    "email": "E-mail",
    "total": "Total given",
    "last_gift": "Last gift",
    "joined": "Joined",
}
#: a gift that has been paid at least once
PAID_AT_LEAST_ONCE = Gift.last_paid_at.is_not(None)


class DonorEditError(ServiceError):
    """The edit cannot be made; the message says why, fit to show staff."""


@dataclass(frozen=True)
class DonorQuery:
    """What staff asked the donor list for."""

    search: str = ""  #: part of an e-mail or name, any case
    filter: str = "all"  #: a key of FILTERS
    sort: str = "joined"  #: a key of SORTS
    descending: bool = True
    page: int = 1


@dataclass(frozen=True)
class DonorRow:
    id: int
    name: str
    email: str
    joined: datetime
    total: int  #: everything received, net of refunds, in minor units of `currency`
    currency: str | None  #: None: never paid
    several_currencies: bool  #: then `total` adds up amounts in different currencies
    last_paid_at: datetime | None


@dataclass(frozen=True)
class DonorPage:
    rows: list[DonorRow]
    count: int  #: donors matching the query, on every page
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // PAGE_SIZE))


@dataclass(frozen=True)
class DonorHistory:
    donor: Donor
    gifts: list[Gift]  #: newest first, each with its payments
    timeline: list[GiftEvent]  #: every event of every gift, newest first


def donor_page(query: DonorQuery, now: datetime | None = None) -> DonorPage:
    """Return one page of the donors matching `query`, with what each gave and when they last did."""
    conditions = _conditions(query, now or utcnow())
    count = db.session.execute(sa.select(sa.func.count(Donor.id)).where(*conditions)).scalar_one()
    # First the page's 50 donors, then the sums of their payments only.
    key, page = _sort_key(query.sort, conditions)
    page = page.add_columns(key.label("key")).order_by(*_order(key, query)).limit(PAGE_SIZE)
    page = page.offset((query.page - 1) * PAGE_SIZE).cte("page")
    totals = _totals(Gift.donor_id.in_(sa.select(page.c.id)))
    statement = (
        sa.select(
            Donor.id,
            Donor.name,
            Donor.email,
            Donor.created_at,
            totals.c.total,
            totals.c.last_paid_at,
            totals.c.currency,
            totals.c.other_currency,
        )
        .join(page, page.c.id == Donor.id)
        .outerjoin(totals, totals.c.donor_id == Donor.id)
        .order_by(*_order(page.c.key, query))
    )
    rows = [
        DonorRow(
            id=row.id,
            name=row.name,
            email=row.email,
            joined=row.created_at,
            total=int(row.total or 0),
            currency=row.currency,
            several_currencies=row.currency != row.other_currency,
            last_paid_at=row.last_paid_at,
        )
        for row in db.session.execute(statement)
    ]
    return DonorPage(rows=rows, count=count, page=query.page)


def history(donor_id: int) -> DonorHistory | None:
    """Return the donor with every gift, payment and gift event, or None."""
    donor = db.session.get(Donor, donor_id)
    if donor is None:
        return None
    gifts = db.session.scalars(
        sa.select(Gift)
        .where(Gift.donor_id == donor.id)
        .options(selectinload(Gift.payments), selectinload(Gift.campaign), selectinload(Gift.variant))
        .order_by(Gift.created_at.desc(), Gift.id.desc())
    ).all()
    timeline = db.session.scalars(
        sa.select(GiftEvent)
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(Gift.donor_id == donor.id)
        .order_by(GiftEvent.created_at.desc(), GiftEvent.id.desc())
    ).all()
    return DonorHistory(donor=donor, gifts=list(gifts), timeline=list(timeline))


def edit(staff: StaffUser, donor: Donor, name: str, email: str, action_key: str, ip: str | None) -> bool:
    """Correct a donor's name or e-mail, at Stripe first (nothing changes here when Stripe
    fails); return whether anything changed. A new e-mail voids the manage links sent to the
    old one. The audit log names the fields changed, not their values, so that an erasure later
    leaves no copy of them."""
    if donor.erased:
        raise DonorEditError("This donor's personal data was erased; there is nothing to edit.")
    name, email = name.strip(), normalise_email(email)
    changed = [field for field, value in (("name", name), ("email", email)) if getattr(donor, field) != value]
    if not changed:
        return False
    other = sa.select(Donor.id).where(Donor.email == email, Donor.id != donor.id)
    if "email" in changed and db.session.scalar(other) is not None:
        raise DonorEditError("Another donor has this e-mail address; nothing was changed.")
    # Each recurring gift has its own Stripe customer: every one of them learns the correction.
    customers = [donor.stripe_customer_id, *(gift.stripe_customer_id for gift in donor.gifts)]
    for customer in sorted({customer for customer in customers if customer is not None}):
        payments.update_customer(customer, email, name, f"donor-{donor.id}-edit-{action_key}-{customer}")
    donor.name, donor.email = name, email
    record_audit("donor_edit", staff, ip, target=f"donor:{donor.id}", data={"changed": changed})
    db.session.commit()
    return True


def cancel_gift(
    staff: StaffUser,
    gift: Gift,
    reason: str,
    comment: str | None,
    at_period_end: bool,
    action_key: str,
    ip: str | None,
) -> bool:
    """Cancel a donor's monthly or yearly gift at their request (a call, a letter), with their
    reason: at Stripe, in the gift's timeline (actor: this staff member), in the audit log, and
    with the confirmation e-mail a donor who cancels gets. Return False when it was cancelled or
    ending already."""
    changed = manage.end_gift(
        gift,
        reason,
        comment,
        at_period_end,
        action_key,
        actor=Actor.STAFF,
        actor_ref=staff.email,
        channel="staff",
    )
    if not changed:
        return False
    donor = gift.donor
    assert donor is not None  # only a live gift can end, and a live gift has its donor (a check says so)
    data = {"donor": gift.donor_id, "reason": reason, "at_period_end": at_period_end}
    record_audit("gift_cancel", staff, ip, target=f"gift:{gift.reference}", data=data)
    outbox.queue_or_log(lambda: mail.send_cancellation(gift, manage_url(donor)), "cancellation")
    db.session.commit()
    return True


def _conditions(query: DonorQuery, now: datetime) -> list:
    conditions = []
    if query.search:
        conditions.append(
            sa.or_(
                Donor.email.icontains(query.search, autoescape=True),
                Donor.name.icontains(query.search, autoescape=True),
            )
        )
    started_recurring = _has_gift(Gift.frequency != Frequency.ONCE, Gift.status.not_in(BEFORE_FIRST_PAYMENT))
    chosen = {
        "all": None,
        "monthly": _has_gift(Gift.status.in_(COUNTED_IN_MRR)),
        "past_due": _has_gift(Gift.status == GiftStatus.PAST_DUE),
        "cancelled": sa.and_(started_recurring, ~_has_gift(Gift.status.in_(LIVE))),
        "one_time": sa.and_(_has_gift(Gift.status.in_(PAID)), ~started_recurring),
        "lapsed": sa.and_(
            _has_gift(Gift.status.in_(PAID)), ~_has_gift(Gift.last_paid_at >= now - LAPSED_AFTER)
        ),
    }[query.filter]
    if chosen is not None:
        conditions.append(chosen)
    return conditions


def _has_gift(*conditions):
    return sa.exists().where(Gift.donor_id == Donor.id, *conditions)


def _totals(*conditions):
    """Each donor's gifts added up: net total, last payment, lowest and highest currency paid in."""
    return (
        sa.select(
            Gift.donor_id.label("donor_id"),
            sa.func.sum(Gift.received).label("total"),
            sa.func.max(Gift.last_paid_at).label("last_paid_at"),
            sa.func.min(Gift.currency).filter(PAID_AT_LEAST_ONCE).label("currency"),
            sa.func.max(Gift.currency).filter(PAID_AT_LEAST_ONCE).label("other_currency"),
        )
        .where(*conditions)
        .group_by(Gift.donor_id)
        .subquery("totals")
    )


def _sort_key(sort: str, conditions: list):
    """Return the column to sort donors by, and the query of the matching donors' ids that can
    sort by it."""
    page = sa.select(Donor.id).where(*conditions)
    if sort in ("name", "email", "joined"):
        return {"name": Donor.name, "email": Donor.email, "joined": Donor.created_at}[sort], page
    # Sorting by money needs the figure of every matching donor: one pass over the gifts.
    figure = sa.func.sum(Gift.received) if sort == "total" else sa.func.max(Gift.last_paid_at)
    figures = sa.select(Gift.donor_id.label("donor_id"), figure.label("figure"))
    if conditions:
        figures = figures.where(Gift.donor_id.in_(sa.select(Donor.id).where(*conditions).correlate(None)))
    sums = figures.group_by(Gift.donor_id).subquery("sums")
    key = sa.func.coalesce(sums.c.figure, 0) if sort == "total" else sums.c.figure
    return key, page.outerjoin(sums, sums.c.donor_id == Donor.id)


def _order(key, query: DonorQuery) -> list:
    """ORDER BY `key` (donors who never paid last), then the donor's id to break ties.

    NULLS LAST only where the key can be NULL: on the donor columns it would keep PostgreSQL
    from reading their indexes backwards.
    """
    direction = sa.desc if query.descending else sa.asc
    key = direction(key)
    if query.sort == "last_gift":
        key = key.nulls_last()
    return [key] if query.sort == "email" else [key, direction(Donor.id)]
