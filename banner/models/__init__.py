"""Every table of the service; import models from here."""

from banner.models.banner_stats import EVENT_COLUMNS, BannerStat
from banner.models.base import CURRENCIES, new_reference, utcnow
from banner.models.campaign import Campaign, CampaignStatus, GoalMode, Placement, Variant
from banner.models.donor import (
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Payment,
    PaymentStatus,
)
from banner.models.staff import AuditEntry, Role, StaffUser
from banner.models.stripe import StripeEvent

__all__ = [
    "CURRENCIES",
    "EVENT_COLUMNS",
    "Actor",
    "AuditEntry",
    "BannerStat",
    "Campaign",
    "CampaignStatus",
    "Donor",
    "Frequency",
    "Gift",
    "GiftEvent",
    "GiftStatus",
    "GoalMode",
    "Payment",
    "PaymentStatus",
    "Placement",
    "Role",
    "StaffUser",
    "StripeEvent",
    "Variant",
    "new_reference",
    "utcnow",
]
