"""A made-up but plausible history of donors for demos and benchmarks, made by the service itself.

Over the last months, donors give once, monthly or yearly; recurring gifts renew, fail and
recover or lapse, change amount, pause, take or decline save offers and are cancelled with a
reason and a comment; some payments are refunded or disputed; the live campaign's banner counts
follow the gifts it brought. The same seed on the same day makes the same history.

Nothing here writes a gift, payment or event row: the donors use the donate and manage services
(banner.services.checkout, manage), Stripe's side is an in-memory double (stripe_double) whose
events go to banner.services.lifecycle.receive as the webhook's would, and a clock (clock) makes
each step happen at its moment in the past. The mail those steps queue is kept in the outbox,
marked sent, and counted per kind of event. Development only: banner/ never imports this package
(`flask banner seed-demo` imports it when it runs).
"""

from devtools.demo.choices import MONTHLY_SHARE, YEARLY_SHARE
from devtools.demo.generate import Summary, donors_exist, generate

__all__ = ["MONTHLY_SHARE", "YEARLY_SHARE", "Summary", "donors_exist", "generate"]
