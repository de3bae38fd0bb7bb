"""Monthly recurring revenue as movements: every change of a gift's monthly value is kept as
an "mrr" GiftEvent by the listener below, so MRR at any date, the monthly waterfall and churn
are sums of them."""

import sqlalchemy as sa
import sqlalchemy.orm

from banner.models.base import utcnow
from banner.models.donor import Actor, Gift, GiftEvent, monthly_value, movement


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _record_mrr_movements(session, flush_context, instances) -> None:
    """Add an "mrr" event to every gift whose monthly value this flush changes."""
    for gift in [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Gift)]:
        state: sa.orm.InstanceState[Gift] = sa.inspect(gift)
        old = {}
        for name in ("status", "amount", "frequency"):
            history = state.attrs[name].history
            old[name] = history.deleted[0] if history.deleted else getattr(gift, name)
        before = 0 if state.pending else monthly_value(old["amount"], old["frequency"], old["status"])
        after = monthly_value(gift.amount, gift.frequency, gift.status)
        if before == after:
            continue
        with session.no_autoflush:
            returning = before == 0 and _gave_monthly_before(session, gift)
        # The movement is credited to whoever made the change in this flush, if anyone said.
        cause = next((e for e in reversed(gift.events) if e.id is None and e.kind != "mrr"), None)
        gift.events.append(
            GiftEvent(
                kind="mrr",
                actor=cause.actor if cause else Actor.SYSTEM,
                actor_ref=cause.actor_ref if cause else None,
                movement=movement(before, after, gift.status, gift.cancellation_channel, returning),
                mrr_delta=after - before,
                from_status=old["status"],
                to_status=gift.status,
                created_at=utcnow(),
            )
        )


def _gave_monthly_before(session, gift: Gift) -> bool:
    """Whether this gift, or another of its donor's, counted in MRR before."""
    if any(event.movement and event.mrr_delta > 0 for event in gift.events):
        return True
    donor_id = gift.donor_id if gift.donor_id is not None else getattr(gift.donor, "id", None)
    if donor_id is None:
        return False
    earlier = (
        sa.select(GiftEvent.id)
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(Gift.donor_id == donor_id, GiftEvent.mrr_delta > 0)
        .limit(1)
    )
    return session.execute(earlier).first() is not None
