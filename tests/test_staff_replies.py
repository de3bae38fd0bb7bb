"""Staff answering a donor's comment from the donor's page: the answer reaches the donor through
the outbox, shows on the gift's timeline, and is audited without its words or the donor's data."""

import re

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Actor, AuditEntry, GiftEvent, GiftStatus, MailKind, OutboxMessage
from banner.services import privacy
from tests.conftest import deliver_mail


@pytest.fixture
def cancelled(make_gift):
    """A monthly gift whose donor cancelled it with a comment."""
    gift = make_gift(status=GiftStatus.CANCELLED, cancellation_reason="coverage")
    gift.donor.name = "Ada Lovelace"
    gift.cancellation_comment = "Too little local news lately."
    gift.events.append(
        GiftEvent(kind="cancel_request", actor=Actor.DONOR, reason=gift.cancellation_comment, data={})
    )
    db.session.commit()
    return gift


def reply(client, gift, message, **extra):
    url = f"/staff/donors/{gift.donor_id}/gifts/{gift.reference}/reply"
    return client.post(url, data={"message": message, **extra}, follow_redirects=True)


def test_a_fundraiser_answers_a_donors_comment_by_email(client, log_in_as, cancelled, outbox):
    staff = log_in_as("fundraiser")
    page = client.get(f"/staff/donors/{cancelled.donor_id}").text
    assert f"/gifts/{cancelled.reference}/reply" in page and "Answer their comment" in page

    response = reply(client, cancelled, "You are right: we hired a reporter for the valley.")
    assert deliver_mail().sent == 1  # the worker's one pass

    assert response.status_code == 200 and "Your answer is on its way to the donor." in response.text
    [sent] = outbox
    assert sent["To"] == cancelled.donor.email and "an answer to your comment" in sent["Subject"]
    body = sent.get_body(("plain",)).get_content()
    assert "Dear Ada Lovelace" in body and "“Too little local news lately.”" in body
    assert "we hired a reporter for the valley" in body and "/manage/" in body
    [event] = [e for e in cancelled.events if e.kind == "staff_reply"]
    assert (event.actor, event.actor_ref) == (Actor.STAFF, staff.email)
    timeline = response.text[response.text.index('id="timeline-title"') :]
    assert "Answer to the donor&#39;s comment, e-mailed" in timeline and "hired a reporter" in timeline
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "donor_reply")).all()
    assert (entry.staff_user_id, entry.target) == (staff.id, f"gift:{cancelled.reference}")
    stored = repr(entry.data) + (entry.target or "")
    assert "reporter" not in stored and "Ada" not in stored and cancelled.donor.email not in stored


def test_an_answer_needs_words_a_comment_and_a_csrf_token(client, log_in_as, cancelled, make_gift, app):
    log_in_as("fundraiser")

    empty = reply(client, cancelled, "   ")
    assert "Write your answer. No answer was sent." in empty.text

    silent = make_gift(status=GiftStatus.CANCELLED, cancellation_reason="financial")
    nothing_to_answer = reply(client, silent, "Thank you!")
    assert "The donor left no comment on this gift to answer." in nothing_to_answer.text

    app.config["WTF_CSRF_ENABLED"] = True
    assert (
        client.post(
            f"/staff/donors/{cancelled.donor_id}/gifts/{cancelled.reference}/reply", data={"message": "Hi"}
        ).status_code
        == 400
    )
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    assert (
        db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "donor_reply"))
        == 0
    )


def test_viewers_cannot_answer(client, log_in_as, cancelled):
    log_in_as("viewer")
    assert "Answer their comment" not in client.get(f"/staff/donors/{cancelled.donor_id}").text
    assert reply(client, cancelled, "Hi").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def test_erasing_the_donor_erases_the_answer_too(client, log_in_as, cancelled):
    cancelled.donor.stripe_customer_id = None  # nothing of theirs at Stripe to erase
    db.session.commit()
    admin = log_in_as("admin")
    reply(client, cancelled, "Dear Ada, thank you.")

    privacy.erase(admin, cancelled.donor, "127.0.0.1")

    db.session.expire_all()
    [event] = db.session.scalars(sa.select(GiftEvent).where(GiftEvent.kind == "staff_reply")).all()
    assert event.reason is None
    [message] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == MailKind.STAFF_REPLY))
    assert "Ada" not in message.to and not re.search("thank you", message.text_body or "")
