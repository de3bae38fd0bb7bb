"""Stripe's events are stored and answered, then applied: when the worker applies one, and how
often applying it failed

Revision ID: events_01
Revises: notices_01
Create Date: 2026-12-01 23:50:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "events_01"
down_revision = "notices_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_stripe_events_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade():
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_events_next_attempt_at"))
        batch_op.drop_column("attempts")
        batch_op.drop_column("next_attempt_at")
