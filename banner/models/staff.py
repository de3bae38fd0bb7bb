"""Staff accounts and the append-only audit log of what they do."""

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from banner.extensions import Model
from banner.models.base import UTCDateTime, enum_column, utcnow

#: scrypt with N = 2^17 (werkzeug's default is 2^15)
PASSWORD_METHOD = "scrypt:131072:8:1"


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class Role(enum.Enum):
    VIEWER = "viewer"  #: reads reports
    FUNDRAISER = "fundraiser"  #: also edits campaigns and banners
    ADMIN = "admin"  #: also manages staff, exports and erases donors


class StaffUser(UserMixin, Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: carried by the login cookie; a new one ends every session (logout, password change, deactivation)
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)
    #: base32 TOTP secret: being set up while totp_enabled_at is None, in use once it is set
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last TOTP time step accepted, so that a code works once
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    def get_id(self) -> str:
        """Identify the account and this generation of its sessions, for the login cookie."""
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Make every login cookie of this account stop working."""
        self.session_token = new_session_token()

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return self.active


class LoginFailure(Model):
    """A wrong password or code, kept for an hour or so to slow down whoever guesses."""

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.Index("ix_login_failures_account_failed_at", "account", "failed_at"),
        sa.Index("ix_login_failures_ip_failed_at", "ip", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(sa.String(254))  #: the e-mail as typed, lower-cased
    ip: Mapped[str] = mapped_column(sa.String(45))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditLogIsAppendOnly(Exception):
    """Something tried to change or delete an audit entry."""


class AuditEntry(Model):
    """A staff action; rows are only ever added (the listeners below refuse anything else)."""

    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_action_created_at", "action", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    actor_email: Mapped[str | None] = mapped_column(sa.String(254))  #: as typed, for failed logins
    action: Mapped[str] = mapped_column(sa.String(60))  #: e.g. login, login_failed, export
    target: Mapped[str | None] = mapped_column(sa.String(255))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _refuse_audit_changes(session, flush_context, instances) -> None:
    """Refuse a flush that would change or delete an audit entry."""
    changed = [
        entry for entry in session.dirty if isinstance(entry, AuditEntry) and session.is_modified(entry)
    ]
    deleted = [entry for entry in session.deleted if isinstance(entry, AuditEntry)]
    if changed or deleted:
        raise AuditLogIsAppendOnly("The audit log is append-only: its entries are never changed or deleted.")


@sa.event.listens_for(sa.orm.Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state) -> None:
    """Refuse UPDATE and DELETE statements on the audit log run through the ORM session."""
    if (state.is_update or state.is_delete) and state.bind_mapper is sa.inspect(AuditEntry):
        raise AuditLogIsAppendOnly("The audit log is append-only: its entries are never changed or deleted.")
