"""Every table of the service; import models from here."""

from banner.models import mrr_movements  # noqa: F401  # its listener records every MRR movement
from banner.models.banner_stats import EVENT_COLUMNS, BannerStat
from banner.models.base import CURRENCIES, insert_on_conflict, new_reference, utcnow
from banner.models.campaign import Campaign, CampaignStatus, CampaignsVersion, GoalMode, Placement, Variant
from banner.models.donor import (
    MRR_STATUSES,
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    monthly_value,
    normalise_email,
)
from banner.models.gift_rules import (
    BEFORE_FIRST_PAYMENT,
    CANCELLATION_REASONS,
    CHANGEABLE,
    COUNTED_IN_MRR,
    ENDED,
    ENDING,
    LIVE,
    MADE_AT_CHECKOUT,
    PAID,
    STRIPE_ANSWER,
    STRIPE_READ,
    TRANSITIONS,
    UNPAID,
    GiftStatus,
    TransitionRefused,
    check_move,
    watermark,
)
from banner.models.notice import RenewalFailure, SentNotice
from banner.models.outbox import MailKind, OutboxMessage
from banner.models.payment import Payment, PaymentStatus
from banner.models.staff import AuditEntry, LoginFailure, Role, StaffUser
from banner.models.statement import YearlyStatement
from banner.models.stripe import InvoicePayment, StripeEvent
from banner.models.version import EditVersion, VersionEvent

__all__ = [
    "BEFORE_FIRST_PAYMENT",
    "CANCELLATION_REASONS",
    "CHANGEABLE",
    "COUNTED_IN_MRR",
    "CURRENCIES",
    "ENDED",
    "ENDING",
    "EVENT_COLUMNS",
    "LIVE",
    "MADE_AT_CHECKOUT",
    "MRR_STATUSES",
    "PAID",
    "STRIPE_ANSWER",
    "STRIPE_READ",
    "TRANSITIONS",
    "UNPAID",
    "Actor",
    "AuditEntry",
    "BannerStat",
    "Campaign",
    "CampaignStatus",
    "CampaignsVersion",
    "Donor",
    "EditVersion",
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
    "RenewalFailure",
    "Role",
    "SentNotice",
    "StaffUser",
    "StripeEvent",
    "TransitionRefused",
    "Variant",
    "VersionEvent",
    "YearlyStatement",
    "check_move",
    "insert_on_conflict",
    "monthly_value",
    "new_reference",
    "normalise_email",
    "utcnow",
    "watermark",
]
