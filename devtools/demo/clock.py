"""The demo history's clock, and the mail its events queue.

Time travel: every time the service reads (rows' created_at, the "mrr" movements, the watermark
of the manage page's answers, a receipt's moment) comes from banner.models.base.utcnow. While a
history is made, that function's clock shows the moment of the event being applied, so each row
carries the time its event happened, months ago, and nothing in banner/ knows.

Mail: the service queues receipts, cancellation notices and the like in the outbox as it does for
real events. The demo's donors are made up, so their messages are kept as a record of what the
service would have sent and marked sent at the event's moment: the worker never mails them.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import ClassVar
from unittest import mock

import sqlalchemy as sa
import sqlalchemy.orm

from banner.models import OutboxMessage
from banner.models import base as model_base


class _Clock(datetime):
    """Stands in for `datetime` inside banner.models.base, whose utcnow() asks it for now."""

    moment: ClassVar[datetime] = datetime.now(UTC)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return cls.moment.astimezone(tz) if tz else cls.moment.replace(tzinfo=None)


class Recorder:
    """The demo's clock and the tally of what each kind of event queued in the outbox."""

    def __init__(self) -> None:
        self.label = "setup"  #: what is being applied: a webhook event type, or a page's action
        self.applied: Counter[str] = Counter()  #: how many of each were applied
        self.messages: Counter[tuple[str, str]] = Counter()  #: (label, mail kind) -> messages queued

    @property
    def now(self) -> datetime:
        return _Clock.moment

    def at(self, moment: datetime, label: str) -> None:
        """Set the clock to `moment` (whole seconds, as Stripe's `created`) for applying `label`."""
        _Clock.moment = moment.replace(microsecond=0)
        self.label = label
        self.applied[label] += 1

    def _mark_sent(self, session, flush_context, instances) -> None:
        for message in [obj for obj in session.new if isinstance(obj, OutboxMessage)]:
            if message.sent_at is None:
                message.sent_at = _Clock.moment
                message.next_attempt_at = sa.null()  # None would take the column default
                self.messages[self.label, message.kind.value] += 1

    @contextmanager
    def running(self) -> Iterator["Recorder"]:
        """Travel in time and keep the outbox quiet while the history is made."""
        sa.event.listen(sa.orm.Session, "before_flush", self._mark_sent)
        try:
            with mock.patch.object(model_base, "datetime", _Clock):
                yield self
        finally:
            sa.event.remove(sa.orm.Session, "before_flush", self._mark_sent)
