"""Staff accounts and logins, staff changes to campaigns and banner variants, and the audit log
that records each of them."""

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa

from banner.errors import ServiceError
from banner.extensions import db
from banner.models import (
    AuditEntry,
    BannerStat,
    Campaign,
    CampaignStatus,
    Gift,
    GoalMode,
    Placement,
    Role,
    StaffUser,
    Variant,
)
from banner.services import banners, campaigns


class Taken(ServiceError):
    """Another campaign has this slug, or another variant of the campaign has this key."""

    code = "taken"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class VariantHasGifts(ServiceError):
    """The variant brought gifts, which stay attributed to it, so it cannot be deleted."""

    code = "variant_has_gifts"


class OwnAccount(ServiceError):
    """An admin tried to deactivate or demote themself (another admin must)."""

    code = "own_account"


#: audit entries on one page of the audit log
AUDIT_PAGE_SIZE = 50


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


def audit(
    action: str,
    staff: StaffUser | None,
    ip: str | None,
    *,
    email: str | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> None:
    """Write one entry to the audit log."""
    record_audit(action, staff, ip, email=email, target=target, data=data)
    db.session.commit()


def create_staff(
    admin: StaffUser | None, email: str, role: Role, ip: str | None, password: str | None = None
) -> tuple[StaffUser, str]:
    """Create a staff account with `password`, or a generated one; return it and the password.

    `admin` None: the account comes from the create-staff command, not from the staff page.
    """
    email = email.strip().lower()
    if has_account(email):
        raise Taken("email", f"{email} already has an account.")
    password = password or new_password()
    staff = StaffUser(email=email, role=role)
    staff.set_password(password)
    db.session.add(staff)
    data = {"role": role.value} if admin else {"role": role.value, "via": "create-staff command"}
    record_audit("staff_create", admin, ip, target=f"staff:{email}", data=data)
    db.session.commit()
    return staff, password


def has_account(email: str) -> bool:
    """Whether a staff account has this e-mail (any case)."""
    typed = email.strip().lower()
    return db.session.scalar(sa.select(StaffUser.id).where(StaffUser.email == typed)) is not None


def change_role(admin: StaffUser, staff: StaffUser, role: Role, ip: str | None) -> None:
    """Give `staff` another role; an admin cannot change their own."""
    if staff.id == admin.id:
        raise OwnAccount("You cannot change your own role; ask another admin.")
    if staff.role is role:
        return
    before, staff.role = staff.role, role
    record_audit(
        "staff_role", admin, ip, target=f"staff:{staff.email}", data={"from": before.value, "to": role.value}
    )
    db.session.commit()


def set_active(admin: StaffUser, staff: StaffUser, active: bool, ip: str | None) -> None:
    """Deactivate `staff` (which ends their sessions) or let them in again."""
    if staff.id == admin.id:
        raise OwnAccount("You cannot deactivate your own account; ask another admin.")
    if staff.active is active:
        return
    staff.active = active
    if not active:
        staff.end_sessions()
    record_audit(
        "staff_reactivate" if active else "staff_deactivate", admin, ip, target=f"staff:{staff.email}"
    )
    db.session.commit()


def reset_password(admin: StaffUser, staff: StaffUser, ip: str | None) -> str:
    """Give `staff` a new generated password and return it, to be shown once; ends their sessions."""
    password = new_password()
    staff.set_password(password)
    staff.end_sessions()
    record_audit("staff_password", admin, ip, target=f"staff:{staff.email}")
    db.session.commit()
    return password


def staff_list() -> list[StaffUser]:
    """Return every staff account: active ones first, then by e-mail."""
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)))


def audit_page(action: str | None, page: int):
    """Return one page of the audit log, newest first, of one action or all."""
    query = sa.select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return db.paginate(query, page=page, per_page=AUDIT_PAGE_SIZE, error_out=False)


def audit_actions() -> list[str]:
    """Return every action the audit log holds, for its filter."""
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def new_password() -> str:
    """Return a random password of 16 URL-safe characters."""
    return secrets.token_urlsafe(12)


def campaign_overview() -> list[tuple[Campaign, campaigns.Progress]]:
    """Return every campaign with its goal progress: live ones first, then by priority, newest first."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.priority.desc(), Campaign.id.desc()))
    ordered = sorted(rows, key=lambda campaign: campaign.status is not CampaignStatus.LIVE)
    return [(campaign, campaigns.goal_progress(campaign)) for campaign in ordered]


def save_campaign(
    staff: StaffUser, campaign: Campaign | None, fields: CampaignFields, ip: str | None
) -> Campaign:
    """Create a campaign (`campaign` None) or change one, and show the change to the banner at once."""
    clash = sa.select(Campaign.id).where(Campaign.slug == fields.slug)
    if campaign is not None:
        clash = clash.where(Campaign.id != campaign.id)
    if db.session.scalar(clash) is not None:
        raise Taken("slug", f"Another campaign already uses “{fields.slug}”.")
    created = campaign is None
    campaign = campaign or Campaign()
    changed = _apply(campaign, asdict(fields))
    db.session.add(campaign)
    _publish(staff, ip, "campaign_edit", f"campaign:{campaign.slug}", created, changed)
    return campaign


def save_variant(
    staff: StaffUser, campaign: Campaign, variant: Variant | None, fields: VariantFields, ip: str | None
) -> Variant:
    """Add a variant to `campaign` (`variant` None) or change one, and show it to the banner at once."""
    clash = sa.select(Variant.id).where(Variant.campaign_id == campaign.id, Variant.key == fields.key)
    if variant is not None:
        clash = clash.where(Variant.id != variant.id)
    if db.session.scalar(clash) is not None:
        raise Taken("key", f"Another variant of this campaign already uses “{fields.key}”.")
    created = variant is None
    if variant is None:
        variant = Variant()
        campaign.variants.append(variant)
    changed = _apply(variant, asdict(fields))
    _publish(staff, ip, "variant_edit", f"campaign:{campaign.slug}:variant:{variant.key}", created, changed)
    return variant


def _publish(staff: StaffUser, ip: str | None, action: str, target: str, created: bool, changed) -> None:
    """Audit an edit, commit it, and let the public banner see it at once."""
    record_audit(action, staff, ip, target=target, data={"created": created, "changed": changed})
    db.session.commit()
    banners.clear_cache()


def delete_variant(staff: StaffUser, variant: Variant, ip: str | None) -> None:
    """Delete a variant and its banner counters, unless gifts are attributed to it."""
    if db.session.scalar(sa.select(Gift.id).where(Gift.variant_id == variant.id).limit(1)) is not None:
        raise VariantHasGifts(
            "Gifts came from this variant, so it stays in the results. "
            "Set its weight to 0 to stop showing it."
        )
    target = f"campaign:{variant.campaign.slug}:variant:{variant.key}"
    # SQLite does not enforce the counters' ON DELETE CASCADE, so delete them here for both.
    db.session.execute(sa.delete(BannerStat).where(BannerStat.variant_id == variant.id))
    db.session.delete(variant)
    record_audit("variant_delete", staff, ip, target=target, data={"heading": variant.heading})
    db.session.commit()
    banners.clear_cache()


def record_audit(
    action: str,
    staff: StaffUser | None,
    ip: str | None,
    *,
    email: str | None = None,
    target: str | None = None,
    data: dict | None = None,
) -> None:
    db.session.add(
        AuditEntry(
            staff_user_id=staff.id if staff else None,
            actor_email=email or (staff.email if staff else None),
            action=action,
            target=target,
            ip=ip,
            data=data or {},
        )
    )


def _apply(row: Campaign | Variant, values: dict) -> list[str]:
    """Set the attributes of `row` that differ from `values`; return their names."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return changed
