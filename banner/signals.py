"""Signals inside one process: what changed, for whoever keeps a copy of it."""

from blinker import Namespace

_signals = Namespace()

#: Sent with the campaign (or None for "any") after a staff change to a campaign or its variants is committed.
campaigns_changed = _signals.signal("campaigns-changed")
