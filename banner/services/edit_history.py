"""The version history of campaigns and banner variants: each staff save kept whole as a new
version, with who saved it, when and what changed (field, old → new), so that any earlier
version can be put back (services.campaign_editing.restore_version)."""

import enum
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    Campaign,
    CampaignStatus,
    EditVersion,
    GoalMode,
    Placement,
    StaffUser,
    Variant,
    VersionEvent,
)
from banner.money import format_amount

#: the fields a version keeps, in the order staff read them
CAMPAIGN_FIELDS = (
    "slug",
    "title",
    "description",
    "goal_amount",
    "currency",
    "goal_mode",
    "status",
    "starts_at",
    "ends_at",
    "priority",
    "preset_amounts",
    "path_include",
    "path_exclude",
    "referrer_domains",
    "placement",
    "dismiss_days",
    "gave_hide_days",
    "daily_cap",
)
VARIANT_FIELDS = (
    "key",
    "heading",
    "body",
    "button_text",
    "preset_amounts",
    "default_amounts",
    "popular_label",
    "theme",
    "weight",
    "audience",
)
#: stored values that are not plain JSON: how to read them back
READ_BACK = {
    "goal_mode": GoalMode,
    "status": CampaignStatus,
    "placement": Placement,
    "starts_at": datetime.fromisoformat,
    "ends_at": datetime.fromisoformat,
}
#: field -> its name in the staff pages' words
LABELS = {
    "goal_amount": "goal",
    "goal_mode": "counts towards the goal",
    "starts_at": "starts",
    "ends_at": "ends",
    "preset_amounts": "suggested amounts",
    "path_include": "only on paths",
    "path_exclude": "never on paths",
    "referrer_domains": "only from",
    "dismiss_days": "days hidden after closing",
    "gave_hide_days": "days hidden after giving",
    "daily_cap": "impressions per reader per day",
    "body": "text",
    "button_text": "button",
    "default_amounts": "amounts chosen at first",
    "popular_label": "“Most popular” label",
}
FREQUENCY_WORDS = {"once": "once", "month": "monthly", "year": "yearly"}
#: the longest text shown whole in a change; longer copy is cut with an ellipsis
SHOWN_CHARACTERS = 80
#: the newest versions the campaign page lists
HISTORY_SHOWN = 200


@dataclass(frozen=True)
class Change:
    field: str  #: in staff's words
    old: str
    new: str


@dataclass(frozen=True)
class VersionRow:
    version: EditVersion
    changes: list[Change]
    current: bool  #: the state the campaign or variant is in now: nothing to restore


def snapshot(row: Campaign | Variant) -> dict:
    """Return every field staff edit on `row` as JSON values."""
    names = CAMPAIGN_FIELDS if isinstance(row, Campaign) else VARIANT_FIELDS
    return {name: _plain(getattr(row, name)) for name in names}


def values(stored: dict) -> dict:
    """Return a version's snapshot as the values its model takes."""
    return {
        name: READ_BACK[name](value) if name in READ_BACK and value is not None else value
        for name, value in stored.items()
    }


def diff(before: dict, after: dict) -> list[list]:
    """Return [field, old, new] for each field whose stored value differs."""
    return [[name, before.get(name), value] for name, value in after.items() if before.get(name) != value]


def record(
    staff: StaffUser | None,
    campaign: Campaign,
    variant: Variant | None,
    event: VersionEvent,
    before: dict,
    restored_from: int | None = None,
) -> EditVersion:
    """Add the next version of `variant` (or of `campaign` when None), as it is now, in the
    caller's transaction; `before` is its snapshot before the change."""
    row: Campaign | Variant = variant if variant is not None else campaign
    after = snapshot(row)
    version = EditVersion(
        campaign_id=campaign.id,
        variant_id=variant.id if variant is not None else None,
        variant_key=variant.key if variant is not None else None,
        number=_last_number(campaign, variant) + 1,
        event=event,
        restored_from=restored_from,
        staff_user_id=staff.id if staff else None,
        actor_email=staff.email if staff else None,
        changes=[] if event is VersionEvent.BASELINE else diff(before, after),
        snapshot=after,
    )
    db.session.add(version)
    return version


def start_history(campaign: Campaign, variant: Variant | None) -> None:
    """Keep how a campaign or variant made before its history began is, before its first edit,
    so that the first edit can be undone too."""
    if _last_number(campaign, variant) == 0:
        record(None, campaign, variant, VersionEvent.BASELINE, {})


def history(campaign: Campaign) -> list[VersionRow]:
    """Return the versions of the campaign and of its variants, newest first (the HISTORY_SHOWN
    newest), each change in words."""
    versions = db.session.scalars(
        sa.select(EditVersion)
        .where(EditVersion.campaign_id == campaign.id)
        .order_by(EditVersion.id.desc())
        .limit(HISTORY_SHOWN)
    ).all()
    seen: set[int | None] = set()  # the campaign (None) and each variant still there, by id
    rows = []
    for version in versions:
        gone = not version.is_campaign and version.variant_id is None  # a deleted variant's
        current = not gone and version.variant_id not in seen
        if not gone:
            seen.add(version.variant_id)
        changes = [
            Change(label(name), shown(name, old, campaign.currency), shown(name, new, campaign.currency))
            for name, old, new in version.changes
        ]
        rows.append(VersionRow(version=version, changes=changes, current=current))
    return rows


def audit_changes(changes: list[list], currency: str) -> dict[str, str]:
    """Return each change as "old → new" by field, for the audit log."""
    return {
        name: f"{shown(name, old, currency)} → {shown(name, new, currency)}" for name, old, new in changes
    }


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def shown(name: str, value, currency: str) -> str:
    """Return a stored value as staff read it: amounts in money, times in UTC, long copy cut."""
    if value is None or value == [] or value == {}:
        return "none" if name != "daily_cap" else "no cap"
    if name == "goal_amount":
        return format_amount(value, currency)
    if name == "preset_amounts":
        return ", ".join(format_amount(amount, currency) for amount in value)
    if name == "default_amounts":
        return ", ".join(
            f"{format_amount(amount, currency)} {FREQUENCY_WORDS.get(frequency, frequency)}"
            for frequency, amount in value.items()
        )
    if name in ("starts_at", "ends_at"):
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    text = str(value)
    if isinstance(value, str) and name not in READ_BACK:
        text = f"“{text[:SHOWN_CHARACTERS]}{'…' if len(text) > SHOWN_CHARACTERS else ''}”"
    return text


def _last_number(campaign: Campaign, variant: Variant | None) -> int:
    query = sa.select(sa.func.max(EditVersion.number)).where(EditVersion.campaign_id == campaign.id)
    if variant is None:
        query = query.where(EditVersion.variant_key.is_(None))
    else:
        query = query.where(EditVersion.variant_id == variant.id)
    return db.session.scalar(query) or 0


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
