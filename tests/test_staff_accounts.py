"""Staff accounts: the create-staff command, the session cookie, the admin's
staff page, and the append-only audit log with its page."""

import re

import pytest
import sqlalchemy as sa

from banner import create_app
from banner.extensions import db
from banner.models import AuditEntry, Role, StaffUser
from banner.models.staff import AuditLogIsAppendOnly
from tests.conftest import log_in

STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


def audit_log():
    return db.session.execute(
        sa.select(AuditEntry.action, AuditEntry.target, AuditEntry.actor_email).order_by(AuditEntry.id)
    ).all()


def staff_named(email: str) -> StaffUser:
    db.session.expire_all()
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))


# The create-staff command


def create_staff(app, *args, answers=""):
    return app.test_cli_runner().invoke(args=["banner", "create-staff", *args], input=answers)


def test_create_staff_asks_for_a_hidden_password_twice(app):
    secret = "a long enough secret"

    result = create_staff(app, " Ada@Example.org ", "--role", "admin", answers=f"{secret}\n{secret}\n")

    assert result.exit_code == 0, result.output
    assert "Password (leave empty to generate one):" in result.output
    assert "Repeat the password:" in result.output
    assert secret not in result.output
    staff = staff_named("ada@example.org")
    assert staff.role is Role.ADMIN and staff.active
    assert staff.password_hash.startswith("scrypt:131072:8:1$")
    assert staff.check_password(secret)
    entry = db.session.scalar(sa.select(AuditEntry))
    assert (entry.action, entry.target, entry.staff_user_id) == (
        "staff_create",
        "staff:ada@example.org",
        None,
    )
    assert entry.data == {"role": "admin", "via": "create-staff command"}


def test_create_staff_generates_a_password_and_prints_it_once_when_left_empty(app):
    result = create_staff(app, "bob@example.org", "--role", "viewer", answers="\n")

    assert result.exit_code == 0, result.output
    password = re.search(r"Password \(shown once; store it now\): (\S+)", result.output).group(1)
    assert len(password) >= 16 and result.output.count(password) == 1
    assert "Repeat the password" not in result.output
    assert staff_named("bob@example.org").check_password(password)


def test_create_staff_with_generate_asks_nothing(app):
    result = create_staff(app, "cy@example.org", "--role", "fundraiser", "--generate")

    assert result.exit_code == 0, result.output
    assert "Password (leave" not in result.output
    password = result.output.split("store it now): ")[1].strip()
    assert staff_named("cy@example.org").check_password(password)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ("a long enough secret\nanother long secret\n", "The two passwords differ"),
        ("short\n", "Use at least 12 characters"),
    ],
    ids=["passwords differ", "too short"],
)
def test_create_staff_refuses_a_bad_password_and_creates_nothing(app, answers, message):
    result = create_staff(app, "ada@example.org", "--role", "admin", answers=answers)

    assert result.exit_code == 1 and message in result.output
    assert db.session.scalar(sa.select(sa.func.count(StaffUser.id))) == 0


def test_create_staff_refuses_an_existing_account(app, make_staff):
    make_staff(email="ada@example.org")
    result = create_staff(app, "ADA@example.org", "--role", "admin")
    assert result.exit_code == 1 and "already has an account" in result.output
    assert "Password" not in result.output  # said before asking for one


# The session cookie


def session_cookie(client, email) -> str:
    response = log_in(client, email)
    assert response.status_code == 302
    return next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))


def test_the_session_cookie_is_http_only_and_same_site_lax(client, make_staff):
    staff = make_staff()
    cookie = session_cookie(client, staff.email)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test server speaks plain HTTP, as development does


def test_in_production_the_session_cookie_is_also_secure(app, make_staff, database_url):
    staff = make_staff()
    production = create_app(
        {"ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": database_url, **STRIPE_KEYS}
    )
    production.config["WTF_CSRF_ENABLED"] = False
    try:
        cookie = session_cookie(production.test_client(), staff.email)
    finally:
        with production.app_context():
            db.engine.dispose()
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# Throttled logins (more in test_staff_auth.py)


def test_only_failed_logins_count(client, make_staff):
    staff = make_staff()
    for _ in range(12):
        assert log_in(client, staff.email).status_code == 302


# The staff page


def test_admin_adds_a_staff_member_and_sees_the_generated_password_once(client, log_in_as):
    log_in_as("admin")

    response = client.post("/staff/staff", data={"email": " New@Example.org ", "role": "fundraiser"})

    assert response.status_code == 201
    password = re.search(r'<code class="password">([^<]+)</code>', response.text).group(1)
    member = staff_named("new@example.org")
    assert member.role is Role.FUNDRAISER and member.active
    assert member.password_hash.startswith("scrypt:131072:8:1$") and member.check_password(password)
    assert password not in client.get("/staff/staff").text
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff_create"))
    assert (entry.target, entry.actor_email, entry.data) == (
        "staff:new@example.org",
        "admin@example.org",
        {"role": "fundraiser"},
    )


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"email": "viewer@example.org", "role": "viewer"}, 409, "already has an account"),
        ({"email": "not an address", "role": "viewer"}, 400, "Enter an e-mail address"),
        ({"email": "x@example.org", "role": "owner"}, 400, "Not a valid choice"),
    ],
)
def test_bad_new_staff_is_refused(client, log_in_as, make_staff, data, status, message):
    make_staff("viewer")
    log_in_as("admin")
    response = client.post("/staff/staff", data=data)
    assert response.status_code == status and message in response.text
    assert db.session.scalar(sa.select(sa.func.count(StaffUser.id))) == 2


def test_admin_changes_a_role_and_it_is_audited(client, log_in_as, make_staff):
    member = make_staff("viewer")
    log_in_as("admin")

    response = client.post(f"/staff/staff/{member.id}/role", data={"role": "fundraiser"})

    assert response.status_code == 302
    assert staff_named("viewer@example.org").role is Role.FUNDRAISER
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff_role"))
    assert entry.target == "staff:viewer@example.org" and entry.data == {"from": "viewer", "to": "fundraiser"}


def test_a_deactivated_member_is_logged_out_and_cannot_log_in_until_reactivated(app, make_staff, log_in_as):
    member = make_staff("viewer")
    theirs = app.test_client()
    assert log_in(theirs, member.email).status_code == 302
    admin = app.test_client()
    assert log_in(admin, make_staff("admin").email).status_code == 302

    assert admin.post(f"/staff/staff/{member.id}/deactivate").status_code == 302

    assert theirs.get("/staff/donors").status_code == 302
    assert log_in(theirs, member.email).status_code == 401
    assert admin.post(f"/staff/staff/{member.id}/reactivate").status_code == 302
    assert log_in(theirs, member.email).status_code == 302
    actions = [(action, target) for action, target, _ in audit_log() if action.startswith("staff_")]
    assert actions == [
        ("staff_deactivate", "staff:viewer@example.org"),
        ("staff_reactivate", "staff:viewer@example.org"),
    ]


@pytest.mark.parametrize(
    ("action", "data"),
    [("deactivate", {}), ("role", {"role": "viewer"})],
)
def test_an_admin_cannot_deactivate_or_demote_themself(client, log_in_as, action, data):
    admin = log_in_as("admin")

    response = client.post(f"/staff/staff/{admin.id}/{action}", data=data)

    assert response.status_code == 409 and "ask another admin" in response.text
    me = staff_named("admin@example.org")
    assert me.active and me.role is Role.ADMIN
    assert [action for action, *_ in audit_log()] == ["login"]


def test_the_staff_page_offers_no_controls_against_the_admin_themself(client, log_in_as, make_staff):
    admin = log_in_as("admin")
    other = make_staff("viewer")
    page = client.get("/staff/staff").text
    assert f"/staff/staff/{admin.id}/deactivate" not in page and f"/staff/staff/{admin.id}/role" not in page
    assert f"/staff/staff/{other.id}/deactivate" in page and f"/staff/staff/{other.id}/role" in page


def test_admin_gives_a_member_a_new_password(client, log_in_as, make_staff):
    member = make_staff("viewer")
    log_in_as("admin")

    response = client.post(f"/staff/staff/{member.id}/password")

    password = re.search(r'<code class="password">([^<]+)</code>', response.text).group(1)
    assert staff_named("viewer@example.org").check_password(password)
    assert audit_log()[-1] == ("staff_password", "staff:viewer@example.org", "admin@example.org")


# The audit log


def add_entries(count: int, action: str = "login") -> None:
    db.session.add_all(
        AuditEntry(action=action, actor_email=f"n{number}@example.org", ip="127.0.0.1")
        for number in range(count)
    )
    db.session.commit()


def test_the_audit_page_lists_entries_newest_first_a_page_at_a_time(client, log_in_as):
    add_entries(60)
    log_in_as("admin")  # the 61st entry: its own login

    first = client.get("/staff/audit").text
    second = client.get("/staff/audit?page=2").text

    assert first.count("<tr>") == 1 + 50 and second.count("<tr>") == 1 + 11
    assert first.index("admin@example.org") < first.index("n59@example.org") < first.index("n58@example.org")
    assert "n0@example.org" in second and "Page 2 of 2" in second


def test_the_audit_page_filters_by_action(client, log_in_as):
    add_entries(3, "export")
    add_entries(2, "staff_role")
    log_in_as("admin")

    page = client.get("/staff/audit?action=export").text

    assert page.count("<code>export</code>") == 3 and "<code>staff_role</code>" not in page
    assert '<option selected value="export">' in page
    assert client.get("/staff/audit?action=nonsense").status_code == 400


def test_the_audit_log_cannot_be_changed_over_http(app, client, log_in_as):
    log_in_as("admin")
    page = client.get("/staff/audit").text

    posting_forms = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert posting_forms == ["/staff/logout"]
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff/audit"):
            assert rule.methods & {"POST", "PUT", "PATCH", "DELETE"} == set()


def test_an_audit_entry_cannot_be_changed_or_deleted(app):
    add_entries(1)
    entry = db.session.scalar(sa.select(AuditEntry))

    entry.action = "nothing happened"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()

    db.session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()

    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(sa.update(AuditEntry).values(action="nothing happened"))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(sa.delete(AuditEntry))
    db.session.rollback()
    assert db.session.scalars(sa.select(AuditEntry.action)).all() == ["login"]
