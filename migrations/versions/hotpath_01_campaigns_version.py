"""campaigns version: the number every instance checks to know its cached banners are stale

Revision ID: hotpath_01
Revises: f4d0947182c9
Create Date: 2026-12-01 17:20:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "hotpath_01"
down_revision = "f4d0947182c9"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "campaigns_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade():
    op.drop_table("campaigns_version")
