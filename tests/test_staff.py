"""The staff area over HTTP: logging in and out, roles, editing campaigns and variants, the audit log."""

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    AuditEntry,
    BannerStat,
    Campaign,
    CampaignStatus,
    Donor,
    Frequency,
    GiftStatus,
    Placement,
    Variant,
)
from tests import factories
from tests.conftest import PASSWORD, log_in


def campaign_form(**overrides):
    data = {
        "slug": "autumn",
        "title": "Autumn drive",
        "description": "Keep the Ledger free.",
        "goal": "50000",
        "currency": "usd",
        "goal_mode": "raised",
        "status": "live",
        "starts_at": "2025-09-01T00:00",
        "ends_at": "2025-10-01T00:00",
        "priority": "5",
        "preset_amounts": "5, 10, 25.50",
        "path_include": "/news/\r\n/opinion/\r\n",
        "path_exclude": "",
        "referrer_domains": "Facebook.com",
        "placement": "top",
        "dismiss_days": "14",
        "gave_hide_days": "365",
        "daily_cap": "",
    }
    data.update(overrides)
    return data


def variant_form(**overrides):
    data = {
        "key": "a",
        "heading": "Support us",
        "body": "Please give.",
        "button_text": "Give now",
        "preset_amounts": "",
        "theme": "light",
        "weight": "1",
        "audience": "all",
    }
    data.update(overrides)
    return data


def audit_log():
    return db.session.execute(
        sa.select(AuditEntry.action, AuditEntry.target, AuditEntry.actor_email).order_by(AuditEntry.id)
    ).all()


def field_error(page: str, field: str) -> str:
    return re.search(rf'id="{field}-error"[^>]*>([^<]*)</p>', page).group(1)


def state():
    """Every campaign and variant as plain values, to show that nothing changed."""
    db.session.expire_all()
    campaigns = db.session.scalars(sa.select(Campaign).order_by(Campaign.id)).all()
    return [
        (c.slug, c.title, c.goal_amount, c.status, [(v.key, v.heading, v.weight) for v in c.variants])
        for c in campaigns
    ]


# Logging in and out


def test_login_with_the_right_password_logs_in_and_is_audited(client, make_staff):
    staff = make_staff(email="ada@example.org")
    staff.set_password(PASSWORD)  # the real scrypt hash, once
    db.session.commit()

    response = log_in(client, " Ada@Example.org ")

    assert response.status_code == 302 and response.headers["Location"] == "/staff/campaigns"
    assert client.get("/staff/campaigns").status_code == 200
    assert audit_log() == [("login", None, "ada@example.org")]
    entry = db.session.scalar(sa.select(AuditEntry))
    assert (entry.staff_user_id, entry.ip) == (staff.id, "127.0.0.1")
    assert staff.last_login_at is not None


@pytest.mark.parametrize(
    ("email", "password", "active"),
    [
        ("fundraiser@example.org", "wrong", True),
        ("nobody@example.org", PASSWORD, True),
        ("fundraiser@example.org", PASSWORD, False),
    ],
    ids=["wrong password", "unknown e-mail", "deactivated account"],
)
def test_failed_login_says_only_wrong_email_or_password_and_is_audited(
    client, make_staff, email, password, active
):
    staff = make_staff(active=active)

    response = log_in(client, email, password)

    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text
    assert client.get("/staff/campaigns").status_code == 302
    entry = db.session.scalar(sa.select(AuditEntry))
    assert (entry.action, entry.actor_email, entry.ip) == ("login_failed", email, "127.0.0.1")
    assert entry.staff_user_id == (staff.id if email == staff.email else None)


def test_login_form_needs_both_fields(client):
    response = client.post("/staff/login", data={"email": "", "password": ""})
    assert response.status_code == 400
    assert "Enter your e-mail." in response.text and "Enter your password." in response.text
    assert audit_log() == []


def test_login_starts_a_new_session(client, make_staff):
    staff = make_staff()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = client.get_cookie("session").value

    log_in(client, staff.email)

    assert client.get_cookie("session").value != before
    with client.session_transaction() as session:
        assert "planted" not in session and session["_user_id"] == staff.get_id()


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/staff/campaigns/spring", "/staff/campaigns/spring"),
        ("https://evil.example/staff/", "/staff/campaigns"),
        ("//evil.example/staff/", "/staff/campaigns"),
        ("/\\evil.example/staff/", "/staff/campaigns"),
        ("/donate", "/staff/campaigns"),
    ],
)
def test_login_returns_only_to_a_staff_page(client, make_staff, next_url, landing):
    staff = make_staff()
    response = log_in(client, staff.email, next=next_url)
    assert response.headers["Location"] == landing


def test_logout_ends_the_session_and_is_audited(client, log_in_as):
    log_in_as("viewer")

    response = client.post("/staff/logout")

    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    assert client.get("/staff/campaigns").status_code == 302
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert [action for action, *_ in audit_log()] == ["login", "logout"]


def test_logout_needs_a_post_with_a_csrf_token(app, client, log_in_as):
    log_in_as("viewer")
    app.config["WTF_CSRF_ENABLED"] = True

    assert client.get("/staff/logout").status_code == 405
    assert client.post("/staff/logout").status_code == 400
    assert client.get("/staff/campaigns").status_code == 200

    page = client.get("/staff/campaigns").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/staff/campaigns").status_code == 302


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/staff/"),
        ("get", "/staff/campaigns"),
        ("get", "/staff/campaigns/new"),
        ("get", "/staff/campaigns/spring"),
        ("get", "/staff/campaigns/spring/variants/a"),
        ("post", "/staff/campaigns/spring"),
        ("post", "/staff/campaigns/spring/variants/a/delete"),
    ],
)
def test_staff_pages_need_a_login(client, make_campaign, method, url):
    make_campaign()
    response = getattr(client, method)(url, data=campaign_form(slug="spring") if method == "post" else None)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=")
    assert state()[0][1] == "Spring drive"


# Roles


EDITS = [
    ("/staff/campaigns/new", campaign_form()),
    ("/staff/campaigns/spring", campaign_form(slug="spring", title="Changed")),
    ("/staff/campaigns/spring/variants/new", variant_form(key="b")),
    ("/staff/campaigns/spring/variants/a", variant_form(heading="Changed")),
    ("/staff/campaigns/spring/variants/a/delete", {}),
]


@pytest.mark.parametrize(("url", "data"), EDITS, ids=[url for url, _ in EDITS])
def test_viewer_may_not_edit_anything(client, make_campaign, log_in_as, url, data):
    make_campaign()
    log_in_as("viewer")
    before = state()

    response = client.post(url, data=data)

    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert state() == before
    assert [action for action, *_ in audit_log()] == ["login"]


def test_viewer_reads_campaigns_without_edit_controls(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("viewer")

    listing = client.get("/staff/campaigns").text
    campaign = client.get("/staff/campaigns/spring").text
    variant = client.get("/staff/campaigns/spring/variants/a").text

    assert "Spring drive" in listing and "New campaign" not in listing
    assert '<fieldset class="staff-fields" disabled>' in campaign and "Save campaign" not in campaign
    assert "Add a variant" not in campaign
    assert "Save variant" not in variant and "Delete variant" not in variant


@pytest.mark.parametrize("role", ["fundraiser", "admin"])
def test_fundraisers_and_admins_create_a_campaign(client, log_in_as, role):
    log_in_as(role)

    response = client.post("/staff/campaigns/new", data=campaign_form())

    assert response.status_code == 302 and response.headers["Location"] == "/staff/campaigns/autumn"
    campaign = db.session.scalar(sa.select(Campaign))
    assert (campaign.slug, campaign.title, campaign.description) == (
        "autumn",
        "Autumn drive",
        "Keep the Ledger free.",
    )
    assert (campaign.goal_amount, campaign.currency, campaign.status) == (
        5_000_000,
        "usd",
        CampaignStatus.LIVE,
    )
    assert campaign.starts_at == datetime(2025, 9, 1, tzinfo=UTC)
    assert campaign.ends_at == datetime(2025, 10, 1, tzinfo=UTC)
    assert (campaign.priority, campaign.preset_amounts) == (5, [500, 1000, 2550])
    assert (campaign.path_include, campaign.path_exclude) == (["/news/", "/opinion/"], [])
    assert campaign.referrer_domains == ["facebook.com"]
    assert (campaign.placement, campaign.dismiss_days, campaign.gave_hide_days) == (Placement.TOP, 14, 365)
    assert campaign.daily_cap is None
    assert audit_log()[-1] == ("campaign_edit", "campaign:autumn", f"{role}@example.org")


def test_campaign_form_shows_what_it_saved(client, log_in_as):
    log_in_as("fundraiser")
    client.post("/staff/campaigns/new", data=campaign_form())

    page = client.get("/staff/campaigns/autumn").text

    assert 'value="5, 10, 25.50"' in page and 'value="50000"' in page
    assert 'value="2025-09-01T00:00"' in page
    assert "/news/\n/opinion/</textarea>" in page


def test_fundraiser_edits_a_campaign(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")

    response = client.post(
        "/staff/campaigns/spring",
        data=campaign_form(
            slug="spring-2", title="Spring, extended", status="paused", daily_cap="3", ends_at=""
        ),
    )

    assert response.headers["Location"] == "/staff/campaigns/spring-2"
    [campaign] = db.session.scalars(sa.select(Campaign)).all()
    assert (campaign.slug, campaign.title, campaign.status) == (
        "spring-2",
        "Spring, extended",
        CampaignStatus.PAUSED,
    )
    assert (campaign.daily_cap, campaign.ends_at) == (3, None)
    assert [v.key for v in campaign.variants] == ["a"]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "campaign_edit"))
    assert entry.target == "campaign:spring-2" and entry.data["created"] is False
    assert {"slug", "title", "status", "daily_cap"} <= set(entry.data["changed"])


def test_fundraiser_adds_edits_and_deletes_a_variant(client, make_campaign, log_in_as):
    campaign = make_campaign()
    log_in_as("fundraiser")

    added = client.post("/staff/campaigns/spring/variants/new", data=variant_form(key="b", heading="Fresh"))
    edited = client.post(
        "/staff/campaigns/spring/variants/a",
        data=variant_form(
            heading="New words", preset_amounts="7, 15", theme="dark", weight="3", audience="former"
        ),
    )

    assert added.headers["Location"] == "/staff/campaigns/spring/variants/b"
    assert edited.headers["Location"] == "/staff/campaigns/spring/variants/a"
    db.session.expire_all()
    a, b = campaign.variants
    assert (a.heading, a.preset_amounts, a.theme, a.weight, a.audience) == (
        "New words",
        [700, 1500],
        "dark",
        3,
        "former",
    )
    assert (b.key, b.heading, b.preset_amounts, b.button_text) == ("b", "Fresh", None, "Give now")

    deleted = client.post("/staff/campaigns/spring/variants/b/delete")

    assert deleted.headers["Location"] == "/staff/campaigns/spring"
    db.session.expire_all()
    assert [v.key for v in campaign.variants] == ["a"]


def test_every_edit_is_audited(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("admin")

    client.post("/staff/campaigns/new", data=campaign_form())
    client.post("/staff/campaigns/spring", data=campaign_form(slug="spring", title="Renamed"))
    client.post("/staff/campaigns/spring/variants/new", data=variant_form(key="b"))
    client.post("/staff/campaigns/spring/variants/b", data=variant_form(key="b", heading="Again"))
    client.post("/staff/campaigns/spring/variants/b/delete")

    who = "admin@example.org"
    assert audit_log() == [
        ("login", None, who),
        ("campaign_edit", "campaign:autumn", who),
        ("campaign_edit", "campaign:spring", who),
        ("variant_edit", "campaign:spring:variant:b", who),
        ("variant_edit", "campaign:spring:variant:b", who),
        ("variant_delete", "campaign:spring:variant:b", who),
    ]
    assert all(ip == "127.0.0.1" for ip in db.session.scalars(sa.select(AuditEntry.ip)))


def test_deleting_a_variant_removes_its_counters(client, make_campaign, log_in_as):
    campaign = make_campaign(variants=[Variant(key="a", heading="A"), Variant(key="b", heading="B")])
    a, b = campaign.variants
    for variant in (a, b):
        db.session.add(
            BannerStat(campaign_id=campaign.id, variant_id=variant.id, day=date.today(), impressions=9)
        )
    db.session.commit()
    log_in_as("fundraiser")

    client.post("/staff/campaigns/spring/variants/b/delete")

    assert db.session.scalars(sa.select(BannerStat.variant_id)).all() == [a.id]


def test_a_variant_that_brought_gifts_is_kept(client, make_campaign, log_in_as):
    campaign = make_campaign()
    add_gift(campaign, campaign.variants[0], 2500)
    log_in_as("fundraiser")

    response = client.post("/staff/campaigns/spring/variants/a/delete")

    assert response.status_code == 409
    assert "Set its weight to 0" in response.text
    assert [v.key for v in campaign.variants] == ["a"]
    assert [action for action, *_ in audit_log()] == ["login"]


@pytest.mark.parametrize(
    ("url", "data", "field", "message"),
    [
        ("/staff/campaigns/new", campaign_form(slug="spring"), "slug", "Another campaign already uses"),
        ("/staff/campaigns/spring/variants/new", variant_form(key="a"), "key", "Another variant"),
    ],
)
def test_slugs_and_variant_keys_are_unique(client, make_campaign, log_in_as, url, data, field, message):
    make_campaign()
    log_in_as("fundraiser")
    before = state()

    response = client.post(url, data=data)

    assert response.status_code == 409
    assert message in field_error(response.text, field)
    assert state() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"slug": "Spring Drive"}, "slug", "lower-case letters, digits and hyphens"),
        ({"slug": "new"}, "slug", "is reserved"),
        ({"slug": ""}, "slug", "Give the campaign a slug"),
        ({"title": "   "}, "title", "Give the campaign a title"),
        ({"ends_at": "2025-08-31T23:59"}, "ends_at", "must end after it starts"),
        ({"ends_at": "2025-09-01T00:00"}, "ends_at", "must end after it starts"),
        ({"starts_at": "next week"}, "starts_at", "Not a valid datetime"),
        ({"preset_amounts": "5, ten, 25"}, "preset_amounts", "“ten”: Enter an amount in numbers"),
        ({"preset_amounts": "0.50"}, "preset_amounts", "smallest gift we can take is $1"),
        ({"preset_amounts": "5, 5.123"}, "preset_amounts", "2 decimal places"),
        ({"preset_amounts": "1, 2, 3, 4, 5, 6, 7"}, "preset_amounts", "at most 6 amounts"),
        ({"goal": "0"}, "goal", "greater than zero"),
        ({"goal": "lots"}, "goal", "in numbers"),
        ({"goal": "30000000"}, "goal", "Set a goal under"),
        ({"currency": "xyz"}, "currency", "Not a valid choice"),
        ({"status": "deleted"}, "status", "Not a valid choice"),
        ({"priority": "high"}, "priority", "Not a valid integer"),
        ({"dismiss_days": "-1"}, "dismiss_days", "Use 0 to 3650 days"),
        ({"daily_cap": "0"}, "daily_cap", "Use 1 to 1000"),
        ({"path_include": "news/"}, "path_include", "Start each path with /"),
        ({"referrer_domains": "facebook"}, "referrer_domains", "Not a domain: facebook"),
    ],
)
def test_bad_campaign_input_is_refused_next_to_its_field(
    client, make_campaign, log_in_as, overrides, field, message
):
    make_campaign()
    log_in_as("fundraiser")
    before = state()

    for url in ("/staff/campaigns/new", "/staff/campaigns/spring"):
        response = client.post(url, data=campaign_form(**overrides))

        assert response.status_code == 400
        assert message in field_error(response.text, field)
        assert f'id="{field}-error"' in response.text and 'aria-invalid="true"' in response.text
    assert state() == before
    assert [action for action, *_ in audit_log()] == ["login"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"weight": "-1"}, "weight", "from 0 to 1000"),
        ({"weight": "1.5"}, "weight", "Not a valid integer"),
        ({"key": "B!"}, "key", "lower-case letters"),
        ({"key": "x" * 41}, "key", "1 to 40"),
        ({"key": "new"}, "key", "is reserved"),
        ({"heading": ""}, "heading", "Write a heading"),
        ({"heading": "x" * 201}, "heading", "at most 200"),
        ({"button_text": "x" * 61}, "button_text", "at most 60"),
        ({"preset_amounts": "5, -10"}, "preset_amounts", "“-10”: Enter an amount greater than zero"),
        ({"theme": "neon"}, "theme", "Not a valid choice"),
        ({"audience": "donors"}, "audience", "Not a valid choice"),
    ],
)
def test_bad_variant_input_is_refused_next_to_its_field(
    client, make_campaign, log_in_as, overrides, field, message
):
    make_campaign()
    log_in_as("fundraiser")
    before = state()

    for url in ("/staff/campaigns/spring/variants/new", "/staff/campaigns/spring/variants/a"):
        response = client.post(url, data=variant_form(**{"key": "b", **overrides}))

        assert response.status_code == 400
        assert message in field_error(response.text, field)
    assert state() == before
    assert [action for action, *_ in audit_log()] == ["login"]


def test_unknown_campaign_or_variant_is_a_404(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")
    assert client.get("/staff/campaigns/autumn").status_code == 404
    assert client.get("/staff/campaigns/spring/variants/z").status_code == 404
    assert client.post("/staff/campaigns/spring/variants/z", data=variant_form()).status_code == 404
    assert client.post("/staff/campaigns/spring/variants/z/delete").status_code == 404


# What staff see


def test_saved_change_shows_in_the_banner_at_once(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")
    assert client.get("/api/banner?campaign=spring").json["variants"][0]["heading"] == "Support us"

    client.post("/staff/campaigns/spring/variants/a", data=variant_form(heading="Fresh words"))
    assert client.get("/api/banner?campaign=spring").json["variants"][0]["heading"] == "Fresh words"

    client.post(
        "/staff/campaigns/spring",
        data=campaign_form(slug="spring", status="paused", starts_at="", ends_at=""),
    )
    assert client.get("/api/banner?campaign=spring").status_code == 204


def test_campaign_list_shows_status_schedule_and_goal_progress(client, make_campaign, log_in_as):
    campaign = make_campaign(
        goal_amount=100_000, starts_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC), priority=7
    )
    make_campaign(slug="draft-one", title="Not yet", status=CampaignStatus.DRAFT, starts_at=None, variants=[])
    add_gift(campaign, campaign.variants[0], 25_000)
    log_in_as("viewer")

    page = client.get("/staff/campaigns").text

    assert page.index("Spring drive") < page.index("Not yet")
    assert "Live (showing)" in page and "Draft" in page
    assert "2025-03-01 09:30 UTC</time> to no end" in page
    assert "$250 of $1,000 (25%)" in page
    assert '<td class="number">7</td>' in page


def test_campaign_page_shows_each_variants_results_with_denominators(client, make_campaign, log_in_as):
    campaign = make_campaign(
        variants=[Variant(key="a", heading="Support us"), Variant(key="b", heading="Other")]
    )
    a = campaign.variants[0]
    db.session.add(
        BannerStat(
            campaign_id=campaign.id, variant_id=a.id, day=date.today(), impressions=400, views=300, clicks=12
        )
    )
    db.session.commit()
    add_gift(campaign, a, 2500)
    add_gift(campaign, a, 1000, Frequency.MONTH, GiftStatus.ACTIVE)
    log_in_as("viewer")

    page = client.get("/staff/campaigns/spring").text

    assert "12 / 400 (3.0%, 95%: 1.7–5.2%)" in page  # noqa: RUF001 (an en dash, as printed)
    assert "2 / 400 (0.5%, 95%: 0.1–1.8%)" in page  # noqa: RUF001
    assert '<td class="number">$25</td>' in page and '<td class="number">$10</td>' in page
    assert "0 / 0</td>" in page  # variant b: nothing shown yet, so no rate


def test_more_clicks_than_impressions_still_shows_the_campaign_page_and_banners_report(
    client, make_campaign, log_in_as
):
    campaign = make_campaign()
    db.session.add(
        BannerStat(
            campaign_id=campaign.id,
            variant_id=campaign.variants[0].id,
            day=date.today(),
            impressions=3,
            clicks=50,
        )
    )
    db.session.commit()
    log_in_as("viewer")

    page = client.get("/staff/campaigns/spring")
    report = client.get("/staff/reports/banners")

    assert page.status_code == 200 and "50 / 3 (100.0%" in page.text
    assert report.status_code == 200 and "50 / 3 (100.0%" in report.text


def test_staff_copy_is_escaped_everywhere(client, make_campaign, log_in_as):
    make_campaign(variants=[Variant(key="a", heading="It's <script>alert(1)</script>")])
    log_in_as("fundraiser")

    page = client.get("/staff/campaigns/spring/variants/a").text

    assert "<script>alert(1)" not in page
    payload = re.search(r"data-payload='([^']*)'", page).group(1)
    assert "It\\u0027s \\u003cscript\\u003e" in payload


def test_staff_pages_are_never_cached(client, log_in_as):
    log_in_as("viewer")
    assert client.get("/staff/campaigns").headers["Cache-Control"] == "no-store"
    assert client.get("/staff/login").headers["Cache-Control"] == "no-store"


def add_gift(campaign, variant, amount, frequency=Frequency.ONCE, status=GiftStatus.SUCCEEDED):
    donor = db.session.scalar(sa.select(Donor)) or factories.donor(
        email="ada@example.org", name="Ada", save=False
    )
    gift = factories.gift(
        frequency, status, donor=donor, amount=amount, campaign=campaign, variant=variant, save=False
    )
    factories.payment(gift, stripe_payment_intent_id=f"pi_{amount}_{frequency.value}", save=False)
    db.session.add(gift)
    db.session.commit()
    return gift
