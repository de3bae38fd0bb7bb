"""gift totals: received and last payment

Each gift keeps what its payments brought in (net of refunds) and when it was last paid, so the
reports and the staff donor list need not add up every payment. Filled here from the payments
recorded so far; from then on the ORM keeps them in step (banner/models/donor.py).

Revision ID: 168eaf784317
Revises: 7b669aedb9b9
Create Date: 2026-12-01 01:09:14.202658

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '168eaf784317'
down_revision = '7b669aedb9b9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_paid_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(op.f('ck_gifts_received_not_negative'), 'received >= 0')
    op.execute(
        "UPDATE gifts SET"
        " received = (SELECT coalesce(sum(p.amount - p.amount_refunded), 0) FROM payments p"
        " WHERE p.gift_id = gifts.id),"
        " last_paid_at = (SELECT max(p.paid_at) FROM payments p WHERE p.gift_id = gifts.id)"
        " WHERE EXISTS (SELECT 1 FROM payments p WHERE p.gift_id = gifts.id)"
    )
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.create_index('ix_gifts_donor_totals', ['donor_id', 'currency'], unique=False,
                              postgresql_include=['frequency', 'received', 'last_paid_at'])


def downgrade():
    with op.batch_alter_table('gifts', schema=None) as batch_op:
        batch_op.drop_index('ix_gifts_donor_totals', postgresql_include=['frequency', 'received', 'last_paid_at'])
        batch_op.drop_constraint(op.f('ck_gifts_received_not_negative'), type_='check')
        batch_op.drop_column('last_paid_at')
        batch_op.drop_column('received')
