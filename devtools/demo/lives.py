"""One gift lived through in time order, by the service's own functions.

The donor sends the donate form and returns from the card step (banner.services.checkout), later
changes, pauses or cancels on the manage page (banner.services.manage), and Stripe tells the
webhook what happened (banner.services.lifecycle.receive): payments, renewals that fail and are
retried, pauses that end, cancellations, refunds and disputes. Each step runs at its own moment
on the demo's clock (devtools.demo.clock); none of them writes a row itself.
"""

import bisect
from datetime import datetime
from typing import TYPE_CHECKING

from banner.models import Frequency, Gift, GiftStatus
from banner.services import checkout, manage, pauses, save_offers
from devtools.demo import choices as c
from devtools.demo.stripe_double import stamp

if TYPE_CHECKING:
    from devtools.demo.history import Person, World


class GiftLife:
    """A gift from the donate form to the end of the history."""

    def __init__(self, world: "World", person: "Person", frequency: Frequency, at: datetime):
        self.world, self.person, self.rng = world, person, world.rng
        self.frequency = frequency
        self.paid_at = at  #: when the card step succeeds; the form was sent a little before
        self.clock = at - self.rng.uniform(0.5, 5) * c.MINUTE
        self.gift: Gift | None = None
        self.intent: dict = {}
        self.subscription: dict = {}
        self.last_charge: dict | None = None

    # -- the clock: each step of one gift at least a second after the one before

    def _next(self, at: datetime) -> datetime:
        self.clock = max(at.replace(microsecond=0), self.clock + c.SECOND)
        return self.clock

    def _page(self, label: str, at: datetime) -> None:
        self.world.recorder.at(self._next(at), label)

    def _send(self, kind: str, obj: dict, at: datetime) -> None:
        self.world.stripe.send(kind, obj, self._next(at))

    @property
    def _key(self) -> str:
        return f"demo-{self.world.stripe.new_id('action')}"

    # -- the donate page

    def _checkout(self) -> Gift:
        world = self.world
        self._page("donate page: form sent", self.clock)
        outcome = checkout.start_gift(
            checkout.GiftRequest(
                amount=c.base_amount(self.rng, self.frequency, world.presets[self.frequency]),
                currency=c.CURRENCY,
                frequency=self.frequency,
                cover_fees=self.rng.random() < c.FEE_COVERED_SHARE,
                name=self.person.name,
                email=self.person.email,
                checkout_key=f"demo-{self.rng.getrandbits(64):016x}",
                **world.attribution(self.frequency),
            )
        )
        gift = self.gift = checkout.get_gift(outcome.reference)
        if gift.variant_id is not None:
            world.gifts_by_day[gift.variant_id, gift.created_at.date()] += 1
        if gift.stripe_subscription_id:
            self.subscription = world.stripe.subscriptions[gift.stripe_subscription_id]
        else:
            self.intent = world.stripe.intents[gift.stripe_payment_intent_id or ""]
        return gift

    def _return_from_card_step(self, at: datetime) -> None:
        assert self.gift is not None  # the form was sent
        self._page("donate page: card step done", at)
        checkout.complete_gift(self.gift.reference)

    def start(self) -> None:
        """Send the form and pay: a one-time gift is paid, a recurring one starts."""
        self._checkout()
        stripe, at = self.world.stripe, self.paid_at
        if self.frequency is Frequency.ONCE:
            self.last_charge = stripe.pay_intent(self.intent, self.person.card)
            self._return_from_card_step(at)
            self._send("payment_intent.succeeded", self.intent, at)
            self._after_payment(self.last_charge, at, once=True)
            return
        stripe.subscription_starts(self.subscription, at)
        self._pay(self.world.stripe.latest_invoice[self.subscription["id"]], at, first=True)

    def decline(self) -> None:
        """Fail at the card step; the donor tries another card a little later (another gift)."""
        self._checkout()
        message = self.rng.choice(c.DECLINES)
        stripe = self.world.stripe
        intent = self.intent or stripe.latest_invoice[self.subscription["id"]]["intent"]
        stripe.decline_intent(intent, message)
        self._return_from_card_step(self.paid_at)
        if self.intent:
            self._send("payment_intent.payment_failed", self.intent, self.paid_at)

    def abandon(self) -> None:
        """Send the form and never finish the card step."""
        self._checkout()

    # -- money

    def _pay(self, invoice: dict, at: datetime, first: bool = False) -> None:
        """The invoice is paid: the page (first payment) and Stripe's events record it."""
        stripe = self.world.stripe
        public, invoice_payment = stripe.pay_invoice(invoice, at, self.person.card)
        self.subscription["status"] = "active"
        self.last_charge = stripe.charges[invoice_payment["payment"]["charge"]]
        if first:
            self._return_from_card_step(at)
        self._send("invoice_payment.paid", invoice_payment, at)
        self._send("invoice.paid", public, at)
        self._send("customer.subscription.updated", self.subscription, at)
        self._after_payment(self.last_charge, at)

    def _after_payment(self, charge: dict, at: datetime, once: bool = False) -> None:
        rng = self.rng
        if rng.random() < c.REFUND_SHARE:
            self._refund(charge, at + rng.uniform(1, 14) * c.DAY)
        elif once and rng.random() < c.ONCE_DISPUTE_SHARE:
            self.world.stripe.dispute(charge, at + rng.uniform(10, 45) * c.DAY, rng.choice(c.DISPUTE_REASONS))

    def _refund(self, charge: dict, at: datetime) -> None:
        """Refund part or all of a charge; a refund does not move the gift's own clock."""
        if at >= self.world.until:
            return
        amount = charge["amount"]
        full = amount < 200 or self.rng.random() < c.FULL_REFUND_SHARE
        charge.update(amount_refunded=amount if full else max(100, amount // 200 * 100), refunded=full)
        self.world.stripe.send("charge.refunded", charge, at.replace(microsecond=0))

    # -- a recurring gift's life

    def live(self) -> None:
        """Renew every period until the gift ends or the history does; on the way the donor may
        cancel (or take an offer instead), change the amount or pause, and renewals may fail."""
        stripe, sub, until = self.world.stripe, self.subscription, self.world.until
        while True:
            start, end = stripe.period(sub)
            action_at = start + (end - start) * self.rng.uniform(0.1, 0.9)
            if action_at < until and self.gift is not None and self.gift.status is GiftStatus.ACTIVE:
                self._act(action_at)
            if sub["status"] == "canceled":
                return
            if sub["pause_collection"]:
                resumes = stripe.moment(sub["pause_collection"]["resumes_at"])
                while end < resumes and end < until:  # Stripe voids the invoices of the pause
                    start, end = stripe.next_period(sub)
                if resumes >= until:
                    return
                sub["pause_collection"] = None
                self._send("customer.subscription.updated", sub, resumes)
                continue
            if end >= until:
                return
            if sub["cancel_at_period_end"]:
                self._send(
                    "customer.subscription.deleted", stripe.end(sub, end, "cancellation_requested"), end
                )
                return
            if not self._renew(end + self.rng.uniform(1, 50) * c.MINUTE):
                return

    def _renew(self, at: datetime) -> bool:
        """Charge one renewal; return whether the gift goes on (paid at once or on a retry)."""
        world, rng, stripe, sub = self.world, self.rng, self.world.stripe, self.subscription
        stripe.next_period(sub)
        invoice = stripe.invoice(sub, at, stripe.price(sub)[0])
        frequency = Frequency(stripe.price(sub)[1])
        if rng.random() >= c.FAIL_CHANCE[frequency]:
            self._pay(invoice, at)
            return True
        world.renewals["failed"] += 1
        sub["status"] = "past_due"
        self._send("invoice.payment_failed", stripe.fail_invoice(invoice, at + c.RETRY_DAYS[0] * c.DAY), at)
        self._send("customer.subscription.updated", sub, at)
        recovers_on = rng.randint(2, len(c.RETRY_DAYS) + 1) if rng.random() < c.RECOVERY_SHARE else None
        for attempt, days in enumerate(c.RETRY_DAYS, start=2):
            retry = at + days * c.DAY
            if retry >= world.until:
                world.renewals["still retrying"] += 1
                return False
            if attempt == recovers_on:
                world.renewals["recovered"] += 1
                self._pay(invoice, retry)
                return True
            later = at + c.RETRY_DAYS[attempt - 1] * c.DAY if attempt < len(c.RETRY_DAYS) else None
            self._send("invoice.payment_failed", stripe.fail_invoice(invoice, later), retry)
        lapsed = at + c.RETRY_DAYS[-1] * c.DAY + c.HOUR
        if lapsed >= world.until:
            world.renewals["still retrying"] += 1
            return False
        world.renewals["lost"] += 1
        self._send("customer.subscription.deleted", stripe.end(sub, lapsed, "payment_failed"), lapsed)
        return False

    def _act(self, at: datetime) -> None:
        """Do what the donor does during one billing period, if anything."""
        frequency, roll = self.frequency_now, self.rng.random()
        cancel = c.CANCEL_CHANCE[frequency]
        if frequency is Frequency.MONTH:  # more leave in January, and in their first months
            cancel *= (1.3 if at.month == 1 else 1) * (
                1.5 if self.world.stripe.periods(self.subscription) <= 3 else 1
            )
        for chance, action in (
            (cancel, self._cancel),
            (c.UPGRADE_CHANCE[frequency], self._upgrade),
            (c.DOWNGRADE_CHANCE[frequency], self._downgrade),
            (c.PAUSE_CHANCE[frequency], self._pause),
            (c.DISPUTE_CHANCE[frequency], self._dispute),
        ):
            if roll < chance:
                action(at)
                return
            roll -= chance

    @property
    def frequency_now(self) -> Frequency:
        return Frequency(self.world.stripe.price(self.subscription)[1])

    def _cancel(self, at: datetime) -> None:
        rng, gift, stripe = self.rng, self.gift, self.world.stripe
        assert gift is not None  # a recurring gift that lives was started
        reason = self.world.reasons(rng)
        comment = (
            rng.choice(c.COMMENTS.get(reason, c.COMMENTS["other"]))
            if rng.random() < c.COMMENT_SHARE
            else None
        )
        if rng.random() < c.DASHBOARD_SHARE:  # staff end it in Stripe's dashboard, as the donor asked
            ended = stripe.end(
                self.subscription, at, "cancellation_requested", manage.REASONS[reason][1], comment
            )
            self._send("customer.subscription.deleted", ended, at)
            return
        offered = self._offers(reason)
        if offered and rng.random() < c.SAVE_SHARE:
            taken = self.world.offers(rng)
            taken = taken if taken in offered else offered[0]
            self._page("manage page: offer taken", at)
            save_offers.record_offer_taken(gift, offered, taken)
            {"pause": self._pause, "lower": self._lower, "yearly": self._go_yearly}[taken](self.clock)
            return
        self._page("manage page: cancel", at)
        manage.cancel(gift, reason, comment, offered, self._key)
        self._send("customer.subscription.updated", self.subscription, at)

    def _offers(self, reason: str) -> list[str]:
        """The offers the cancel page makes this donor, leaving out what this gift cannot take."""
        assert self.gift is not None
        possible = {
            "pause": self.frequency_now in pauses.PAUSE_LENGTHS,
            "lower": save_offers.offer_amounts(self.gift)[0] < self.gift.base_amount,
            "yearly": self.frequency_now is Frequency.MONTH,
        }
        return [name for name in save_offers.offers_for(reason) if possible.get(name)]

    def _change(self, amount: int, frequency: Frequency, at: datetime) -> None:
        assert self.gift is not None
        self._page("manage page: change amount", at)
        proration = stamp(self.clock) if frequency is not self.frequency_now else None
        manage.change_amount(self.gift, amount, frequency, self._key, proration)
        self._send("customer.subscription.updated", self.subscription, at)

    def _upgrade(self, at: datetime) -> None:
        assert self.gift is not None
        ladder, base = self.world.ladders[self.frequency_now], self.gift.base_amount
        higher = ladder[bisect.bisect_right(ladder, base)] if base < ladder[-1] else base * 3 // 200 * 100
        self._change(higher, self.frequency_now, at)

    def _downgrade(self, at: datetime) -> None:
        assert self.gift is not None
        ladder = self.world.ladders[self.frequency_now]
        index = bisect.bisect_left(ladder, self.gift.base_amount)
        if index > 0:
            self._change(ladder[index - 1], self.frequency_now, at)

    def _lower(self, at: datetime) -> None:
        assert self.gift is not None
        self._change(save_offers.offer_amounts(self.gift)[0], self.frequency_now, at)

    def _go_yearly(self, at: datetime) -> None:
        """Give a year's worth once a year: Stripe starts the yearly period and charges it now."""
        assert self.gift is not None
        stripe = self.world.stripe
        self._change(save_offers.offer_amounts(self.gift)[1], Frequency.YEAR, at)
        invoice = stripe.interval_changed(self.subscription, self.clock)
        self._pay(invoice, self.clock)

    def _pause(self, at: datetime) -> None:
        assert self.gift is not None
        self._page("manage page: pause", at)
        manage.pause(self.gift, self.rng.choice(pauses.PAUSE_LENGTHS[self.frequency_now]), self._key)
        self._send("customer.subscription.updated", self.subscription, at)

    def _dispute(self, at: datetime) -> None:
        """The donor's bank takes back the latest payment; Stripe ends the subscription."""
        if self.last_charge is None or self.last_charge["refunded"]:  # nothing left to take back
            return
        stripe = self.world.stripe
        disputed = self._next(at)
        stripe.dispute(self.last_charge, disputed, self.rng.choice(c.DISPUTE_REASONS))
        ended = disputed + c.MINUTE
        deleted = stripe.end(self.subscription, ended, "payment_disputed")
        self._send("customer.subscription.deleted", deleted, ended)
