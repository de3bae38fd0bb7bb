"""Staff answering a donor's comment (their words when they cancelled) from the donor's page: the
answer is e-mailed through the outbox, kept on the gift's timeline, and audited without its words."""

from banner import mail
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Actor, Gift, GiftEvent, StaffUser
from banner.services.audit import record_audit
from banner.services.links import manage_url

#: the gift event of an answer; its `reason` holds the answer's words, erased with the donor's data
REPLY_EVENT = "staff_reply"


class ReplyRefused(ServiceError):
    """The answer cannot be sent; the message says why, fit to show staff."""

    code = "reply_refused"
    http_status = 409


def donor_comment(gift: Gift) -> str | None:
    """Return the donor's latest words on cancelling this gift, or None."""
    if gift.cancellation_comment:
        return gift.cancellation_comment
    said = [event.reason for event in gift.events if event.kind == "cancel_request" and event.reason]
    return said[-1] if said else None


def answer_comment(staff: StaffUser, gift: Gift, message: str, ip: str | None) -> None:
    """E-mail staff's answer to the donor's comment on this gift, note it on the gift's timeline and
    in the audit log, in one transaction."""
    donor = gift.donor
    if donor is None or donor.erased:
        raise ReplyRefused("This donor's personal data was erased: there is nobody to write to.")
    comment = donor_comment(gift)
    if comment is None:
        raise ReplyRefused("The donor left no comment on this gift to answer.")
    queued = mail.send_staff_reply(gift, comment, message, manage_url(donor))
    gift.events.append(GiftEvent(kind=REPLY_EVENT, actor=Actor.STAFF, actor_ref=staff.email, reason=message))
    db.session.flush()
    data = {"donor": donor.id, "mail": queued.id}
    record_audit("donor_reply", staff, ip, target=f"gift:{gift.reference}", data=data)
    db.session.commit()
