"""Staff edits of campaigns and their banner variants: each save checked, kept as a new version
(services.edit_history), audited with its old → new values, and shown to the banner at once; and
any earlier version put back the same way."""

from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa

from banner.errors import ServiceError
from banner.extensions import db
from banner.models import (
    BannerStat,
    Campaign,
    CampaignStatus,
    EditVersion,
    Gift,
    GoalMode,
    Placement,
    StaffUser,
    Variant,
    VersionEvent,
)
from banner.services import banners, campaigns, edit_history
from banner.services.audit import record_audit
from banner.signals import campaigns_changed


class Taken(ServiceError):
    """Another campaign has this slug, or another variant of the campaign has this key."""

    code = "taken"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class VariantHasGifts(ServiceError):
    """The variant brought gifts, which stay attributed to it, so it cannot be deleted."""

    code = "variant_has_gifts"


@dataclass(frozen=True)
class CampaignFields:
    """Everything staff set on a campaign, validated."""

    slug: str
    title: str
    description: str
    goal_amount: int  #: minor units of `currency`
    currency: str
    goal_mode: GoalMode
    status: CampaignStatus
    starts_at: datetime | None
    ends_at: datetime | None
    priority: int
    preset_amounts: list[int]
    path_include: list[str]
    path_exclude: list[str]
    referrer_domains: list[str]
    placement: Placement
    dismiss_days: int
    gave_hide_days: int
    daily_cap: int | None


@dataclass(frozen=True)
class VariantFields:
    """Everything staff set on a banner variant, validated."""

    key: str
    heading: str
    body: str
    button_text: str
    preset_amounts: list[int] | None  #: None: the campaign's
    default_amounts: dict[str, int]  #: the amount chosen at first, per frequency
    popular_label: bool
    theme: str
    weight: int
    audience: str


def campaign_overview() -> list[tuple[Campaign, campaigns.Progress]]:
    """Return every campaign with its goal progress: live ones first, then by priority, newest first."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.priority.desc(), Campaign.id.desc()))
    ordered = sorted(rows, key=lambda campaign: campaign.status is not CampaignStatus.LIVE)
    return [(campaign, campaigns.goal_progress(campaign)) for campaign in ordered]


def save_campaign(
    staff: StaffUser, campaign: Campaign | None, fields: CampaignFields, ip: str | None
) -> tuple[Campaign, bool]:
    """Create a campaign (`campaign` None) or change one, keep it as a new version and show it to
    the banner at once; return it and whether anything changed."""
    _check_slug(fields.slug, campaign)
    created = campaign is None
    if campaign is not None:
        edit_history.start_history(campaign, None)
    before = edit_history.snapshot(campaign) if campaign is not None else {}
    campaign = campaign or Campaign()
    db.session.add(campaign)
    _apply(campaign, asdict(fields))
    db.session.flush()  # the new campaign's id, for its first version
    event = VersionEvent.CREATED if created else VersionEvent.EDITED
    version = _version(staff, campaign, None, event, before)
    _publish(staff, ip, "campaign_edit", f"campaign:{campaign.slug}", campaign, version, created=created)
    return campaign, version is not None


def save_variant(
    staff: StaffUser, campaign: Campaign, variant: Variant | None, fields: VariantFields, ip: str | None
) -> tuple[Variant, bool]:
    """Add a variant to `campaign` (`variant` None) or change one, keep it as a new version and
    show it to the banner at once; return it and whether anything changed."""
    _check_key(campaign, fields.key, variant)
    created = variant is None
    if variant is not None:
        edit_history.start_history(campaign, variant)
    before = edit_history.snapshot(variant) if variant is not None else {}
    if variant is None:
        variant = Variant()
        campaign.variants.append(variant)
    _apply(variant, asdict(fields))
    db.session.flush()
    event = VersionEvent.CREATED if created else VersionEvent.EDITED
    version = _version(staff, campaign, variant, event, before)
    target = f"campaign:{campaign.slug}:variant:{variant.key}"
    _publish(staff, ip, "variant_edit", target, campaign, version, created=created)
    return variant, version is not None


def delete_variant(staff: StaffUser, variant: Variant, ip: str | None) -> None:
    """Delete a variant and its banner counters, unless gifts are attributed to it; its history
    stays, so that it can be brought back."""
    if db.session.scalar(sa.select(Gift.id).where(Gift.variant_id == variant.id).limit(1)) is not None:
        raise VariantHasGifts(
            "Gifts came from this variant, so it stays in the results. "
            "Set its weight to 0 to stop showing it."
        )
    campaign = variant.campaign
    target = f"campaign:{campaign.slug}:variant:{variant.key}"
    edit_history.start_history(campaign, variant)
    version = edit_history.record(
        staff, campaign, variant, VersionEvent.DELETED, edit_history.snapshot(variant)
    )
    db.session.flush()
    # SQLite enforces neither the versions' ON DELETE SET NULL nor the counters' CASCADE: do both here.
    db.session.execute(
        sa.update(EditVersion).where(EditVersion.variant_id == variant.id).values(variant_id=None)
    )
    db.session.execute(sa.delete(BannerStat).where(BannerStat.variant_id == variant.id))
    db.session.delete(variant)
    data = {"heading": variant.heading, "version": version.number}
    record_audit("variant_delete", staff, ip, target=target, data=data)
    db.session.commit()
    banners.clear_cache()
    campaigns_changed.send(campaign)


def restore_version(staff: StaffUser, version: EditVersion, ip: str | None) -> EditVersion | None:
    """Put a campaign or variant back as an earlier version had it (a deleted variant comes back),
    as a new version, audited; return that version, or None when nothing differed."""
    campaign = db.session.get_one(Campaign, version.campaign_id)
    stored = edit_history.values(version.snapshot)
    variant: Variant | None = None
    if version.is_campaign:
        _check_slug(stored["slug"], campaign)
        edit_history.start_history(campaign, None)
        before = edit_history.snapshot(campaign)
        _apply(campaign, stored)
    else:
        variant = db.session.get(Variant, version.variant_id) if version.variant_id else None
        _check_key(campaign, stored["key"], variant)
        before = edit_history.snapshot(variant) if variant is not None else {}
        if variant is None:
            variant = Variant()
            campaign.variants.append(variant)
        _apply(variant, stored)
        db.session.flush()
    restored = _version(staff, campaign, variant, VersionEvent.RESTORED, before, version.number)
    if restored is None:
        return None
    action, target = "campaign_restore", f"campaign:{campaign.slug}"
    if variant is not None:
        action, target = "variant_restore", f"{target}:variant:{variant.key}"
    _publish(staff, ip, action, target, campaign, restored, restored_from=version.number)
    return restored


def _version(staff, campaign, variant, event, before, restored_from=None) -> EditVersion | None:
    """Keep the new version, unless an edit changed nothing."""
    row = variant if variant is not None else campaign
    if event is not VersionEvent.CREATED and not edit_history.diff(before, edit_history.snapshot(row)):
        return None
    return edit_history.record(staff, campaign, variant, event, before, restored_from)


def _publish(staff, ip, action: str, target: str, campaign: Campaign, version, **data) -> None:
    """Audit a save with its old → new values, commit it, and let the public banner see it at once."""
    changes = version.changes if version is not None else []
    data |= {
        "version": version.number if version is not None else None,
        "changed": edit_history.audit_changes(changes, campaign.currency),
    }
    record_audit(action, staff, ip, target=target, data=data)
    db.session.commit()
    banners.clear_cache()
    campaigns_changed.send(campaign)


def _check_slug(slug: str, campaign: Campaign | None) -> None:
    clash = sa.select(Campaign.id).where(Campaign.slug == slug)
    if campaign is not None:
        clash = clash.where(Campaign.id != campaign.id)
    if db.session.scalar(clash) is not None:
        raise Taken("slug", f"Another campaign already uses “{slug}”.")


def _check_key(campaign: Campaign, key: str, variant: Variant | None) -> None:
    clash = sa.select(Variant.id).where(Variant.campaign_id == campaign.id, Variant.key == key)
    if variant is not None:
        clash = clash.where(Variant.id != variant.id)
    if db.session.scalar(clash) is not None:
        raise Taken("key", f"Another variant of this campaign already uses “{key}”.")


def _apply(row: Campaign | Variant, values: dict) -> None:
    """Set the attributes of `row` that differ from `values`."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
