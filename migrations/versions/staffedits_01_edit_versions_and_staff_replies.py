"""the version history of campaigns and variants, and staff answers to donors' comments

Revision ID: staffedits_01
Revises: hotpath_01
Create Date: 2026-12-01 17:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "staffedits_01"
down_revision = "hotpath_01"
branch_labels = None
depends_on = None

OLD_KINDS = ("receipt", "manage_link", "cancellation", "action_required", "statement")
NEW_KINDS = (*OLD_KINDS, "staff_reply")


def _mail_kinds(kinds):
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_mail_kind"), type_="check")
        values = ", ".join(f"'{kind}'" for kind in kinds)
        batch_op.create_check_constraint("mail_kind", f"kind IN ({values})")


def upgrade():
    op.create_table(
        "edit_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("variant_key", sa.String(length=40), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "event",
            sa.Enum(
                "baseline",
                "created",
                "edited",
                "restored",
                "deleted",
                name="version_event",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number >= 1", name=op.f("ck_edit_versions_number_positive")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_edit_versions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["staff_users.id"], name=op.f("fk_edit_versions_staff_user_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variants.id"],
            name=op.f("fk_edit_versions_variant_id_variants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edit_versions")),
    )
    with op.batch_alter_table("edit_versions", schema=None) as batch_op:
        batch_op.create_index("ix_edit_versions_campaign_id_id", ["campaign_id", "id"], unique=False)
    _mail_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM outbox_messages WHERE kind = 'staff_reply'")
    _mail_kinds(OLD_KINDS)
    with op.batch_alter_table("edit_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_edit_versions_campaign_id_id")
    op.drop_table("edit_versions")
