"""Monthly value: random gift histories agree to the cent on movements, reports and variants."""

from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banner.extensions import db
from banner.models import (
    Actor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Variant,
    utcnow,
)
from banner.services import campaigns, manage, reports
from tests import factories
from tests.conftest import empty_tables

MONTHS = 4
#: what may happen next to a recurring gift in each status, and the cancellation channel it takes
NEXT = {
    GiftStatus.ACTIVE: [
        (GiftStatus.PAUSED, None),
        (GiftStatus.PAST_DUE, None),
        (GiftStatus.CANCELLING, "donor"),
        (GiftStatus.CANCELLED, "staff"),
    ],
    GiftStatus.PAUSED: [(GiftStatus.ACTIVE, None), (GiftStatus.CANCELLED, "donor")],
    GiftStatus.PAST_DUE: [(GiftStatus.ACTIVE, None), (GiftStatus.CANCELLED, "failed_payment")],
    GiftStatus.CANCELLING: [(GiftStatus.CANCELLED, "donor"), (GiftStatus.ACTIVE, None)],
    GiftStatus.CANCELLED: [],
}

amounts = st.integers(min_value=100, max_value=100_000)
frequencies = st.sampled_from([Frequency.MONTH, Frequency.YEAR, Frequency.ONCE])
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # which gift
        st.sampled_from(["amount", "frequency", "status"]),
        amounts,
        st.integers(min_value=0, max_value=3),  # which next status
        st.integers(min_value=0, max_value=MONTHS - 1),  # which month
    ),
    max_size=8,
)
histories = st.tuples(
    st.lists(
        st.tuples(frequencies, amounts, st.integers(min_value=0, max_value=MONTHS - 1)),
        min_size=1,
        max_size=4,
    ),
    steps,
)


def backdate(since_id: int, when) -> None:
    """Move the events the last commit added to `when`, as if it had happened then."""
    db.session.execute(sa.update(GiftEvent).where(GiftEvent.id > since_id).values(created_at=when))
    db.session.commit()


def last_event_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(GiftEvent.id), 0)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_movements_reports_and_gifts_agree_on_monthly_revenue(app, history):
    db.session.remove()  # the last example's transaction would hold back emptying the tables
    empty_tables()
    campaign = factories.campaign(
        slug="drive", title="Drive", preset_amounts=[], variants=[Variant(key="a", heading="Give")]
    )
    keys = reports.months_back(MONTHS)
    now = utcnow()

    def moment(month: int, index: int):
        return min(
            reports.month_start(keys[month]) + timedelta(hours=index + 1),
            now - timedelta(seconds=100 - index),
        )

    made, changes = history
    # Everything happens in time order: each gift is made, then changed, within the months shown.
    actions = [(month, "make", n, spec) for n, (*spec, month) in enumerate(made)]
    actions += [(month, "change", n, step) for n, (*step, month) in enumerate(changes)]
    actions.sort(key=lambda action: action[0])
    gifts: dict[int, Gift] = {}
    for index, (month, kind, n, spec) in enumerate(actions):
        seen = last_event_id()
        if kind == "make":
            frequency, amount = spec
            gift = factories.gift(
                frequency,
                donor=factories.donor(email=f"d{n}@example.org", name=f"D{n}", save=False),
                amount=amount,
                campaign=campaign,
                variant=campaign.variants[0],
                save=False,
            )
            db.session.add(gift)
            gifts[n] = gift
        else:
            which, what, amount, choice = spec
            gift = gifts.get(which)
            if gift is None or not gift.frequency.recurring or not NEXT[gift.status]:
                continue
            if what == "amount":
                gift.amount = amount
            elif what == "frequency":
                gift.frequency = Frequency.YEAR if gift.frequency is Frequency.MONTH else Frequency.MONTH
            else:
                status, channel = NEXT[gift.status][choice % len(NEXT[gift.status])]
                gift.cancellation_channel = channel or gift.cancellation_channel
                gift.set_status(status, Actor.DONOR)
        db.session.commit()
        backdate(seen, moment(month, index))

    movements = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(GiftEvent.mrr_delta), 0)))
    in_sql = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Gift.monthly_value), 0)))
    in_python = sum(gift.monthly_value for gift in gifts.values())
    report = reports.recurring("usd", months=MONTHS)
    (variant,) = campaigns.variant_results(campaign)

    assert movements == report.mrr == in_sql == in_python == variant.new_monthly
    assert report.months[0].mrr_start == 0  # nothing before the first month
    for month in report.months:
        assert month.mrr_start + sum(month.movements.values()) == month.mrr_end
    for before, after in zip(report.months, report.months[1:], strict=False):
        assert before.mrr_end == after.mrr_start
    assert report.months[-1].mrr_end == report.mrr


def test_a_yearly_gift_offered_as_monthly_is_offered_its_monthly_value(app):
    gift = factories.gift(
        Frequency.YEAR, GiftStatus.ACTIVE, donor=None, amount=5000, fee_amount=0, save=False
    )

    assert manage.proposed_amount(gift, Frequency.MONTH) == gift.monthly_amount == 417
