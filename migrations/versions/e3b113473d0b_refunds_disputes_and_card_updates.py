"""refunds and disputes of every payment, renewals waiting for the donor, card updates

Revision ID: e3b113473d0b
Revises: 7ab6f7c37233
Create Date: 2026-12-01 14:25:37.207877

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "e3b113473d0b"
down_revision = "7ab6f7c37233"
branch_labels = None
depends_on = None

OLD_STATUSES = (
    "pending",
    "processing",
    "requires_action",
    "failed",
    "succeeded",
    "active",
    "past_due",
    "paused",
    "cancelling",
    "cancelled",
    "refunded",
)
NEW_STATUSES = (*OLD_STATUSES, "action_required")
#: (table, constraint name without its prefix, column) of every check on a gift status
STATUS_CHECKS = (
    ("gifts", "giftstatus", "status"),
    ("gift_events", "from_status", "from_status"),
    ("gift_events", "to_status", "to_status"),
)


def _status_checks(statuses):
    for table, name, column in STATUS_CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            values = ", ".join(f"'{status}'" for status in statuses)
            batch_op.create_check_constraint(name, f"{column} IN ({values})")


def upgrade():
    op.create_table(
        "invoice_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_charge_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_payments")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_invoice_payments_stripe_invoice_id")),
    )
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_exp_month", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("card_exp_year", sa.SmallInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("action_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charge_refunded", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("refund_watermark", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("amount_disputed", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("dispute_status", sa.String(length=30), nullable=True))
        batch_op.create_check_constraint(
            "dispute_within_amount", "amount_disputed >= 0 AND amount_refunded + amount_disputed <= amount"
        )
    op.execute("UPDATE payments SET charge_refunded = amount_refunded")
    _status_checks(NEW_STATUSES)


def downgrade():
    op.execute("UPDATE gifts SET status = 'past_due' WHERE status = 'action_required'")
    op.execute(
        "DELETE FROM gift_events WHERE from_status = 'action_required' OR to_status = 'action_required'"
    )
    _status_checks(OLD_STATUSES)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_dispute_within_amount"), type_="check")
        batch_op.drop_column("dispute_status")
        batch_op.drop_column("amount_disputed")
        batch_op.drop_column("refund_watermark")
        batch_op.drop_column("charge_refunded")

    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("action_required")
        batch_op.drop_column("card_exp_year")
        batch_op.drop_column("card_exp_month")

    op.drop_table("invoice_payments")
