"""Staff edits that can be trusted: a post changes only what it sends, every save says "Saved",
every save is a version (who, when, field old → new) on the campaign page, any earlier version
comes back in one audited click, and the audit log shows old → new values."""

import re

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import AuditEntry, Campaign, EditVersion, GoalMode, Placement, Variant, VersionEvent
from banner.services import edit_history
from tests.test_staff import campaign_form, variant_form


def reload(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def versions(campaign_id):
    db.session.expire_all()
    return db.session.execute(
        sa.select(EditVersion.variant_key, EditVersion.number, EditVersion.event, EditVersion.actor_email)
        .where(EditVersion.campaign_id == campaign_id)
        .order_by(EditVersion.id)
    ).all()


@pytest.fixture
def live_campaign(make_campaign):
    """A live euro campaign with copy, targeting and a variant with its own amounts."""
    return make_campaign(
        description="Keep the Ledger free.",
        goal_amount=2_500_000,
        currency="eur",
        goal_mode=GoalMode.COMMITTED,
        preset_amounts=[500, 1500],
        path_include=["/news/"],
        referrer_domains=["facebook.com"],
        placement=Placement.TOP,
        daily_cap=3,
        variants=[
            Variant(
                key="a",
                heading="Support us",
                body="Please give.",
                button_text="Give",
                preset_amounts=[700],
                default_amounts={"month": 700},
                theme="dark",
                weight=3,
                audience="former",
            )
        ],
    )


def fields(campaign):
    return (
        campaign.title,
        campaign.description,
        campaign.goal_amount,
        campaign.currency,
        campaign.goal_mode,
        campaign.status,
        campaign.preset_amounts,
        campaign.path_include,
        campaign.referrer_domains,
        campaign.placement,
        campaign.daily_cap,
        campaign.starts_at,
    )


@pytest.mark.parametrize(
    "posted",
    [
        {"title": "Spring, renamed"},
        {
            "slug": "spring",
            "title": "Spring, renamed",
            "goal": "25000",
            "priority": "0",
            "dismiss_days": "14",
            "gave_hide_days": "365",
        },
    ],
    ids=["one field", "the required fields"],
)
def test_a_minimal_post_changes_what_it_sends_and_blanks_nothing(client, live_campaign, log_in_as, posted):
    log_in_as("fundraiser")
    before = fields(reload(Campaign, live_campaign.id))

    response = client.post("/staff/campaigns/spring", data=posted)

    assert response.status_code == 302
    after = fields(reload(Campaign, live_campaign.id))
    assert after[0] == "Spring, renamed"
    assert after[1:] == before[1:]


def test_a_minimal_variant_post_keeps_the_copy_it_does_not_send(client, live_campaign, log_in_as):
    log_in_as("fundraiser")

    response = client.post("/staff/campaigns/spring/variants/a", data={"heading": "New words"})

    assert response.status_code == 302
    variant = reload(Variant, live_campaign.variants[0].id)
    assert (variant.heading, variant.body, variant.button_text, variant.preset_amounts) == (
        "New words",
        "Please give.",
        "Give",
        [700],
    )
    assert (variant.default_amounts, variant.theme, variant.weight, variant.audience) == (
        {"month": 700},
        "dark",
        3,
        "former",
    )


def test_a_field_sent_empty_is_cleared(client, live_campaign, log_in_as):
    log_in_as("fundraiser")

    client.post("/staff/campaigns/spring", data={"description": "", "path_include": ""})

    campaign = reload(Campaign, live_campaign.id)
    assert (campaign.description, campaign.path_include, campaign.title) == ("", [], "Spring drive")


def test_every_save_says_saved(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")

    pages = [
        client.post("/staff/campaigns/new", data=campaign_form(), follow_redirects=True),
        client.post("/staff/campaigns/spring", data={"title": "Renamed"}, follow_redirects=True),
        client.post(
            "/staff/campaigns/spring/variants/new", data=variant_form(key="b"), follow_redirects=True
        ),
        client.post("/staff/campaigns/spring/variants/b", data={"heading": "Hi"}, follow_redirects=True),
    ]
    unchanged = client.post("/staff/campaigns/spring", data={"title": "Renamed"}, follow_redirects=True)

    assert all(page.status_code == 200 and "Saved." in page.text for page in pages)
    assert "Saved: nothing had changed." in unchanged.text


def test_each_save_is_a_version_with_who_and_old_to_new(client, live_campaign, log_in_as):
    log_in_as("fundraiser")

    client.post("/staff/campaigns/spring", data={"goal": "30000", "status": "paused"})
    client.post("/staff/campaigns/spring/variants/a", data={"body": "Please give today."})
    client.post("/staff/campaigns/spring", data={"goal": "30000"})  # nothing changes: no version

    who = "fundraiser@example.org"
    assert versions(live_campaign.id) == [
        (None, 1, VersionEvent.BASELINE, None),
        (None, 2, VersionEvent.EDITED, who),
        ("a", 1, VersionEvent.BASELINE, None),
        ("a", 2, VersionEvent.EDITED, who),
    ]
    page = client.get("/staff/campaigns/spring").text
    history = page[page.index('id="history"') :]
    assert "goal: €25,000 → €30,000" in history and "status: live → paused" in history
    assert "text: “Please give.” → “Please give today.”" in history
    assert who in history


def test_restore_puts_an_earlier_version_back_as_a_new_audited_version(client, live_campaign, log_in_as):
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring", data={"title": "Wrong title", "description": ""})
    client.post("/staff/campaigns/spring", data={"title": "Worse title"})
    baseline = db.session.scalar(sa.select(EditVersion).where(EditVersion.number == 1))

    response = client.post(f"/staff/campaigns/spring/versions/{baseline.id}/restore")

    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/staff/campaigns/spring#history"
    )
    campaign = reload(Campaign, live_campaign.id)
    assert (campaign.title, campaign.description) == ("Spring drive", "Keep the Ledger free.")
    newest = db.session.scalar(sa.select(EditVersion).order_by(EditVersion.id.desc()))
    assert (newest.number, newest.event, newest.restored_from) == (4, VersionEvent.RESTORED, 1)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "campaign_restore"))
    assert entry.target == "campaign:spring" and entry.data["restored_from"] == 1
    assert entry.data["changed"]["title"] == "“Worse title” → “Spring drive”"
    assert "Saved: the campaign is back as version 1 had it." in client.get("/staff/campaigns/spring").text
    assert client.get("/api/banner?campaign=spring").status_code == 200


def test_a_deleted_variant_comes_back_from_its_history(client, make_campaign, log_in_as):
    campaign = make_campaign(variants=[Variant(key="a", heading="A"), Variant(key="b", heading="Bee")])
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring/variants/b/delete")
    [before_delete] = db.session.scalars(
        sa.select(EditVersion).where(
            EditVersion.variant_key == "b", EditVersion.event == VersionEvent.BASELINE
        )
    ).all()
    assert before_delete.variant_id is None  # its variant is gone, its history stays

    client.post(f"/staff/campaigns/spring/versions/{before_delete.id}/restore")

    db.session.expire_all()
    assert [(v.key, v.heading) for v in reload(Campaign, campaign.id).variants] == [("a", "A"), ("b", "Bee")]
    assert db.session.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "variant_restore"


def test_a_restore_that_would_take_another_campaigns_slug_changes_nothing(client, make_campaign, log_in_as):
    make_campaign()
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring", data={"slug": "spring-2"})
    make_campaign(slug="spring", title="Another")
    baseline = db.session.scalar(sa.select(EditVersion).where(EditVersion.number == 1))

    response = client.post(f"/staff/campaigns/spring-2/versions/{baseline.id}/restore", follow_redirects=True)

    assert "Another campaign already uses “spring”. Nothing was restored." in response.text
    assert db.session.scalars(sa.select(Campaign.slug).order_by(Campaign.id)).all() == ["spring-2", "spring"]


def test_restore_needs_a_csrf_token_and_a_version_of_this_campaign(
    app, client, live_campaign, make_campaign, log_in_as
):
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring", data={"title": "Wrong title"})
    other = make_campaign(slug="other")
    baseline = db.session.scalar(sa.select(EditVersion).where(EditVersion.number == 1))

    assert client.post(f"/staff/campaigns/other/versions/{baseline.id}/restore").status_code == 404
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/staff/campaigns/spring/versions/{baseline.id}/restore").status_code == 400

    page = client.get("/staff/campaigns/spring").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    restored = client.post(
        f"/staff/campaigns/spring/versions/{baseline.id}/restore", data={"csrf_token": token}
    )
    assert restored.status_code == 302
    assert reload(Campaign, live_campaign.id).title == "Spring drive" and other.title == "Spring drive"


def test_viewers_read_the_history_without_restore_buttons(client, live_campaign, log_in_as):
    log_in_as("fundraiser")
    client.post("/staff/campaigns/spring", data={"title": "Renamed"})
    client.post("/staff/logout")
    log_in_as("viewer")

    page = client.get("/staff/campaigns/spring").text

    assert "title: “Spring drive” → “Renamed”" in page
    assert "/restore" not in page


def test_the_audit_log_shows_old_to_new_values(client, live_campaign, log_in_as):
    log_in_as("admin")
    client.post("/staff/campaigns/spring", data={"goal": "30000", "preset_amounts": "5, 10"})

    page = client.get("/staff/audit").text

    assert "goal_amount: €25,000 → €30,000" in page
    assert "preset_amounts: €5, €15 → €5, €10" in page


def test_the_campaign_page_lists_only_the_newest_versions(client, live_campaign, log_in_as, monkeypatch):
    monkeypatch.setattr(edit_history, "HISTORY_SHOWN", 2)
    log_in_as("fundraiser")
    for title in ("One", "Two", "Three"):
        client.post("/staff/campaigns/spring", data={"title": title})

    page = client.get("/staff/campaigns/spring").text

    assert "Campaign, version 4" in page and "Campaign, version 3" in page
    assert "Campaign, version 2" not in page and "Campaign, version 1" not in page
