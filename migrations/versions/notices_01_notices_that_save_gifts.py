"""notices that save gifts: sent notices, failed renewals, the staff digest

Revision ID: notices_01
Revises: staffedits_01
Create Date: 2026-12-01 17:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "notices_01"
down_revision = "staffedits_01"
branch_labels = None
depends_on = None

OLD_KINDS = ("receipt", "manage_link", "cancellation", "action_required", "statement", "staff_reply")
NEW_KINDS = (
    *OLD_KINDS,
    "renewal_failed",
    "renewal_last_notice",
    "card_expiring",
    "yearly_reminder",
    "digest",
    "digest_webhook",
)


def _mail_kinds(kinds):
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_mail_kind"), type_="check")
        values = ", ".join(f"'{kind}'" for kind in kinds)
        batch_op.create_check_constraint("mail_kind", f"kind IN ({values})")


def upgrade():
    op.create_table(
        "sent_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_sent_notices_gift_id_gifts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notices")),
        sa.UniqueConstraint("key", name=op.f("uq_sent_notices_key")),
    )
    with op.batch_alter_table("sent_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sent_notices_gift_id"), ["gift_id"], unique=False)

    op.create_table(
        "renewal_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_renewal_failures_amount_not_negative")),
        sa.CheckConstraint(
            "currency IN ('usd', 'eur', 'gbp', 'cad', 'aud', 'nzd', 'chf', 'jpy')",
            name=op.f("ck_renewal_failures_currency_valid"),
        ),
        sa.CheckConstraint(
            "recovered_at IS NULL OR lost_at IS NULL", name=op.f("ck_renewal_failures_recovered_or_lost")
        ),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_renewal_failures_gift_id_gifts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_failures")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_renewal_failures_stripe_invoice_id")),
    )
    with op.batch_alter_table("renewal_failures", schema=None) as batch_op:
        batch_op.create_index("ix_renewal_failures_failed_at", ["failed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_failures_gift_id"), ["gift_id"], unique=False)
        batch_op.create_index("ix_renewal_failures_lost_at", ["lost_at"], unique=False)
        batch_op.create_index("ix_renewal_failures_recovered_at", ["recovered_at"], unique=False)
    _mail_kinds(NEW_KINDS)


def downgrade():
    kinds = ", ".join(f"'{kind}'" for kind in NEW_KINDS if kind not in OLD_KINDS)
    op.execute(f"DELETE FROM outbox_messages WHERE kind IN ({kinds})")
    _mail_kinds(OLD_KINDS)
    op.drop_table("renewal_failures")
    op.drop_table("sent_notices")
