"""Staff accounts and the append-only audit log of what they do."""

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from banner.extensions import db
from banner.models.base import UTCDateTime, enum_column, utcnow

#: scrypt with N = 2^17 (werkzeug's default is 2^15)
PASSWORD_METHOD = "scrypt:131072:8:1"


class Role(enum.Enum):
    VIEWER = "viewer"  #: reads reports
    FUNDRAISER = "fundraiser"  #: also edits campaigns and banners
    ADMIN = "admin"  #: also manages staff, exports and erases donors


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return self.active


class AuditEntry(db.Model):
    """A staff action; rows are only ever added."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    actor_email: Mapped[str | None] = mapped_column(sa.String(254))  #: as typed, for failed logins
    action: Mapped[str] = mapped_column(sa.String(60))  #: e.g. login, login_failed, export
    target: Mapped[str | None] = mapped_column(sa.String(255))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
