"""Staff logins and their sessions.

A login is a password, then a six-digit code when the member has turned on two-factor (TOTP);
both steps are throttled by banner.services.login_throttle. A session is a signed cookie that
carries the account's current session token: logging out, changing the password or deactivating
the account draws a new token, which ends every session at once, copied cookies included. A
session unused for BANNER_STAFF_IDLE_MINUTES ends too.
"""

import functools
import secrets

import pyotp
import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from banner.errors import ServiceError
from banner.extensions import db
from banner.models import StaffUser, utcnow
from banner.models.staff import PASSWORD_METHOD
from banner.services import login_throttle
from banner.services.audit import audit, record_audit

#: how long the code may wait after the password was right
CODE_MINUTES = 5


class LoginError(ServiceError):
    """A login step failed; the message may be shown."""

    code = "login_failed"
    http_status = 401
    title = "Not logged in"


class Throttled(LoginError):
    """Too many failures lately: the attempt was not checked, and may be made again later."""

    code = "too_many"
    http_status = 429
    title = "Please wait"

    def __init__(self, seconds: int):
        super().__init__(f"Too many failed attempts: wait {seconds} seconds, then try again.")
        self.seconds = seconds


class WrongPassword(LoginError):
    """The password (or, at login, the e-mail) is not right."""

    code = "wrong_password"


class WrongCode(LoginError):
    """The two-factor code is not right, or was used already."""

    code = "wrong_code"


def now_seconds() -> float:
    """Return the time as the session cookie keeps it."""
    return utcnow().timestamp()


def check_password(email: str, password: str, ip: str) -> StaffUser:
    """Return the active staff member with this e-mail and password; the login is complete (and
    audited) unless they use two-factor, which `check_code` completes."""
    account = email.strip().lower()[:254]
    _go_ahead(account, ip)
    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == account))
    if staff is None:
        check_password_hash(_decoy_hash(), password)  # as slow as a real check, so timing reveals nothing
        audit("login_failed", None, ip, email=account)
        raise WrongPassword("Wrong e-mail or password.")
    if not (staff.check_password(password) and staff.active):
        audit("login_failed", staff, ip)
        raise WrongPassword("Wrong e-mail or password.")
    if not staff.has_two_factor:
        _logged_in(staff, ip)
    return staff


def check_code(pending_id: str, password_at: float, code: str, ip: str) -> StaffUser | None:
    """Complete the login that `check_password` began for `pending_id` (a StaffUser.get_id())
    with a two-factor code; None when that login is gone (too old, or its account changed)."""
    staff = _staff_of(pending_id)
    too_old = now_seconds() - password_at > CODE_MINUTES * 60
    if staff is None or too_old or not staff.has_two_factor:
        return None
    _go_ahead(staff.email, ip)
    if not _accept_code(staff, code):
        audit("login_code_failed", staff, ip)
        raise WrongCode("That code is not right, or was used already. Enter the newest one.")
    _logged_in(staff, ip)
    return staff


def session_staff(user_id: str, seen_at: float | None, idle_minutes: int) -> StaffUser | None:
    """Return the staff member whose login cookie this is, unless it was revoked or left idle."""
    if seen_at is None or now_seconds() - seen_at > idle_minutes * 60:
        return None
    return _staff_of(user_id)


def log_out(staff: StaffUser, ip: str | None) -> None:
    """End every session of `staff`, this one and any copy of its cookie."""
    staff.end_sessions()
    audit("logout", staff, ip)


def change_own_password(staff: StaffUser, current: str, new: str, ip: str) -> None:
    """Give `staff` the password they chose, if they know their current one; ends their sessions."""
    _go_ahead(staff.email, ip)  # a borrowed session must not become a way to guess the password
    if not staff.check_password(current):
        audit("password_change_failed", staff, ip)
        raise WrongPassword("Your current password is not right.")
    login_throttle.forget_failures(staff.email, ip)
    staff.set_password(new)
    staff.end_sessions()
    audit("password_change", staff, ip)


def start_two_factor(staff: StaffUser) -> str:
    """Return the secret `staff` is setting up two-factor with, made on their first visit."""
    if staff.totp_secret is None:
        staff.totp_secret = pyotp.random_base32()
        db.session.commit()
    return staff.totp_secret


def two_factor_uri(staff: StaffUser, issuer: str) -> str:
    """Return the otpauth:// address an authenticator app reads the secret from."""
    return pyotp.TOTP(start_two_factor(staff)).provisioning_uri(name=staff.email, issuer_name=issuer)


def confirm_two_factor(staff: StaffUser, code: str, ip: str | None) -> None:
    """Turn two-factor on once `staff` shows a code from their app."""
    if not _accept_code(staff, code):
        audit("two_factor_enrol_failed", staff, ip)
        raise WrongCode("That code is not right. Check the app's clock, and enter the newest code.")
    staff.totp_enabled_at = utcnow()
    audit("two_factor_enrol", staff, ip)


def remove_two_factor(staff: StaffUser, password: str, ip: str) -> None:
    """Turn two-factor off for `staff`, who confirms it with their password."""
    _go_ahead(staff.email, ip)
    if not staff.check_password(password):
        audit("two_factor_remove_failed", staff, ip)
        raise WrongPassword("Your password is not right.")
    login_throttle.forget_failures(staff.email, ip)
    staff.totp_secret = staff.totp_enabled_at = staff.totp_last_step = None
    audit("two_factor_remove", staff, ip)


def reset_two_factor(admin: StaffUser, staff: StaffUser, ip: str | None) -> None:
    """Turn two-factor off for `staff`, who lost their device; they may set it up again."""
    if staff.totp_secret is None:
        return
    staff.totp_secret = staff.totp_enabled_at = staff.totp_last_step = None
    record_audit("two_factor_remove", admin, ip, target=f"staff:{staff.email}")
    db.session.commit()


def _go_ahead(account: str, ip: str) -> None:
    """Raise Throttled when the attempt must wait, else count it as a failure until it succeeds."""
    wait = login_throttle.wait_seconds(account, ip)
    if wait:
        raise Throttled(wait)
    login_throttle.count_attempt(account, ip)


def _logged_in(staff: StaffUser, ip: str) -> None:
    login_throttle.forget_failures(staff.email, ip)
    staff.last_login_at = utcnow()
    record_audit("login", staff, ip)
    db.session.commit()


def _staff_of(user_id: str) -> StaffUser | None:
    """Return the active staff member a StaffUser.get_id() names, if its token is still theirs."""
    number, _, token = user_id.partition(":")
    staff = db.session.get(StaffUser, int(number)) if number.isdigit() else None
    if staff is None or not staff.active or not secrets.compare_digest(staff.session_token, token):
        return None
    return staff


def _accept_code(staff: StaffUser, code: str) -> bool:
    """Whether `code` is the member's code of now (or 30 seconds either side) and unused."""
    if staff.totp_secret is None:
        return False
    totp = pyotp.TOTP(staff.totp_secret)
    current = totp.timecode(utcnow())
    for step in (current - 1, current, current + 1):
        fresh = staff.totp_last_step is None or step > staff.totp_last_step
        if fresh and secrets.compare_digest(totp.generate_otp(step), code.strip()):
            staff.totp_last_step = step
            return True
    return False


@functools.cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(), method=PASSWORD_METHOD)
