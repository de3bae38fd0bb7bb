"""Personal data taken out of the Stripe events we store whole, for donors whose data was erased.

Stripe objects carry a person's contact details in a few fields (a customer's name and e-mail, an
invoice's customer_email, a charge's billing_details, ...); an event's ids, type and amounts stay,
so the accounts and the event log still add up.
"""

import re

import sqlalchemy as sa

from banner.extensions import db
from banner.models import Donor, Gift, StripeEvent

ERASED = "[erased]"
#: fields of Stripe objects that hold a person's name or contact details
PERSONAL_FIELDS = frozenset(
    {"email", "name", "phone", "receipt_email", "customer_email", "customer_name", "customer_phone"}
)
#: fields of Stripe objects that hold a postal address (an object)
ADDRESS_FIELDS = frozenset({"address", "customer_address", "shipping", "customer_shipping"})


def scrub(value, known: list[str]):
    """Return `value` (a Stripe event or part of one) with personal fields replaced and every
    occurrence of the `known` strings (an e-mail, a name) removed from other text."""
    if isinstance(value, dict):
        return {key: _scrub_field(key, item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, known) for item in value]
    if isinstance(value, str) and known:
        pattern = "|".join(re.escape(text) for text in sorted(known, key=len, reverse=True))
        return re.sub(pattern, ERASED, value, flags=re.IGNORECASE)
    return value


def _scrub_field(key: str, value, known: list[str]):
    if key in PERSONAL_FIELDS and isinstance(value, str) and value:
        return ERASED
    if key in ADDRESS_FIELDS and isinstance(value, dict):
        return None
    return scrub(value, known)


def redact_events(needles: set[str], known: list[str]) -> int:
    """Scrub every stored event whose payload mentions one of `needles` (Stripe ids, gift
    references, e-mail addresses); return how many changed."""
    text = sa.cast(StripeEvent.payload, sa.Text)
    mentions = [text.icontains(needle, autoescape=True) for needle in sorted(needles) if needle]
    if not mentions:
        return 0
    changed = 0
    for stored in db.session.scalars(sa.select(StripeEvent).where(sa.or_(*mentions))):
        scrubbed = scrub(stored.payload, known)
        if scrubbed != stored.payload:
            stored.payload = scrubbed
            changed += 1
    return changed


def names_erased_donor(event: dict) -> bool:
    """Whether the event's object belongs to a customer of a donor whose data was erased (Stripe
    still sends them, e.g. the customer.updated that our own erasure caused)."""
    obj = event.get("data", {}).get("object", {})
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if not isinstance(customer, str) or not customer:
        return False
    donors = sa.select(Donor).where(
        sa.or_(
            Donor.stripe_customer_id == customer,
            Donor.id.in_(sa.select(Gift.donor_id).where(Gift.stripe_customer_id == customer)),
        )
    )
    return any(donor.erased for donor in db.session.scalars(donors))
