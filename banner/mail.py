"""E-mail to donors: each send_* renders a message and adds it to the outbox in the caller's
transaction (the caller's commit keeps it, a rollback drops it); the worker delivers it later
with transmit(), over SMTP or into .eml files in development (BANNER_MAIL_URL=file://DIR)."""

import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template

from banner.extensions import db
from banner.models import MailKind, OutboxMessage
from banner.money import format_amount


def send_receipt(receipt, receipt_url: str, manage_url: str) -> None:
    """Queue the donor's receipt of one payment (services.receipts.Receipt), in HTML and text,
    with the link to manage their gifts."""
    context = {"receipt": receipt, "gift": receipt.gift, "receipt_url": receipt_url, "manage_url": manage_url}
    send(
        MailKind.RECEIPT,
        to=receipt.gift.donor.email,
        subject=f"Your receipt: thank you for your gift to {current_app.config['SITE_NAME']}",
        body=render_template("mail/receipt.txt", **context),
        html=render_template("mail/receipt.html", **context),
    )


def send_statement(statement, manage_url: str) -> None:
    """Queue a donor's yearly statement (services.receipts.Statement), in HTML and text."""
    context = {"statement": statement, "manage_url": manage_url}
    send(
        MailKind.STATEMENT,
        to=statement.donor.email,
        subject=f"Your {statement.year} giving statement from {current_app.config['SITE_NAME']}",
        body=render_template("mail/statement.txt", **context),
        html=render_template("mail/statement.html", **context),
    )


def send_manage_link(donor, manage_url: str) -> None:
    """Queue the link to manage their gifts a donor asked for on the manage page."""
    send(
        MailKind.MANAGE_LINK,
        to=donor.email,
        subject=f"Your gifts to {current_app.config['SITE_NAME']}",
        body=render_template("mail/manage_link.txt", donor=donor, manage_url=manage_url),
    )


def send_cancellation(gift, manage_url: str) -> None:
    """Queue the confirmation of a donor's cancellation."""
    send(
        MailKind.CANCELLATION,
        to=gift.donor.email,
        subject=f"Your gift to {current_app.config['SITE_NAME']} is cancelled",
        body=render_template(
            "mail/cancelled.txt",
            gift=gift,
            amount=format_amount(gift.amount, gift.currency),
            manage_url=manage_url,
        ),
    )


def send_action_required(gift, manage_url: str) -> None:
    """Queue the request to confirm, on the manage page, a renewal the bank holds for 3-D Secure."""
    context = {"gift": gift, "amount": format_amount(gift.amount, gift.currency), "manage_url": manage_url}
    send(
        MailKind.ACTION_REQUIRED,
        to=gift.donor.email,
        subject=f"Please confirm your gift to {current_app.config['SITE_NAME']}",
        body=render_template("mail/action_required.txt", **context),
        html=render_template("mail/action_required.html", **context),
    )


def send_renewal_failed(gift, context: dict) -> None:
    """Queue the notice of a failed renewal (services.notices.renewal_context): the retry date
    and the link to put in a new card, or the last notice when Stripe will not retry."""
    last = context["last"]
    send(
        MailKind.RENEWAL_LAST_NOTICE if last else MailKind.RENEWAL_FAILED,
        to=gift.donor.email,
        subject=(
            f"Last notice: your gift to {current_app.config['SITE_NAME']} will end"
            if last
            else f"Your gift to {current_app.config['SITE_NAME']} could not be collected"
        ),
        **_both("renewal_failed", gift=gift, **context),
    )


def _both(template: str, **context) -> dict[str, str]:
    """The plain-text body and the HTML of a message whose templates share a name."""
    return {
        "body": render_template(f"mail/{template}.txt", **context),
        "html": render_template(f"mail/{template}.html", **context),
    }


def send_card_expiring(gift, context: dict) -> None:
    """Queue the notice that the card paying a gift expires at the end of the month."""
    send(
        MailKind.CARD_EXPIRING,
        to=gift.donor.email,
        subject=f"Your card for {current_app.config['SITE_NAME']} expires soon",
        **_both("card_expiring", gift=gift, **context),
    )


def send_yearly_reminder(gift, context: dict) -> None:
    """Queue the reminder that a yearly gift is about to be charged."""
    send(
        MailKind.YEARLY_REMINDER,
        to=gift.donor.email,
        subject=f"Your yearly gift renews on {context['charge_on']}",
        **_both("yearly_reminder", gift=gift, **context),
    )


def send_digest(to: str, digest) -> None:
    """Queue the staff's daily digest (services.digest.Digest)."""
    send(
        MailKind.DIGEST,
        to=to,
        subject=f"{current_app.config['SITE_NAME']} donors, {digest.day:%A %d %B %Y}: {digest.headline}",
        body=render_template("mail/digest.txt", digest=digest),
        html=render_template("mail/digest.html", digest=digest),
    )


def send_staff_reply(gift, comment: str, answer: str, manage_url: str) -> OutboxMessage:
    """Queue staff's answer to the comment a donor left when cancelling a gift."""
    return send(
        MailKind.STAFF_REPLY,
        to=gift.donor.email,
        subject=f"About your gift to {current_app.config['SITE_NAME']}: an answer to your comment",
        body=render_template(
            "mail/staff_reply.txt", gift=gift, comment=comment, answer=answer, manage_url=manage_url
        ),
    )


def public_url(endpoint: str, **values) -> str:
    """Return the absolute URL of a page at BANNER_PUBLIC_URL, with or without a request."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def _file_outbox() -> Path | None:
    """Return the folder messages are written to (BANNER_MAIL_URL=file://DIR), or None."""
    url = urlsplit(current_app.config["MAIL_URL"])
    return Path(unquote(url.path)) if url.scheme == "file" else None


def forget(addresses: set[str]) -> int:
    """Delete the stored copies of messages sent to any of `addresses` and return how many: the
    file outbox keeps every message, SMTP delivery keeps none."""
    outbox = _file_outbox()
    if outbox is None or not outbox.is_dir():
        return 0
    wanted = {address.lower() for address in addresses}
    removed = 0
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if wanted & {address.lower() for _, address in getaddresses(message.get_all("To", []))}:
            path.unlink()
            removed += 1
    return removed


def send(kind: MailKind, to: str, subject: str, body: str, html: str | None = None) -> OutboxMessage:
    """Add one message to the outbox in the current transaction, without committing."""
    message = OutboxMessage(kind=kind, to=to, subject=subject, text_body=body, html_body=html)
    db.session.add(message)
    return message


def transmit(stored: OutboxMessage) -> None:
    """Hand one stored message to the configured transport; raise OSError when it fails."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = stored.to
    message["Subject"] = stored.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="banner.local")
    message.set_content(stored.text_body)
    if stored.html_body is not None:
        message.add_alternative(stored.html_body, subtype="html")
    url = urlsplit(current_app.config["MAIL_URL"])
    outbox = _file_outbox()
    if outbox is not None:
        outbox.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_") + ".eml"
        (outbox / name).write_bytes(message.as_bytes())
        return
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname, url.port or (465 if url.scheme == "smtps" else 25), timeout=10) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
