"""The support address and the news site's URL are settings, used in the donor's pages and mails."""

import pytest
import sqlalchemy as sa

from banner import ConfigError, create_app, mail
from banner.extensions import db
from banner.models import Frequency, GiftStatus, OutboxMessage
from banner.services import checkout
from tests import factories
from tests.test_config import TEST_KEYS

SUPPORT, SITE = "help@news.example", "https://news.example/home"


@pytest.fixture
def contact(app, monkeypatch):
    monkeypatch.setitem(app.config, "SUPPORT_EMAIL", SUPPORT)
    monkeypatch.setitem(app.config, "SITE_URL", SITE)


@pytest.mark.parametrize("path", ["/donate", "/manage"])
def test_donor_pages_tell_where_to_ask_and_link_back_to_the_site(client, contact, make_campaign, path):
    make_campaign()
    page = client.get(path).get_data(as_text=True)
    assert f'<a href="mailto:{SUPPORT}">{SUPPORT}</a>' in page
    assert f'<a href="{SITE}">Back to' in page


def test_the_staff_area_keeps_its_own_footer(client, contact):
    assert SUPPORT not in client.get("/staff/login").get_data(as_text=True)


def bodies(message: OutboxMessage) -> list[str]:
    return [message.text_body, *([message.html_body] if message.html_body else [])]


def test_every_mail_signs_with_the_site_and_the_support_address(contact, make_gift):
    gift = make_gift(frequency=Frequency.ONCE, status=GiftStatus.SUCCEEDED)
    factories.payment(gift, stripe_payment_intent_id="pi_1", save=False)
    monthly = make_gift(status=GiftStatus.CANCELLING)
    checkout.send_receipt(gift)
    mail.send_manage_link(gift.donor, "http://testserver/manage/x")
    mail.send_cancellation(monthly, "http://testserver/manage/y")
    mail.send_action_required(monthly, "http://testserver/manage/y")
    db.session.commit()

    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {m.kind.value for m in messages} == {"receipt", "manage_link", "cancellation", "action_required"}
    for message in messages:
        for body in bodies(message):
            assert SUPPORT in body and SITE in body, (message.kind, body)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SITE_URL", "news.example"),
        ("SITE_URL", "javascript:alert(1)"),
        ("SITE_URL", ""),
        ("SUPPORT_EMAIL", "nobody"),
        ("SUPPORT_EMAIL", "Help <help@news.example>"),
        ("SUPPORT_EMAIL", ""),
    ],
)
def test_a_bad_contact_setting_stops_the_app_with_one_line(setting, value):
    with pytest.raises(ConfigError, match=f"BANNER_{setting}") as refused:
        create_app({"ENV": "testing", **TEST_KEYS, setting: value})
    assert "\n" not in str(refused.value)


def test_the_contact_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BANNER_SITE_URL", SITE)
    monkeypatch.setenv("BANNER_SUPPORT_EMAIL", SUPPORT)
    config = create_app({"ENV": "testing", **TEST_KEYS}).config
    assert (config["SITE_URL"], config["SUPPORT_EMAIL"]) == (SITE, SUPPORT)
