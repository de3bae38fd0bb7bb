"""The local Stripe emulator: localstripe (a separate process, GPL, never copied here) behind a shim.

`translate` holds the pure translations between Stripe's current API and localstripe's older
dialect; `server` is the HTTP shim that applies them and emulates what localstripe lacks.
"""

from devtools.stripe_emulator.server import Shim, serve

__all__ = ["Shim", "serve"]
