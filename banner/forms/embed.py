"""What the banner sends: its request for a banner, and its batches of events (beacons)."""

import json
from typing import NamedTuple

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    StringField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Length,
    Optional,
    Regexp,
)

from banner.forms.fields import is_text
from banner.models import EVENT_COLUMNS


class BannerEventForm(Form):
    type = StringField(validators=[DataRequired(), AnyOf(list(EVENT_COLUMNS))])
    campaign = StringField(validators=[DataRequired(), Length(max=60)])
    variant = StringField(validators=[DataRequired(), Length(max=40)])


class BannerEventsForm(FlaskForm):
    """A batch of banner events, as the banner script sends them with navigator.sendBeacon."""

    class Meta:
        csrf = False  # cookieless, cross-origin beacons; nothing here acts for a user

    MAX_EVENTS = 50
    events = FieldList(FormField(BannerEventForm), min_entries=1, max_entries=MAX_EVENTS)
    #: the banner's anonymous id for this browser (random, kept in localStorage), when it sends one
    reader = StringField(validators=[Optional(), Regexp(r"^[A-Za-z0-9_-]{8,64}$")])


class BeaconBatch(NamedTuple):
    events: list[tuple[str, str, str]]  #: (kind, campaign slug, variant key)
    reader: str | None


class BeaconError(ValueError):
    """A beacon body that is not a batch of events; the message says what is wrong."""


def read_beacons(body: bytes) -> BeaconBatch:
    """Decode a beacon body, {"events": [{"type", "campaign", "variant"}, ...], "reader"?}, or
    raise BeaconError."""
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep or a too long number
        raise BeaconError("The body is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise BeaconError('Send {"events": [...]}.')
    events = data["events"]
    if len(events) > BannerEventsForm.MAX_EVENTS:
        raise BeaconError("Too many events in one batch.")
    fields = ("type", "campaign", "variant")
    if not all(isinstance(e, dict) and all(is_text(e.get(f)) for f in fields) for e in events):
        raise BeaconError("Each event is an object of type, campaign and variant, as text.")
    reader = data.get("reader")
    if reader is not None and not is_text(reader):
        raise BeaconError("The reader is a text id.")
    form = BannerEventsForm(formdata=None, data={"events": events, "reader": reader})
    if not form.validate():
        raise BeaconError("Bad events.")
    return BeaconBatch([(e["type"], e["campaign"], e["variant"]) for e in form.events.data], reader)
