"""The audit log: one append-only entry for each thing staff do (and each failed login), and
the pages admins read it in."""

import sqlalchemy as sa

from banner.extensions import db
from banner.models import AuditEntry, StaffUser

#: audit entries on one page of the audit log
AUDIT_PAGE_SIZE = 50


def audit(
    action: str,
    staff: StaffUser | None,
    ip: str | None,
    *,
    email: str | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> None:
    """Write one entry to the audit log and commit it."""
    record_audit(action, staff, ip, email=email, target=target, data=data)
    db.session.commit()


def record_audit(
    action: str,
    staff: StaffUser | None,
    ip: str | None,
    *,
    email: str | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> None:
    """Add one entry to the audit log in the caller's transaction, without committing."""
    db.session.add(
        AuditEntry(
            staff_user_id=staff.id if staff else None,
            actor_email=email or (staff.email if staff else None),
            action=action,
            target=target,
            ip=ip,
            data=data or {},
        )
    )


def audit_page(action: str | None, page: int):
    """Return one page of the audit log, newest first, of one action or all."""
    query = sa.select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return db.paginate(query, page=page, per_page=AUDIT_PAGE_SIZE, error_out=False)


def audit_actions() -> list[str]:
    """Return every action the audit log holds, for its filter."""
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
