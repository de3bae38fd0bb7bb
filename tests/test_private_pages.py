"""Every page with a donor's data is kept out of shared caches and sends no Referer."""

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import url_for

from banner.extensions import db
from banner.models import Gift
from banner.services import links
from tests.test_donate_views import give_over_http

#: where pages show a donor's name, e-mail, gifts or receipts
PRIVATE = ("/donate/thanks/", "/donate/receipt/", "/manage", "/staff")


def test_every_page_with_donor_data_is_no_store_and_no_referrer(
    client, app, stripe_base, outbox, make_campaign, log_in_as
):
    make_campaign()
    done = give_over_http(client, stripe_base, amount="10", frequency="month")
    gift = db.session.scalar(sa.select(Gift))
    thanks = client.get(done["thanks_url"])  # only for this browser, until staff log in on it
    assert thanks.status_code == 200
    assert (thanks.headers["Cache-Control"], thanks.headers["Referrer-Policy"]) == ("no-store", "no-referrer")
    log_in_as("admin")
    values = {
        "reference": gift.reference,
        "donor_id": gift.donor_id,
        "slug": "spring",
        "key": "a",
        "kind": "donors",
    }
    tokens = {
        "donate.receipt": urlsplit(links.receipt_url(gift)).path.rsplit("/", 1)[1],
        "manage": urlsplit(links.manage_url(gift.donor)).path.split("/")[2],
    }
    walked = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(PRIVATE) or rule.endpoint == "donate.thanks":
            continue
        arguments = {name: values.get(name) for name in rule.arguments}
        if "token" in rule.arguments:
            arguments["token"] = tokens.get(rule.endpoint) or tokens["manage"]
        with app.test_request_context():
            url = url_for(rule.endpoint, **arguments)
        response = client.get(url)
        walked.append(rule.endpoint)
        assert response.status_code < 500, url
        assert response.headers.get("Cache-Control") == "no-store", url
        assert response.headers.get("Referrer-Policy") == "no-referrer", url
    assert {"donate.receipt", "manage.gifts", "staff.show_donor", "staff.export"} <= set(walked)
