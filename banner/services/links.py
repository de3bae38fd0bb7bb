"""The signed "manage my gifts" link: made for receipts and pages, read by the manage page.

The token names the donor and a digest of their e-mail, is signed with the app's secret, and
expires after BANNER_MANAGE_LINK_DAYS; a new e-mail address voids every earlier link.
"""

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from banner import mail
from banner.extensions import db
from banner.models import Donor

SALT = "manage-link"


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
