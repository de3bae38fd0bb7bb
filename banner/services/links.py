"""Signed links sent to a donor's address: "manage my gifts", and a receipt online.

The manage token names the donor and a digest of their e-mail, is signed with the app's secret,
and expires after BANNER_MANAGE_LINK_DAYS; a new e-mail address voids every earlier link. The
receipt token names one paid gift and shows its receipt only: it acts for no one.
"""

import hashlib

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from banner import mail
from banner.extensions import db
from banner.models import Donor, Gift

SALT = "manage-link"
RECEIPT_SALT = "receipt"


class LinkError(Exception):
    """The link is not (or no longer) valid; the page offers a new one."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def email_tag(email: str) -> str:
    """A short digest of the donor's e-mail: a link stops working when the e-mail changes."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def manage_url(donor: Donor) -> str:
    """Return the donor's signed link to their gifts."""
    token = _serializer().dumps({"donor": donor.id, "email": email_tag(donor.email)})
    return mail.public_url("manage.gifts", token=token)


def donor_for(token: str) -> Donor:
    """Return the donor a token names, or raise LinkError (tampered, expired, e-mail changed)."""
    max_age = current_app.config["MANAGE_LINK_DAYS"] * 86_400
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkError("This link has expired.") from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    donor = db.session.get(Donor, data.get("donor")) if isinstance(data, dict) else None
    if donor is None or data.get("email") != email_tag(donor.email):
        raise LinkError("This link is not valid any more.")
    return donor


def receipt_url(gift: Gift) -> str:
    """Return the signed address of a gift's receipt."""
    token = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RECEIPT_SALT).dumps(gift.reference)
    return mail.public_url("donate.receipt", token=token)


def gift_for_receipt(token: str) -> Gift:
    """Return the gift a receipt token names, or raise LinkError."""
    try:
        reference = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RECEIPT_SALT).loads(token)
    except BadSignature:
        raise LinkError("This link is not valid.") from None
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference))
    if gift is None or gift.donor is None:
        raise LinkError("This receipt does not exist.")
    return gift
