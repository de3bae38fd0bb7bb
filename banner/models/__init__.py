"""Every table of the service; import models from here."""

from banner.models.banner_stats import EVENT_COLUMNS, BannerStat
from banner.models.base import CURRENCIES, new_reference, utcnow
from banner.models.campaign import Campaign, CampaignStatus, GoalMode, Placement, Variant
from banner.models.donor import (
    MRR_STATUSES,
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Payment,
    PaymentStatus,
    monthly_value,
)
from banner.models.outbox import MailKind, OutboxMessage
from banner.models.staff import AuditEntry, LoginFailure, Role, StaffUser
from banner.models.stripe import InvoicePayment, StripeEvent

__all__ = [
    "CURRENCIES",
    "EVENT_COLUMNS",
    "MRR_STATUSES",
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
    "InvoicePayment",
    "LoginFailure",
    "MailKind",
    "OutboxMessage",
    "Payment",
    "PaymentStatus",
    "Placement",
    "Role",
    "StaffUser",
    "StripeEvent",
    "Variant",
    "monthly_value",
    "new_reference",
    "utcnow",
]
