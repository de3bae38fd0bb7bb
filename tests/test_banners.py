"""Which campaign a page gets, and how its goal progress is counted."""

import re
import time
from datetime import timedelta

import pytest

from banner.extensions import db
from banner.models import (
    CampaignStatus,
    Frequency,
    GiftStatus,
    GoalMode,
    Variant,
    utcnow,
)
from banner.services import banners, campaigns
from tests import factories


def chosen(slug=None, path="/news/story", referrer=None, preview=None):
    banners.clear_cache()
    data = banners.choose(slug, path, referrer, preview)
    return data and data["campaign"]


def test_the_live_campaign_of_highest_priority_wins(make_campaign):
    make_campaign(slug="low", priority=1)
    make_campaign(slug="high", priority=5)
    make_campaign(slug="draft", priority=9, status=CampaignStatus.DRAFT)
    assert chosen() == "high"


@pytest.mark.parametrize(
    ("include", "exclude", "path", "shown"),
    [
        ([], [], "/anything", True),
        (["/news/"], [], "/news/council", True),
        (["/news/"], [], "/sport/match", False),
        ([], ["/obituaries/"], "/obituaries/ann", False),
        (["/news/"], ["/news/sponsored/"], "/news/sponsored/x", False),
        (["/news/", "/opinion/"], [], "/opinion/letters", True),
    ],
)
def test_path_targeting(make_campaign, include, exclude, path, shown):
    make_campaign(path_include=include, path_exclude=exclude)
    assert (chosen(path=path) == "spring") is shown


@pytest.mark.parametrize(
    ("referrer", "shown"),
    [
        ("https://social.example/post/1", True),
        ("https://m.social.example/", True),
        ("https://notsocial.example/", False),
        ("", False),
        (None, False),
    ],
)
def test_referrer_domain_targeting(make_campaign, referrer, shown):
    make_campaign(referrer_domains=["social.example"])
    assert (chosen(referrer=referrer) == "spring") is shown


def test_a_lower_priority_campaign_shows_where_the_higher_one_does_not_target(make_campaign):
    make_campaign(slug="everywhere", priority=1)
    make_campaign(slug="sport-only", priority=5, path_include=["/sport/"])
    assert chosen(path="/sport/final") == "sport-only"
    assert chosen(path="/news/budget") == "everywhere"


@pytest.mark.parametrize(
    ("starts", "ends", "shown"),
    [(-2, None, True), (1, None, False), (-2, -1, False), (None, 1, True)],
)
def test_schedule(make_campaign, starts, ends, shown):
    now = utcnow()
    make_campaign(
        starts_at=None if starts is None else now + timedelta(hours=starts),
        ends_at=None if ends is None else now + timedelta(hours=ends),
    )
    assert (chosen() == "spring") is shown


def test_a_named_campaign_is_shown_only_while_live(make_campaign):
    make_campaign(slug="spring", priority=1)
    make_campaign(slug="other", priority=9)
    assert chosen("spring") == "spring"
    assert chosen("missing") is None


def test_preview_shows_a_draft_campaign_with_the_chosen_variant(make_campaign):
    make_campaign(
        status=CampaignStatus.DRAFT, variants=[Variant(key="a", heading="A"), Variant(key="b", heading="B")]
    )
    banners.clear_cache()
    data = banners.choose(None, "/", None, banners.preview_token("spring", "b"))
    assert data["preview"] is True
    assert [v["heading"] for v in data["variants"]] == ["B"]


def test_a_draft_is_not_previewed_without_a_signed_token(make_campaign):
    make_campaign(status=CampaignStatus.DRAFT)
    banners.clear_cache()
    assert banners.choose(None, "/", None, "spring:a") is None
    forged = banners.preview_token("spring", "a")[:-2] + "xx"
    assert banners.choose(None, "/", None, forged) is None


def test_a_preview_token_expires(make_campaign, monkeypatch):
    make_campaign(status=CampaignStatus.DRAFT)
    token = banners.preview_token("spring", "a")
    later = time.time() + banners.PREVIEW_HOURS * 3600 + 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert banners.choose(None, "/", None, token) is None


def test_variants_without_weight_are_not_offered(make_campaign):
    make_campaign(variants=[Variant(key="a", heading="A", weight=0), Variant(key="b", heading="B")])
    banners.clear_cache()
    assert [v["key"] for v in banners.choose("spring", "/", None)["variants"]] == ["b"]


def add_gift(campaign, frequency, status, amount, paid=(), refunded=0):
    donor = factories.donor(
        email=f"d{len(campaign.variants)}-{amount}-{status.value}@example.org", name="D", save=False
    )
    gift = factories.gift(frequency, status, donor=donor, campaign=campaign, amount=amount, save=False)
    for number, value in enumerate(paid):
        factories.payment(
            gift,
            amount=value,
            amount_refunded=refunded,
            stripe_payment_intent_id=f"pi_{donor.email}_{number}",
            save=False,
        )
    db.session.add(gift)
    db.session.commit()
    return gift


@pytest.fixture
def history(make_campaign):
    """One campaign: $50 once (refunded $20), $10/month active (2 paid), $120/year active (1
    paid), $5/month cancelled (3 paid), $30 once failed (nothing paid)."""

    def build(mode):
        campaign = make_campaign(goal_mode=mode, goal_amount=1_000_00)
        add_gift(campaign, Frequency.ONCE, GiftStatus.SUCCEEDED, 5000, paid=[5000], refunded=2000)
        add_gift(campaign, Frequency.MONTH, GiftStatus.ACTIVE, 1000, paid=[1000, 1000])
        add_gift(campaign, Frequency.YEAR, GiftStatus.ACTIVE, 12000, paid=[12000])
        add_gift(campaign, Frequency.MONTH, GiftStatus.CANCELLED, 500, paid=[500, 500, 500])
        add_gift(campaign, Frequency.ONCE, GiftStatus.FAILED, 3000)
        return campaign

    return build


def test_raised_counts_money_received_net_of_refunds(history):
    campaign = history(GoalMode.RAISED)
    # 50 - 20 + 10 + 10 + 120 + 5 + 5 + 5 = 185
    assert campaigns.goal_progress(campaign).raised == 18500


def test_committed_counts_a_year_of_each_active_recurring_gift(history):
    campaign = history(GoalMode.COMMITTED)
    # once 30 net + monthly 10 * 12 + yearly 120 + cancelled monthly keeps its 15 paid = 285
    progress = campaigns.goal_progress(campaign)
    assert progress.raised == 28500
    assert progress.percent == 28


def test_progress_is_capped_at_100_percent(make_campaign):
    campaign = make_campaign(goal_amount=1000)
    add_gift(campaign, Frequency.ONCE, GiftStatus.SUCCEEDED, 5000, paid=[5000])
    assert campaigns.goal_progress(campaign).percent == 100


def test_a_draft_s_copy_is_not_public_through_the_preview_parameter(client, make_campaign):
    make_campaign(status=CampaignStatus.DRAFT, variants=[Variant(key="a", heading="Secret plan")])
    for preview in ("spring:a", "spring.a.b"):
        response = client.get("/api/banner", query_string={"preview": preview})
        assert response.status_code in (204, 400) and b"Secret plan" not in response.data


def test_the_staff_variant_page_makes_a_signed_preview_link_that_works(client, make_campaign, log_in_as):
    make_campaign(status=CampaignStatus.DRAFT, variants=[Variant(key="a", heading="Secret plan")])
    log_in_as("viewer")
    page = client.get("/staff/campaigns/spring/variants/a").text
    token = re.search(r"https://news\.example/\?banner_preview=([\w.-]+)", page).group(1)

    response = client.get("/api/banner", query_string={"preview": token})

    assert response.json["preview"] is True
    assert [v["heading"] for v in response.json["variants"]] == ["Secret plan"]
    assert response.headers["Cache-Control"] == "no-store"
