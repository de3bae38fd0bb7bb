"""Staff accounts: created, given another role, deactivated or given a new password by an admin,
each change written to the audit log (services.audit)."""

import secrets

import sqlalchemy as sa

from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Role, StaffUser
from banner.services.audit import record_audit


class Taken(ServiceError):
    """Another staff account has this e-mail."""

    code = "taken"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class OwnAccount(ServiceError):
    """An admin tried to deactivate or demote themself (another admin must)."""

    code = "own_account"


def create_staff(
    admin: StaffUser | None, email: str, role: Role, ip: str | None, password: str | None = None
) -> tuple[StaffUser, str]:
    """Create a staff account with `password`, or a generated one; return it and the password.

    `admin` None: the account comes from the create-staff command, not from the staff page.
    """
    email = email.strip().lower()
    if has_account(email):
        raise Taken("email", f"{email} already has an account.")
    password = password or new_password()
    staff = StaffUser(email=email, role=role)
    staff.set_password(password)
    db.session.add(staff)
    data = {"role": role.value} if admin else {"role": role.value, "via": "create-staff command"}
    record_audit("staff_create", admin, ip, target=f"staff:{email}", data=data)
    db.session.commit()
    return staff, password


def has_account(email: str) -> bool:
    """Whether a staff account has this e-mail (any case)."""
    typed = email.strip().lower()
    return db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == typed)) is not None


def change_role(admin: StaffUser, staff: StaffUser, role: Role, ip: str | None) -> None:
    """Give `staff` another role; an admin cannot change their own."""
    if staff.id == admin.id:
        raise OwnAccount("You cannot change your own role; ask another admin.")
    if staff.role is role:
        return
    before, staff.role = staff.role, role
    record_audit(
        "staff_role", admin, ip, target=f"staff:{staff.email}", data={"from": before.value, "to": role.value}
    )
    db.session.commit()


def set_active(admin: StaffUser, staff: StaffUser, active: bool, ip: str | None) -> None:
    """Deactivate `staff` (which ends their sessions) or let them in again."""
    if staff.id == admin.id:
        raise OwnAccount("You cannot deactivate your own account; ask another admin.")
    if staff.active is active:
        return
    staff.active = active
    if not active:
        staff.end_sessions()
    record_audit(
        "staff_reactivate" if active else "staff_deactivate", admin, ip, target=f"staff:{staff.email}"
    )
    db.session.commit()


def reset_password(admin: StaffUser, staff: StaffUser, ip: str | None) -> str:
    """Give `staff` a new generated password and return it, to be shown once; ends their sessions."""
    password = new_password()
    staff.set_password(password)
    staff.end_sessions()
    record_audit("staff_password", admin, ip, target=f"staff:{staff.email}")
    db.session.commit()
    return password


def staff_list() -> list[StaffUser]:
    """Return every staff account: active ones first, then by e-mail."""
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)))


def new_password() -> str:
    """Return a random password of 16 URL-safe characters."""
    return secrets.token_urlsafe(12)
