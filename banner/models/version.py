"""The version history of campaigns and their banner variants: every staff save, kept whole."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model
from banner.models.base import UTCDateTime, enum_column, utcnow


class VersionEvent(enum.Enum):
    BASELINE = "baseline"  #: how it was when its history began (saved before this table existed)
    CREATED = "created"
    EDITED = "edited"
    RESTORED = "restored"  #: an earlier version put back
    DELETED = "deleted"  #: a variant deleted; restoring this version's predecessor brings it back


class EditVersion(Model):
    """One saved state of a campaign, or of one of its variants: who saved it, when, what
    changed (field, old value, new value) and the whole state, which a restore puts back."""

    __tablename__ = "edit_versions"
    __table_args__ = (
        sa.CheckConstraint("number >= 1", name="number_positive"),
        sa.Index("ix_edit_versions_campaign_id_id", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    #: the variant this is a version of; None for the campaign's own versions, and once it is deleted
    variant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("variants.id", ondelete="SET NULL"))
    #: the variant's key when saved; None for a version of the campaign itself
    variant_key: Mapped[str | None] = mapped_column(sa.String(40))
    #: 1, 2, 3... for the campaign, and for each of its variants
    number: Mapped[int]
    event: Mapped[VersionEvent] = mapped_column(enum_column(VersionEvent, "version_event"))
    #: the number of the version a restore put back
    restored_from: Mapped[int | None]
    staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    actor_email: Mapped[str | None] = mapped_column(sa.String(254))
    #: what this save changed, as stored values: [[field, old, new], ...]
    changes: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: every field as saved, as JSON values (enums by value, times in ISO 8601)
    snapshot: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_campaign(self) -> bool:
        return self.variant_key is None
