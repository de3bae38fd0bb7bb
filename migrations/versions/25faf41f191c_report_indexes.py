"""report indexes: gift events by kind and time, payments by time with their amounts

The cancellations report counts cancel requests and save offers in a period; the overview and
the articles report add up the payments of a period, and monthly revenue orders a window's
movements by time and id: the wider indexes answer these on their own on PostgreSQL (index-only
scans).

Revision ID: 25faf41f191c
Revises: 168eaf784317
Create Date: 2026-12-01 01:29:56.001618

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '25faf41f191c'
down_revision = '168eaf784317'
branch_labels = None
depends_on = None


INCLUDE = ['gift_id', 'amount', 'amount_refunded', 'currency']
MOVEMENTS_BEFORE = ['gift_id', 'mrr_delta']
MOVEMENTS_AFTER = ['gift_id', 'mrr_delta', 'id']


def upgrade():
    with op.batch_alter_table('gift_events', schema=None) as batch_op:
        batch_op.create_index('ix_gift_events_kind_created', ['kind', 'created_at'], unique=False)
        batch_op.drop_index('ix_gift_events_movement_created')
        batch_op.create_index('ix_gift_events_movement_created', ['movement', 'created_at'], unique=False,
                              postgresql_include=MOVEMENTS_AFTER)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_paid_at')
        batch_op.create_index('ix_payments_paid_at', ['paid_at'], unique=False, postgresql_include=INCLUDE)


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_paid_at', postgresql_include=INCLUDE)
        batch_op.create_index('ix_payments_paid_at', ['paid_at'], unique=False)
    with op.batch_alter_table('gift_events', schema=None) as batch_op:
        batch_op.drop_index('ix_gift_events_movement_created')
        batch_op.create_index('ix_gift_events_movement_created', ['movement', 'created_at'], unique=False,
                              postgresql_include=MOVEMENTS_BEFORE)
        batch_op.drop_index('ix_gift_events_kind_created')

