"""What Stripe.js does in the donor's browser, done from tests against the emulator."""

import json
import urllib.request

VISA = "4242424242424242"
DECLINED_AT_SETUP = "4000000000000002"
DECLINED_AT_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002500003155"


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def confirm_card_setup(stripe_base: str, client_secret: str, number: str) -> dict:
    """Confirm a SetupIntent with a test card, as stripe.confirmCardSetup does; completes
    3-D Secure when the card asks for it."""
    setup_intent = client_secret.split("_secret_")[0]
    url = f"{stripe_base}/v1/setup_intents/{setup_intent}/confirm"
    base = {"key": "pk_test_suite", "use_stripe_sdk": True, "client_secret": client_secret}
    card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    result = _post(url, {**base, "payment_method_data": {"type": "card", "card": card}})
    if result.get("status") == "requires_action":
        result = _post(url, base)
    return result


def authenticate_payment(stripe_base: str, client_secret: str) -> dict:
    """Complete 3-D Secure for a PaymentIntent, as stripe.confirmCardPayment does."""
    intent = client_secret.split("_secret_")[0]
    return _post(
        f"{stripe_base}/v1/payment_intents/{intent}/_authenticate?success=true",
        {"key": "pk_test_suite", "client_secret": client_secret},
    )


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
    setup = confirm_card_setup(stripe_base, started.client_secret, VISA)
    assert checkout.complete_gift(started.reference, setup["id"]).status == "succeeded"
    return db.session.scalar(sa.select(Gift).where(Gift.reference == started.reference))
