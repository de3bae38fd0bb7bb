"""What staff do for a donor who asks: correct their name or e-mail, cancel their gift; against
the emulator, with the audit log and the gift's timeline checked."""

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from banner import payments
from banner.extensions import db
from banner.models import Actor, AuditEntry, Donor, Frequency, Gift, GiftEvent, GiftStatus, StripeEvent
from banner.services import checkout, links, reports
from tests import factories
from tests import stripe_events as se
from tests.conftest import deliver_mail
from tests.stripe_helpers import give


@pytest.fixture
def monthly(app, stripe_base, outbox):
    """Ada's monthly gift of $10, paid through checkout; her receipt is cleared from the outbox."""
    gift = give(stripe_base)
    outbox.clear()
    return gift


def reload(model, key):
    db.session.expire_all()
    return db.session.get(model, key)


def audit(action):
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)).all()


def edit(client, donor_id, follow_redirects=False, **fields):
    data = {"action_key": uuid.uuid4().hex, **fields}
    return client.post(f"/staff/donors/{donor_id}/edit", data=data, follow_redirects=follow_redirects)


def cut_off_stripe(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", "http://127.0.0.1:9")
    app.extensions.pop("stripe_client", None)


# Correcting a donor's name or e-mail


def test_an_admin_corrects_a_donors_email_here_and_at_stripe(client, log_in_as, monthly, app, stripe_base):
    second = give(stripe_base, amount=3000)  # each monthly gift has its own Stripe customer
    admin = log_in_as("admin")
    donor_id, customer = monthly.donor_id, monthly.donor.stripe_customer_id
    assert second.donor_id == donor_id and second.stripe_customer_id != customer
    old_link = links.manage_url(monthly.donor).rsplit("/", 1)[1]
    form = client.get(f"/staff/donors/{donor_id}/edit")
    assert form.status_code == 200 and 'value="ada@example.org"' in form.text

    response = edit(client, donor_id, True, name=" Ada Lovelace ", email="Ada.L@Example.org")
    assert response.status_code == 200 and "Saved." in response.text
    donor = reload(Donor, donor_id)
    assert (donor.name, donor.email) == ("Ada Lovelace", "ada.l@example.org")
    for each in (customer, second.stripe_customer_id):
        at_stripe = payments.client().v1.customers.retrieve(each)
        assert (at_stripe.email, at_stripe.name) == ("ada.l@example.org", "Ada Lovelace")
    [entry] = audit("donor_edit")
    assert (entry.staff_user_id, entry.target, entry.data) == (
        admin.id,
        f"donor:{donor_id}",
        {"changed": ["name", "email"]},
    )
    assert "ada" not in str(entry.data).lower()  # no copy of the personal data an erasure removes
    with pytest.raises(links.LinkError):  # links sent to the old address stop working
        links.donor_for(old_link)


def test_an_email_another_donor_has_is_refused(client, log_in_as, monthly):
    factories.donor(email="bob@example.org", name="Bob")
    log_in_as("admin")
    response = edit(client, monthly.donor_id, name="Ada Reader", email="bob@example.org")
    assert response.status_code == 409 and "Another donor has this e-mail" in response.text
    assert reload(Donor, monthly.donor_id).email == "ada@example.org"
    assert audit("donor_edit") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "email": "ada@example.org"}, "Enter their name."),
        ({"name": "Ada", "email": "not-an-address"}, "Enter an e-mail address like"),
        ({"name": "A" * 201, "email": "ada@example.org"}, "Use at most 200 characters."),
    ],
)
def test_bad_details_are_refused_next_to_the_field(client, log_in_as, monthly, fields, message):
    log_in_as("admin")
    response = edit(client, monthly.donor_id, **fields)
    assert response.status_code == 400 and message in response.text
    assert reload(Donor, monthly.donor_id).name == "Ada Reader"


def test_a_stripe_failure_changes_nothing_and_says_so(client, log_in_as, monthly, app, monkeypatch):
    log_in_as("admin")
    cut_off_stripe(app, monkeypatch)
    response = edit(client, monthly.donor_id, name="Ada", email="new@example.org")
    app.extensions.pop("stripe_client", None)
    assert response.status_code == 503 and "nothing was changed" in response.text
    assert reload(Donor, monthly.donor_id).email == "ada@example.org"
    assert audit("donor_edit") == []


@pytest.mark.usefixtures("stripe_base")
def test_a_customer_stripe_does_not_know_is_named(client, log_in_as, app):
    donor = factories.donor(email="old@example.org", name="Old", stripe_customer_id="cus_unknown")
    log_in_as("admin")
    response = edit(client, donor.id, name="Old", email="new@example.org")
    assert response.status_code == 409 and "Stripe has no customer cus_unknown" in response.text
    assert reload(Donor, donor.id).email == "old@example.org" and audit("donor_edit") == []


def test_saving_the_same_details_changes_nothing(client, log_in_as, monthly):
    log_in_as("admin")
    response = edit(client, monthly.donor_id, True, name="Ada Reader", email="ada@example.org")
    assert "Nothing to change." in response.text and audit("donor_edit") == []


def test_an_erased_donor_has_nothing_to_edit(client, log_in_as):
    donor = factories.donor(email="erased-7@invalid", name="Erased donor")
    log_in_as("admin")
    assert client.get(f"/staff/donors/{donor.id}/edit").status_code == 404
    assert "Edit name or e-mail" not in client.get(f"/staff/donors/{donor.id}").text


# Cancelling a gift for a donor who asked


def cancel(client, gift, **fields):
    data = {"reason": "financial", "when": "period_end", "action_key": uuid.uuid4().hex, **fields}
    return client.post(f"/staff/donors/{gift.donor_id}/gifts/{gift.reference}/cancel", data=data)


def test_an_admin_cancels_a_gift_the_donor_asked_to_end(client, log_in_as, monthly, outbox, app):
    admin = log_in_as("admin")
    donor_page = client.get(f"/staff/donors/{monthly.donor_id}").text
    assert f"/gifts/{monthly.reference}/cancel" in donor_page
    form = client.get(f"/staff/donors/{monthly.donor_id}/gifts/{monthly.reference}/cancel")
    assert form.status_code == 200 and "My finances changed" in form.text

    response = cancel(client, monthly, comment="Called us: lost her job, will be back.")
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).text.count("The gift is cancelled.") == 1
    gift = reload(Gift, monthly.id)
    assert gift.status is GiftStatus.CANCELLING  # the paid month runs out first
    assert (gift.cancellation_channel, gift.cancellation_reason) == ("staff", "financial")
    assert gift.cancellation_comment == "Called us: lost her job, will be back."
    [request] = [e for e in gift.events if e.kind == "cancel_request"]
    assert (request.actor, request.actor_ref, request.data["offered"]) == (Actor.STAFF, admin.email, [])
    [status] = [e for e in gift.events if e.kind == "status" and e.to_status is GiftStatus.CANCELLING]
    assert (status.actor, status.actor_ref) == (Actor.STAFF, admin.email)
    [entry] = audit("gift_cancel")
    assert (entry.staff_user_id, entry.target) == (admin.id, f"gift:{monthly.reference}")
    assert entry.data == {"donor": monthly.donor_id, "reason": "financial", "at_period_end": True}
    [confirmation] = outbox
    assert confirmation["To"] == "ada@example.org" and "is cancelled" in confirmation["Subject"]

    today = gift.created_at.astimezone(reports.site_zone()).date()  # the newsroom's day, as reports count
    period = reports.Period(today, today)
    seen = reports.cancellations("usd", period)
    assert dict(seen.by_channel) == {"staff": 1} and dict(seen.by_reason) == {"My finances changed": 1}
    assert seen.offered == 0  # staff showed the donor no save offer


def test_cancelling_now_ends_the_gift_at_once(client, log_in_as, monthly):
    log_in_as("admin")
    assert cancel(client, monthly, when="now").status_code == 302
    gift = reload(Gift, monthly.id)
    assert gift.status is GiftStatus.CANCELLED and gift.cancelled_at is not None
    assert gift.cancellation_channel == "staff"


def test_a_second_cancellation_changes_nothing(client, log_in_as, monthly, outbox):
    log_in_as("admin")
    key = uuid.uuid4().hex
    cancel(client, monthly, action_key=key)
    again = cancel(client, monthly, action_key=key)
    assert "was cancelled already" in client.get(again.headers["Location"]).text
    assert len(audit("gift_cancel")) == 1 and len(outbox) == 1
    cancel_requests = sa.select(sa.func.count()).where(GiftEvent.kind == "cancel_request")
    assert db.session.scalar(cancel_requests) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": ""}, "Choose their reason."),
        ({"reason": "bored"}, "Not a valid choice"),
        ({"when": "later"}, "Not a valid choice"),
    ],
)
def test_a_cancellation_needs_a_known_reason_and_time(client, log_in_as, monthly, fields, message):
    log_in_as("admin")
    response = cancel(client, monthly, **fields)
    assert response.status_code == 400 and message in response.text
    assert reload(Gift, monthly.id).status is GiftStatus.ACTIVE and audit("gift_cancel") == []


def test_a_stripe_failure_cancels_nothing(client, log_in_as, monthly, app, monkeypatch, outbox):
    log_in_as("admin")
    cut_off_stripe(app, monkeypatch)
    response = cancel(client, monthly)
    app.extensions.pop("stripe_client", None)
    assert response.status_code == 503 and "nothing was changed" in response.text
    gift = reload(Gift, monthly.id)
    assert gift.status is GiftStatus.ACTIVE and gift.cancellation_channel is None
    assert audit("gift_cancel") == [] and outbox == []


def test_a_one_time_gift_or_another_donors_is_out_of_reach(client, log_in_as, monthly):
    log_in_as("admin")
    other = factories.donor(email="bob@example.org", name="Bob", save=False)
    once = factories.gift(Frequency.ONCE, GiftStatus.SUCCEEDED, donor=other, amount=500)
    assert client.get(f"/staff/donors/{other.id}/gifts/{once.reference}/cancel").status_code == 404
    assert client.get(f"/staff/donors/{other.id}/gifts/{monthly.reference}/cancel").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "fundraiser"])
def test_only_admins_act_for_donors(client, log_in_as, monthly, role):
    log_in_as(role)
    assert cancel(client, monthly).status_code == 403
    assert edit(client, monthly.donor_id, name="X", email="x@example.org").status_code == 403
    page = client.get(f"/staff/donors/{monthly.donor_id}").text
    assert not re.search(r"/cancel\"|/edit\"", page)
    assert reload(Gift, monthly.id).status is GiftStatus.ACTIVE


def test_staff_forms_for_donors_need_csrf(client, log_in_as, monthly, app):
    log_in_as("admin")
    app.config["WTF_CSRF_ENABLED"] = True
    assert cancel(client, monthly).status_code == 400
    assert edit(client, monthly.donor_id, name="X", email="x@example.org").status_code == 400
    assert reload(Gift, monthly.id).status is GiftStatus.ACTIVE
    assert reload(Donor, monthly.donor_id).name == "Ada Reader"


# Erasing a donor's personal data


def scan_for(words: list[str], folder) -> list[str]:
    """Every place a word is found: each value of each column of each table, and each file."""
    found = []
    words = [word.lower() for word in words]
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
                found += [f"{table.name}.{column}" for word in words if word in text.lower()]
    for path in folder.rglob("*"):
        if path.is_file():
            found += [str(path) for word in words if word in path.read_text(errors="replace").lower()]
    return found


def test_erasure_leaves_the_name_and_email_nowhere(
    client, log_in_as, app, stripe_base, tmp_path, monkeypatch
):
    outbox = tmp_path / "outbox"
    monkeypatch.setitem(app.config, "MAIL_URL", f"file://{outbox}")
    first, second = give(stripe_base), give(stripe_base, amount=2500)
    once = give(stripe_base, amount=5000, frequency=Frequency.ONCE)
    attempt = checkout.start_gift(
        checkout.GiftRequest(
            amount=700,
            currency="usd",
            frequency=Frequency.MONTH,
            cover_fees=False,
            name="Ada Reader",
            email="ada@example.org",
            checkout_key=uuid.uuid4().hex,
        )
    )
    attempted = db.session.scalar(sa.select(Gift).where(Gift.reference == attempt.reference))
    assert (attempted.donor_id, attempted.checkout_email) == (None, "ada@example.org")
    gifts = (first, second, once, attempted)
    customers = {first.donor.stripe_customer_id, *(gift.stripe_customer_id for gift in gifts)} - {None}
    assert len(customers) == 3  # each monthly gift has its own, the unpaid attempt too
    ada = {"email": "ada@example.org", "name": "Ada Reader"}
    updated = se.event("customer.updated", se.customer(second.stripe_customer_id, **ada))
    paid = se.invoice("in_renewal", second.stripe_subscription_id, customer=second.stripe_customer_id)
    paid |= {"customer_email": ada["email"], "customer_name": ada["name"]}
    charge = se.charge("ch_once", payment_intent=once.stripe_payment_intent_id, amount=5000)
    charge["billing_details"] = {**ada, "phone": None, "address": {"postal_code": "12345"}}
    received = [updated, se.event("invoice.paid", paid), se.event("charge.succeeded", charge)]
    for event in received:
        se.deliver(client, event)
    admin = log_in_as("admin")
    for gift in (first, second):
        cancel(client, gift, when="now", comment="Ada Reader here: ada@example.org will be back.")
    deliver_mail()  # the worker writes the copies; the outbox table keeps what it sent
    assert len(list(outbox.glob("*.eml"))) >= 5 and scan_for(["ada reader"], outbox)

    response = client.post(f"/staff/donors/{first.donor_id}/erase", data={"confirm": "y"})
    assert response.status_code == 302
    # What Stripe sends back about our own change still names the old values.
    after = se.event("customer.updated", se.customer(second.stripe_customer_id, email="", name=""))
    after["data"]["previous_attributes"] = ada
    se.deliver(client, after)

    db.session.expire_all()
    assert scan_for(["ada@example.org", "ada reader"], outbox) == []
    at_stripe = payments.client().v1.customers
    assert [(at_stripe.retrieve(c).email or "", at_stripe.retrieve(c).name or "") for c in customers] == [
        ("", "")
    ] * 3
    stored = {e.event_id: e for e in db.session.scalars(sa.select(StripeEvent))}
    for event in [*received, after]:  # the events stay, with their ids, types and objects' ids
        assert stored[event["id"]].type == event["type"]
        assert stored[event["id"]].payload["data"]["object"]["id"] == event["data"]["object"]["id"]
    assert reload(Gift, second.id).stripe_subscription_id == second.stripe_subscription_id
    [entry] = audit("donor_erase")
    assert (entry.staff_user_id, entry.target) == (admin.id, f"donor:{first.donor_id}")
    assert entry.data["stripe_customers"] == 3 and entry.data["mail_copies_removed"] >= 5
    assert (
        db.session.scalar(sa.select(Gift).where(Gift.reference == attempt.reference)).checkout_email is None
    )


def test_an_erasure_stripe_cannot_take_changes_nothing(client, log_in_as, app, monkeypatch):
    donor = factories.donor(email="cy@example.org", name="Cy Reader", stripe_customer_id="cus_cy")
    log_in_as("admin")
    cut_off_stripe(app, monkeypatch)
    response = client.post(f"/staff/donors/{donor.id}/erase", data={"confirm": "y"})
    app.extensions.pop("stripe_client", None)
    assert response.status_code == 503 and "nothing was changed" in response.text
    assert reload(Donor, donor.id).email == "cy@example.org" and audit("donor_erase") == []


# Handing a donor their data (a subject-access request)


def test_an_admin_downloads_one_donors_data_and_nobody_elses(client, log_in_as, monthly, stripe_base):
    bob = give(stripe_base, email="bob@example.org", name="Bob Reader", amount=2500)
    admin = log_in_as("admin")
    cancel(client, monthly, comment="Moving abroad.")
    page = client.get(f"/staff/donors/{monthly.donor_id}").text
    assert f"/staff/donors/{monthly.donor_id}/export.json" in page

    response = client.get(f"/staff/donors/{monthly.donor_id}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="donor-{monthly.donor_id}.json"'
    assert response.headers["Cache-Control"] == "no-store"
    data = response.json
    assert (data["donor"]["email"], data["donor"]["name"]) == ("ada@example.org", "Ada Reader")
    [gift] = data["gifts"]
    assert (gift["reference"], gift["amount"], gift["cancellation_comment"]) == (
        monthly.reference,
        1000,
        "Moving abroad.",
    )
    assert [p["amount"] for p in data["payments"]] == [1000]
    assert "cancel_request" in {e["kind"] for e in data["gift_events"]}
    assert {e["gift_id"] for e in data["gift_events"]} == {monthly.id}
    assert {(e["action"], e["target"]) for e in data["audit_entries"]} == {
        ("gift_cancel", f"gift:{monthly.reference}"),
        ("donor_export", f"donor:{monthly.donor_id}"),
    }
    text = response.text.lower()
    assert "bob" not in text and bob.reference.lower() not in text
    [entry] = audit("donor_export")
    assert (entry.staff_user_id, entry.target) == (admin.id, f"donor:{monthly.donor_id}")


@pytest.mark.parametrize("role", ["viewer", "fundraiser"])
def test_only_admins_download_a_donors_data(client, log_in_as, monthly, role):
    log_in_as(role)
    assert client.get(f"/staff/donors/{monthly.donor_id}/export.json").status_code == 403
    assert "export.json" not in client.get(f"/staff/donors/{monthly.donor_id}").text
    assert audit("donor_export") == []


def test_the_data_of_a_donor_who_does_not_exist_is_not_found(client, log_in_as):
    log_in_as("admin")
    assert client.get("/staff/donors/999/export.json").status_code == 404
    assert audit("donor_export") == []
