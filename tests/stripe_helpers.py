"""What Stripe.js does in the donor's browser (confirmPayment with a test card), done from tests
against the emulator, through the same endpoints as the emulator's Stripe.js double."""

import json
import urllib.error
import urllib.parse
import urllib.request

VISA = "4242424242424242"
DECLINED = "4000000000000002"
DECLINED_AT_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002500003155"
PUBLISHABLE_KEY = "pk_test_suite"


def _api(stripe_base: str, method: str, path: str, data: dict) -> dict:
    body = urllib.parse.urlencode({"key": PUBLISHABLE_KEY, **data}).encode()
    url = stripe_base + path + ("?" + body.decode() if method == "GET" else "")
    request = urllib.request.Request(url, data=None if method == "GET" else body, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def card_method(stripe_base: str, number: str) -> str:
    """Create a card PaymentMethod with the publishable key, as the Payment Element does."""
    method = _api(
        stripe_base,
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
        },
    )
    return method["id"]


def confirm_payment(
    stripe_base: str, client_secret: str, number: str = VISA, authenticate: bool = True
) -> dict:
    """Confirm a PaymentIntent (a one-time gift's, or a subscription's first invoice's) with a
    test card, as stripe.confirmPayment does; answer 3-D Secure when the bank asks. Returns the
    PaymentIntent, or Stripe's error body."""
    return _confirm(stripe_base, "payment_intents", client_secret, number, authenticate)


def confirm_setup(stripe_base: str, client_secret: str, number: str = VISA) -> dict:
    """Confirm a SetupIntent with a test card, as stripe.confirmSetup does; answers 3-D Secure."""
    return _confirm(stripe_base, "setup_intents", client_secret, number, authenticate=True)


def _confirm(stripe_base: str, kind: str, client_secret: str, number: str, authenticate: bool) -> dict:
    path = f"/v1/{kind}/{client_secret.split('_secret_')[0]}"
    result = _api(
        stripe_base,
        "POST",
        f"{path}/confirm",
        {"client_secret": client_secret, "payment_method": card_method(stripe_base, number)},
    )
    if result.get("status") == "requires_action":
        success = "true" if authenticate else "false"
        _api(stripe_base, "POST", f"{path}/_authenticate?success={success}", {"client_secret": client_secret})
        result = _api(stripe_base, "GET", path, {"client_secret": client_secret})
    return result


def give(
    stripe_base: str,
    *,
    email: str = "ada@example.org",
    name: str = "Ada Reader",
    amount: int = 1000,
    frequency=None,
    article_url: str | None = None,
):
    """Give through checkout with a Visa card, as the donate page does; return the Gift (monthly
    unless `frequency` says otherwise). Its receipt goes to the outbox."""
    import uuid

    import sqlalchemy as sa

    from banner.extensions import db
    from banner.models import Frequency, Gift
    from banner.services import checkout

    started = checkout.start_gift(
        checkout.GiftRequest(
            amount=amount,
            currency="usd",
            frequency=frequency or Frequency.MONTH,
            cover_fees=False,
            name=name,
            email=email,
            checkout_key=uuid.uuid4().hex,
            article_url=article_url,
        )
    )
    confirm_payment(stripe_base, started.client_secret, VISA)
    assert checkout.complete_gift(started.reference).status == "succeeded"
    return db.session.scalar(sa.select(Gift).where(Gift.reference == started.reference))
