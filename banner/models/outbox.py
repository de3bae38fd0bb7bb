"""Mail waiting to be sent: written in the transaction of the change that causes it, delivered
by the worker (`flask --app wsgi banner worker`), so that no web request talks to the mail
server and a rollback drops the message with the change."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model
from banner.models.base import UTCDateTime, enum_column, utcnow


class MailKind(enum.Enum):
    RECEIPT = "receipt"
    MANAGE_LINK = "manage_link"
    CANCELLATION = "cancellation"
    ACTION_REQUIRED = "action_required"
    STATEMENT = "statement"
    STAFF_REPLY = "staff_reply"  #: staff answering a donor's comment
    RENEWAL_FAILED = "renewal_failed"
    RENEWAL_LAST_NOTICE = "renewal_last_notice"
    CARD_EXPIRING = "card_expiring"
    YEARLY_REMINDER = "yearly_reminder"
    DIGEST = "digest"
    #: not an e-mail: the digest posted to BANNER_DIGEST_WEBHOOK_URL (Slack-compatible)
    DIGEST_WEBHOOK = "digest_webhook"

    @property
    def is_webhook(self) -> bool:
        return self is MailKind.DIGEST_WEBHOOK


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("sent_at IS NULL OR failed_at IS NULL", name="sent_or_failed"),
        # A message is due again until it is sent or given up, and never after.
        sa.CheckConstraint(
            "(next_attempt_at IS NULL) = (sent_at IS NOT NULL OR failed_at IS NOT NULL)",
            name="due_until_settled",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MailKind] = mapped_column(enum_column(MailKind, "mail_kind"))
    to: Mapped[str] = mapped_column("to_address", sa.String(254), index=True)  #: "to" is an SQL keyword
    subject: Mapped[str] = mapped_column(sa.String(300))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: when the worker tries (again); None once sent or given up
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=0)  #: delivery attempts so far, failed ones included
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: the mail server accepted it
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: given up after the last retry
    last_error: Mapped[str | None] = mapped_column(sa.Text)
