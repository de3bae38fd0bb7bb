"""Builders of the app's records for tests: the one place a test makes a donor, a gift, a payment,
a campaign or a staff account.

Plain functions rather than factory_boy: the tests run inside the `app` fixture's app context on
Flask-SQLAlchemy's scoped `db.session`, which these functions use as they are, with no session to
wire into a factory class. Each builds a valid record from defaults, takes any model field as a
keyword, and saves it (add, then commit) unless `save=False`, which only builds it: for a
model-level test that needs no database, or for records that are to be committed together.
The conftest fixtures `make_gift`, `make_campaign` and `make_staff` are thin wrappers of these.
"""

import itertools
from typing import TypeVar

from werkzeug.security import generate_password_hash

from banner.extensions import db
from banner.models import (
    Campaign,
    CampaignStatus,
    Donor,
    Frequency,
    Gift,
    GiftStatus,
    Payment,
    Role,
    StaffUser,
    Variant,
    utcnow,
)

PASSWORD = "correct horse battery staple"

_numbers = itertools.count(1)  # unique e-mails and Stripe ids within a test
Record = TypeVar("Record")
PAID = object()  #: the status a gift has once paid, which depends on its frequency


def _saved(record: Record, save: bool) -> Record:
    if save:
        db.session.add(record)
        db.session.commit()
    return record


def donor(*, save: bool = True, **fields) -> Donor:
    """A donor with a unique e-mail; keyword arguments set its fields."""
    values = {"email": f"donor{next(_numbers)}@example.org", "name": "Donor"}
    return _saved(Donor(**(values | fields)), save)


def gift(frequency: Frequency = Frequency.MONTH, status=PAID, *, save: bool = True, **fields) -> Gift:
    """A $10 gift of a new donor (unless `donor` or `donor_id` is given): by default paid (active
    when monthly or yearly, succeeded when once), else in `status` (None: a gift not yet started);
    keyword arguments set its fields."""
    if status is PAID:
        status = GiftStatus.ACTIVE if frequency.recurring else GiftStatus.SUCCEEDED
    values = {"frequency": frequency, "status": status, "amount": 1000, "currency": "usd"}
    if "donor" not in fields and "donor_id" not in fields:
        values["donor"] = donor(save=False)
    return _saved(Gift(**(values | fields)), save)


def payment(of: Gift | None = None, *, save: bool = True, **fields) -> Payment:
    """A payment of the whole of gift `of` (by invoice when it recurs, else by PaymentIntent),
    added to its payments; keyword arguments set its fields (`gift_id` instead of `of` too)."""
    values: dict = {}
    if of is not None:
        values = {"amount": of.amount, "currency": of.currency}
    if "stripe_invoice_id" not in fields and "stripe_payment_intent_id" not in fields:
        number = next(_numbers)
        if of is not None and of.frequency.recurring:
            values["stripe_invoice_id"] = f"in_{number}"
        else:
            values["stripe_payment_intent_id"] = f"pi_{number}"
    made = Payment(**(values | fields))
    if of is not None:
        of.payments.append(made)
    return _saved(made, save)


def campaign(*, save: bool = True, **fields) -> Campaign:
    """The live campaign "spring" with one variant "a"; keyword arguments set its fields."""
    values = {
        "slug": "spring",
        "title": "Spring drive",
        "goal_amount": 100_000,
        "currency": "usd",
        "status": CampaignStatus.LIVE,
        "starts_at": utcnow(),
        "preset_amounts": [500, 1000, 2500],
        "variants": [Variant(key="a", heading="Support us", body="Please give.")],
    }
    return _saved(Campaign(**(values | fields)), save)


def staff(
    role: str = "fundraiser",
    *,
    email: str | None = None,
    password: str = PASSWORD,
    save: bool = True,
    **fields,
) -> StaffUser:
    """A staff account with this role and password, hashed cheaply (the real scrypt takes half a
    second); its e-mail is `<role>@example.org` unless given."""
    values = {
        "email": email or f"{role}@example.org",
        "role": Role(role),
        "active": True,
        "password_hash": generate_password_hash(password, method="pbkdf2:sha256:1000"),
    }
    return _saved(StaffUser(**(values | fields)), save)
