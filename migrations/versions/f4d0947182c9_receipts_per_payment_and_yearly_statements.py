"""receipts per payment and yearly statements

Revision ID: f4d0947182c9
Revises: 7ec326d7bd04
Create Date: 2026-12-01 16:09:27.963369

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f4d0947182c9"
down_revision = "7ec326d7bd04"
branch_labels = None
depends_on = None

OLD_KINDS = ("receipt", "manage_link", "cancellation", "action_required")
NEW_KINDS = (*OLD_KINDS, "statement")


def _mail_kinds(kinds):
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_mail_kind"), type_="check")
        values = ", ".join(f"'{kind}'" for kind in kinds)
        batch_op.create_check_constraint("mail_kind", f"kind IN ({values})")


def upgrade():
    op.create_table(
        "yearly_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 9999", name=op.f("ck_yearly_statements_year_plausible")),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_yearly_statements_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_yearly_statements")),
        sa.UniqueConstraint("donor_id", "year", name=op.f("uq_yearly_statements_donor_id")),
    )
    with op.batch_alter_table("yearly_statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_yearly_statements_donor_id"), ["donor_id"], unique=False)

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_queued_at", sa.DateTime(timezone=True), nullable=True))
    _mail_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM outbox_messages WHERE kind = 'statement'")
    _mail_kinds(OLD_KINDS)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("receipt_queued_at")

    with op.batch_alter_table("yearly_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_yearly_statements_donor_id"))

    op.drop_table("yearly_statements")
