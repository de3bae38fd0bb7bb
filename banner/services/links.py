"""Signed links sent to a donor's address: "manage my gifts", and a receipt online.

The manage token names the donor and a digest of their e-mail, is signed with the app's secret,
and expires after BANNER_MANAGE_LINK_DAYS; a new e-mail address voids every earlier link. The
token is read once: it opens a session (the same donor and digest, in the signed session cookie)
that ends after BANNER_MANAGE_SESSION_MINUTES without use, so the token is in no other address
and in no access log line but the first. The receipt token names one paid gift and shows its
receipt only: it acts for no one.
"""

import hashlib

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from banner import mail
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Donor, Gift, Payment

SALT = "manage-link"
RECEIPT_SALT = "receipt"


class LinkError(ServiceError):
    """The link is not (or no longer) valid; the page offers a new one."""

    code = "link_invalid"
    http_status = 403
    title = "Link not valid"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def email_tag(email: str) -> str:
    """A short digest of the donor's e-mail: a link stops working when the e-mail changes."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def manage_url(donor: Donor) -> str:
    """Return the donor's signed link to their gifts."""
    token = _serializer().dumps({"donor": donor.id, "email": email_tag(donor.email)})
    return mail.public_url("manage.open_link", token=token)


def donor_for(token: str) -> Donor:
    """Return the donor a token names, or raise LinkError (tampered, expired, e-mail changed)."""
    max_age = current_app.config["MANAGE_LINK_DAYS"] * 86_400
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkError("This link has expired.") from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    return _donor(data, "This link is not valid any more.")


def session_grant(donor: Donor, now: float) -> dict:
    """Return what a browser's session keeps once a link was opened: whom it acts for, and when
    it was last used."""
    return {"donor": donor.id, "email": email_tag(donor.email), "seen": int(now)}


def donor_for_session(grant, now: float) -> Donor:
    """Return the donor a session's grant names, or raise LinkError (none, unused too long,
    e-mail changed)."""
    if not isinstance(grant, dict) or not isinstance(grant.get("seen"), int):
        raise LinkError("Open the link in your e-mail to see your gifts.")
    if now - grant["seen"] > current_app.config["MANAGE_SESSION_MINUTES"] * 60:
        raise LinkError("This page was left unused for a while, so we closed it for your safety.")
    return _donor(grant, "This page is not valid any more.")


def _donor(data, message: str) -> Donor:
    donor = db.session.get(Donor, data.get("donor")) if isinstance(data, dict) else None
    if donor is None or data.get("email") != email_tag(donor.email):
        raise LinkError(message)
    return donor


def _receipt_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RECEIPT_SALT)


def receipt_url(gift: Gift, payment: Payment | None = None) -> str:
    """Return the signed address of the receipt of a gift's payment (its first when none is named)."""
    token = _receipt_serializer().dumps([gift.reference, payment.id] if payment else gift.reference)
    return mail.public_url("donate.receipt", token=token)


def gift_for_receipt(token: str) -> tuple[Gift, int | None]:
    """Return the gift a receipt token names and the id of its payment (None: the first one),
    or raise LinkError."""
    try:
        data = _receipt_serializer().loads(token)
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    reference, payment_id = data if isinstance(data, list) and len(data) == 2 else (data, None)
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == str(reference)))
    if gift is None or gift.donor is None:
        raise LinkError("This receipt does not exist.")
    return gift, payment_id if isinstance(payment_id, int) else None
