"""Which banner a page shows: the live campaign that targets it, its variants and its progress.

The answer depends only on the query (campaign, path, referrer, and whether the reader is a
current or former donor, which the browser remembers), never on who the reader is, so a CDN may
cache it; the reader's variant, dismissals and caps are decided in the browser.

Every answer is built once per state of the live campaigns (JSON bytes and their ETag), kept in
this process, and rebuilt when BANNER_CACHE_SECONDS have passed (goal progress moves) or when the
campaigns version moved (a staff change, here or on another instance: services.campaigns_version,
looked at every CHECK_SECONDS). So answering a page costs no database work.
"""

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import selectinload

from banner.assets import gzipped
from banner.extensions import db
from banner.models import Campaign, CampaignStatus, Frequency, Variant, utcnow
from banner.money import format_amount, major_units
from banner.services import campaigns, campaigns_version
from banner.signals import campaigns_changed

PREVIEW_SALT = "banner-preview"
PREVIEW_HOURS = 24  #: how long a preview link staff make works
#: what the browser says of its reader: a donor whose gift runs ("current") sees no banner; one
#: who gave before ("former") sees the campaign's variants for former donors, when it has some
DONOR_STATES = ("current", "former")


@dataclass(frozen=True)
class Answer:
    """A banner answer as sent: its JSON bytes, the same gzipped, and their ETag, built once per
    campaign state."""

    body: bytes
    etag: str
    payload: dict = field(compare=False)
    gzipped: bytes = field(compare=False)

    @classmethod
    def of(cls, payload: dict) -> "Answer":
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        return cls(body, hashlib.sha256(body).hexdigest()[:16], payload, gzipped(body))


@dataclass
class LiveCampaigns:
    """This process's copy of the live campaigns, and when to look again whether it is stale."""

    snapshots: list["Snapshot"]
    version: int | None  #: the campaigns version it was built at
    expires: float  #: time.monotonic() after which goal progress is read again
    next_check: float  #: time.monotonic() after which the campaigns version is read again


@dataclass(frozen=True)
class Snapshot:
    """A campaign as the banner needs it, detached from the database session."""

    campaign_id: int
    slug: str
    status: CampaignStatus
    starts_at: datetime | None
    ends_at: datetime | None
    path_include: tuple[str, ...]
    path_exclude: tuple[str, ...]
    referrer_domains: tuple[str, ...]
    payload: dict
    #: the answer for any reader (key None) and for a former donor ("former")
    answers: dict[str | None, Answer]

    def is_live(self, now: datetime) -> bool:
        return (
            self.status is CampaignStatus.LIVE
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )

    def targets(self, path: str, referrer: str | None) -> bool:
        """Return whether the campaign is meant for an article at `path` reached from `referrer`."""
        path = path or "/"
        if self.path_include and not path.startswith(self.path_include):
            return False
        if self.path_exclude and path.startswith(self.path_exclude):
            return False
        if self.referrer_domains:
            try:
                host = (urlsplit(referrer or "").hostname or "").lower()
            except ValueError:  # "http://[::1": no host to match
                return False
            return any(host == d or host.endswith("." + d) for d in self.referrer_domains)
        return True


def choose(
    slug: str | None,
    path: str,
    referrer: str | None,
    preview: str | None = None,
    donor: str | None = None,
) -> dict | None:
    """Return the banner for a page (see answer()); `preview`, a token from preview_token(), shows
    that campaign and variant whatever their status and schedule, for PREVIEW_HOURS after staff
    made it; any other value shows nothing."""
    if preview:
        return _preview(preview)
    chosen = answer(slug, path, referrer, donor)
    return chosen.payload if chosen is not None else None


def answer(slug: str | None, path: str, referrer: str | None, donor: str | None = None) -> Answer | None:
    """Return the banner for a page, ready to send: the named campaign if live, else the live
    campaign of highest priority (the oldest among equals) that targets the page; None when
    nothing should show, or when the reader is a current donor."""
    if donor == "current":
        return None
    now = utcnow()
    for snapshot in _live_snapshots():
        if not snapshot.is_live(now):
            continue
        if snapshot.slug == slug if slug else snapshot.targets(path, referrer):
            return snapshot.answers["former" if donor == "former" else None]
    return None


def clear_cache() -> None:
    """Forget the cached campaigns and goal progress of this process (after a staff edit)."""
    current_app.extensions.pop("banner_cache", None)
    current_app.extensions.pop("progress_cache", None)


@campaigns_changed.connect
def _campaigns_changed(sender, **extra) -> None:
    """Rebuild the banners here at once, and tell the other instances through the version."""
    clear_cache()
    campaigns_version.bump()


def _live_snapshots() -> list[Snapshot]:
    """Return live-status campaigns by priority, from this process's copy while it is fresh."""
    cached: LiveCampaigns | None = current_app.extensions.get("banner_cache")
    now = time.monotonic()
    if cached is not None and now < cached.next_check:
        return cached.snapshots  # the hot path: no database, no Redis
    version = campaigns_version.read()
    if cached is not None and version is not None and version == cached.version and now < cached.expires:
        cached.next_check = now + campaigns_version.CHECK_SECONDS
        return cached.snapshots
    rows = db.session.scalars(
        sa.select(Campaign)
        .where(Campaign.status == CampaignStatus.LIVE)
        .options(selectinload(Campaign.variants))
        .order_by(Campaign.priority.desc(), Campaign.id)
    ).all()
    snapshots = [snapshot(campaign) for campaign in rows]
    current_app.extensions["banner_cache"] = LiveCampaigns(
        snapshots,
        version,
        expires=now + current_app.config["CACHE_SECONDS"],
        next_check=now + campaigns_version.CHECK_SECONDS,
    )
    return snapshots


def snapshot(campaign: Campaign) -> Snapshot:
    """Return the campaign as the banner answers it (its answers built once), detached from the session."""
    data = payload(campaign)
    return Snapshot(
        campaign_id=campaign.id,
        slug=campaign.slug,
        status=campaign.status,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        path_include=tuple(campaign.path_include or ()),
        path_exclude=tuple(campaign.path_exclude or ()),
        referrer_domains=tuple(d.lower() for d in campaign.referrer_domains or ()),
        payload=data,
        answers={
            None: Answer.of(for_audience(data, None)),
            "former": Answer.of(for_audience(data, "former")),
        },
    )


def for_audience(data: dict, donor: str | None) -> dict:
    """Return the payload with the variants meant for this reader: a former donor's when the
    reader is one and the campaign has some, else those for all readers."""
    everyone = [variant for variant in data["variants"] if variant["audience"] == "all"]
    former = [variant for variant in data["variants"] if variant["audience"] == "former"]
    return {**data, "variants": former if donor == "former" and former else everyone}


def preview_token(slug: str, key: str) -> str:
    """Return a signed token that previews a campaign's variant on any article, for PREVIEW_HOURS."""
    return _preview_serializer().dumps([slug, key])


def _preview_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=PREVIEW_SALT)


def _preview(token: str) -> dict | None:
    try:
        slug, key = _preview_serializer().loads(token, max_age=PREVIEW_HOURS * 3600)
    except (BadSignature, ValueError, TypeError):  # forged, expired or not a pair
        return None
    campaign = campaigns.find(slug)
    if campaign is None:
        return None
    data = payload(campaign)
    data["variants"] = [v for v in data["variants"] if v["key"] == key] or data["variants"][:1]
    data["preview"] = True
    return data


def payload(campaign: Campaign) -> dict:
    """Return what the banner script renders for a campaign: plain text only, never HTML."""
    progress = campaigns.goal_progress(campaign)
    currency = campaign.currency
    return {
        "campaign": campaign.slug,
        "placement": campaign.placement.value,
        "dismissDays": campaign.dismiss_days,
        "cap": campaign.daily_cap,
        "goal": {
            "percent": progress.percent,
            "text": f"{format_amount(progress.raised, currency)} raised of "
            f"{format_amount(progress.goal, currency)}",
        },
        "donateUrl": current_app.config["PUBLIC_URL"].rstrip("/") + "/donate",
        "variants": [
            {
                "key": variant.key,
                "heading": variant.heading,
                "body": variant.body,
                "button": variant.button_text,
                "buttonFrequency": button_frequency(variant),
                "theme": variant.theme,
                "weight": variant.weight,
                "audience": variant.audience,
                "amounts": [
                    [major_units(amount, currency), format_amount(amount, currency)]
                    for amount in campaigns.preset_amounts(campaign, variant)
                ],
            }
            for variant in campaign.variants
            if variant.weight > 0
        ],
    }


#: what a button's copy promises, e.g. "Give monthly" or "Become a yearly supporter"
PROMISED_FREQUENCIES = [
    (re.compile(r"\b(monthly|a month|per month|every month)\b", re.IGNORECASE), Frequency.MONTH),
    (re.compile(r"\b(yearly|annually|annual|a year|per year|every year)\b", re.IGNORECASE), Frequency.YEAR),
]


def button_frequency(variant: Variant) -> str | None:
    """Return the frequency a variant's button promises ("Give monthly": "month"), or None when the
    reader's own choice in the banner decides."""
    for pattern, frequency in PROMISED_FREQUENCIES:
        if pattern.search(variant.button_text or ""):
            return frequency.value
    return None
