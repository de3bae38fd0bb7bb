"""Staff logins an attacker can neither block nor keep: throttling that slows guessers without
locking the owner out, sessions that end on logout, password change, deactivation and idleness,
and optional two-factor codes."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pyotp
import pytest
import redis
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from banner.extensions import db
from banner.models import AuditEntry, LoginFailure, StaffUser, utcnow
from banner.models.staff import PASSWORD_METHOD
from banner.services import login_throttle, staff_auth
from tests.conftest import PASSWORD, ROOT, STRICT

REDIS_URL = os.environ.get("BANNER_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
OWNER_IP = "198.51.100.1"
ATTACKER_IP = "203.0.113.9"


class Clock:
    """The time as the login code sees it, moved by the test only."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(staff_auth, "utcnow", clock)
    monkeypatch.setattr(login_throttle, "utcnow", clock)
    return clock


@pytest.fixture(params=["database", "redis"])
def failures_in(request, app, monkeypatch):
    """Where failed logins are counted: the database, or Redis when BANNER_REDIS_URL is set."""
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
        except redis.exceptions.ConnectionError:
            if STRICT:
                pytest.fail(f"Redis is required at {REDIS_URL} when BANNER_TEST_STRICT=1")
            pytest.skip(f"Redis: start one at {REDIS_URL} (or set BANNER_TEST_REDIS_URL)")
        monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    return request.param


def attempt(client, email, password=PASSWORD, ip=OWNER_IP):
    return client.post(
        "/staff/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def enter_code(client, code, ip=OWNER_IP):
    return client.post("/staff/login/code", data={"code": code}, environ_base={"REMOTE_ADDR": ip})


def actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def staff_named(email: str) -> StaffUser:
    db.session.expire_all()
    return db.session.scalar(sa.select(StaffUser).where(StaffUser.email == email))


# Throttling


def test_wrong_passwords_from_one_address_make_each_next_try_wait_twice_as_long(
    client, make_staff, clock, failures_in
):
    staff = make_staff()
    for _ in range(3):
        assert attempt(client, staff.email, "wrong").status_code == 401

    refused = attempt(client, staff.email)  # even the right password waits, unchecked

    assert refused.status_code == 429 and refused.headers["Retry-After"] == "8"
    assert "must wait 8 seconds" in refused.text
    assert actions() == ["login_failed"] * 3
    clock.advance(seconds=8)
    assert attempt(client, staff.email, "wrong").status_code == 401
    assert attempt(client, staff.email).headers["Retry-After"] == "16"
    clock.advance(seconds=16)
    assert attempt(client, staff.email).status_code == 302


def test_the_wait_stops_growing_at_fifteen_minutes(client, make_staff, clock, failures_in):
    staff = make_staff()
    for wait in (0, 0, 8, 16, 32, 64, 128, 256, 512):
        assert attempt(client, staff.email, "wrong").status_code == 401
        clock.advance(seconds=wait)
    assert attempt(client, staff.email, "wrong").status_code == 401  # the tenth: 2^10 seconds

    assert attempt(client, staff.email).headers["Retry-After"] == str(15 * 60)


def test_an_attackers_burst_does_not_keep_the_owner_out_of_their_usual_address(
    client, app, make_staff, clock, failures_in
):
    owner = make_staff("admin")
    assert attempt(client, owner.email).status_code == 302  # the owner's usual address
    other = app.test_client()
    answers = [
        attempt(other, owner.email, "guess", ip=f"203.0.113.{number}").status_code
        for number in range(1, 41)
        for _ in range(3)
    ]
    assert answers.count(401) >= 10 and 429 in answers  # the guesser is slowed

    assert attempt(app.test_client(), owner.email).status_code == 302


def test_after_a_burst_the_owner_waits_at_most_a_minute_from_a_new_address(
    client, app, make_staff, clock, failures_in
):
    owner = make_staff("admin")
    for number in range(1, 41):
        attempt(client, owner.email, "guess", ip=f"203.0.113.{number}")

    waiting = attempt(app.test_client(), owner.email, ip="192.0.2.50")

    assert waiting.status_code == 429 and 0 < int(waiting.headers["Retry-After"]) <= 60
    clock.advance(seconds=60)
    assert attempt(app.test_client(), owner.email, ip="192.0.2.50").status_code == 302


def test_another_address_is_judged_on_its_own_failures(client, make_staff, clock, failures_in):
    staff = make_staff()
    for _ in range(5):
        attempt(client, staff.email, "wrong", ip=ATTACKER_IP)
    assert attempt(client, staff.email, ip=ATTACKER_IP).status_code == 429

    assert attempt(client, staff.email, ip=OWNER_IP).status_code == 302


def test_a_success_forgets_the_failures_from_that_address(client, make_staff, clock, failures_in):
    staff = make_staff()
    for _ in range(2):
        attempt(client, staff.email, "wrong")
    assert attempt(client, staff.email).status_code == 302
    for _ in range(2):
        assert attempt(client, staff.email, "wrong").status_code == 401
    assert attempt(client, staff.email).status_code == 302


@pytest.fixture
def cheap_decoy(monkeypatch):
    """An unknown e-mail's password is checked against a decoy hashed like the staff's (the real
    scrypt, ~0.7 s a check); here, one hashed as cheaply as the factory's accounts, for a test of
    many unknown e-mails. test_the_decoy_is_hashed_like_a_real_password keeps the real one honest."""
    decoy = generate_password_hash("decoy", method="pbkdf2:sha256:1000")
    monkeypatch.setattr(staff_auth, "_decoy_hash", lambda: decoy)


def test_the_decoy_is_hashed_like_a_real_password():
    assert staff_auth._decoy_hash().startswith(PASSWORD_METHOD + "$")


def test_thirty_failures_from_one_address_slow_every_account_from_it(
    client, make_staff, clock, failures_in, cheap_decoy
):
    staff = make_staff()
    for number in range(15):
        for _ in range(2):
            assert attempt(client, f"nobody{number}@example.org", "guess").status_code == 401

    assert attempt(client, staff.email).status_code == 429
    assert attempt(client, staff.email, ip=ATTACKER_IP).status_code == 302


def test_failures_expire_after_an_hour(client, make_staff, clock, failures_in):
    staff = make_staff()
    for _ in range(3):
        attempt(client, staff.email, "wrong")
    clock.advance(hours=1, seconds=1)
    for _ in range(3):
        assert attempt(client, staff.email, "wrong").status_code == 401
    if failures_in == "database":
        assert db.session.scalar(sa.select(sa.func.count(LoginFailure.id))) == 3


SECOND_WORKER = """
import json, sys
from banner import create_app
settings = json.loads(sys.argv[1])
app = create_app(settings)
app.config["WTF_CSRF_ENABLED"] = False
response = app.test_client().post(
    "/staff/login",
    data={"email": "fundraiser@example.org", "password": "wrong"},
    environ_base={"REMOTE_ADDR": "203.0.113.9"},
)
print(response.status_code)
"""


def test_every_worker_counts_the_same_failures(client, app, make_staff, clock, failures_in):
    staff = make_staff()
    clock.now -= timedelta(seconds=8 + 16 + 32)  # six failures ending now, each after its wait
    for wait in (0, 0, 0, 8, 16, 32):
        clock.advance(seconds=wait)
        assert attempt(client, staff.email, "wrong", ip=ATTACKER_IP).status_code == 401
    settings = {
        key: app.config[key]
        for key in ("ENV", "DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY")
    }
    settings.update(STRIPE_WEBHOOK_SECRET="whsec_x", STRIPE_API_BASE="http://127.0.0.1:9")
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}

    other_worker = subprocess.run(
        [sys.executable, "-c", SECOND_WORKER, json.dumps(settings)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert other_worker.stdout.split() == ["429"]  # 64 seconds to wait, whichever worker answers


# Sessions


def copy_of_the_cookie(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/staff/campaigns").status_code == 200
    return thief


def is_logged_out(client) -> bool:
    response = client.get("/staff/campaigns")
    return response.status_code == 302 and response.headers["Location"].startswith("/staff/login")


def test_a_copied_cookie_stops_working_after_logout(app, client, log_in_as, clock):
    log_in_as("viewer")
    thief = copy_of_the_cookie(app, client)

    client.post("/staff/logout")

    assert is_logged_out(thief) and is_logged_out(client)


def test_a_copied_cookie_stops_working_after_an_admin_gives_a_new_password(app, client, make_staff, clock):
    member = make_staff("viewer")
    assert attempt(client, member.email).status_code == 302
    thief = copy_of_the_cookie(app, client)
    admin = app.test_client()
    assert attempt(admin, make_staff("admin").email).status_code == 302

    assert admin.post(f"/staff/staff/{member.id}/password").status_code == 200

    assert is_logged_out(thief) and is_logged_out(client)


def test_a_copied_cookie_stops_working_after_deactivation_even_once_reactivated(
    app, client, make_staff, clock
):
    member = make_staff("viewer")
    assert attempt(client, member.email).status_code == 302
    thief = copy_of_the_cookie(app, client)
    admin = app.test_client()
    assert attempt(admin, make_staff("admin").email).status_code == 302

    admin.post(f"/staff/staff/{member.id}/deactivate")
    admin.post(f"/staff/staff/{member.id}/reactivate")

    assert is_logged_out(thief) and is_logged_out(client)


def change_password(client, current=PASSWORD, new="a brand new passphrase", repeat=None):
    return client.post(
        "/staff/account/password",
        data={"current": current, "new": new, "repeat": new if repeat is None else repeat},
    )


def test_a_member_changes_their_password_and_only_their_own_session_goes_on(app, client, log_in_as, clock):
    member = log_in_as("viewer")
    thief = copy_of_the_cookie(app, client)

    response = change_password(client)

    assert response.status_code == 302 and response.headers["Location"] == "/staff/account"
    assert "you are logged out everywhere else" in client.get("/staff/account").text
    assert is_logged_out(thief) and not is_logged_out(client)
    assert staff_named(member.email).check_password("a brand new passphrase")
    assert actions() == ["login", "password_change"]
    assert attempt(app.test_client(), member.email, "a brand new passphrase").status_code == 302


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"current": "wrong"}, 400, "Your current password is not right."),
        ({"repeat": "something else entirely"}, 400, "The two new passwords differ."),
        ({"new": "too short"}, 400, "Use at least 12 characters."),
        ({"current": ""}, 400, "Enter your current password."),
    ],
    ids=["wrong current", "repeat differs", "too short", "no current"],
)
def test_a_bad_password_change_changes_nothing(client, log_in_as, clock, fields, status, message):
    member = log_in_as("viewer")
    token = member.session_token

    response = change_password(client, **fields)

    assert response.status_code == status and message in response.text
    after = staff_named(member.email)
    assert after.check_password(PASSWORD) and after.session_token == token


def test_guessing_the_current_password_is_throttled_like_a_login(client, log_in_as, clock):
    member = log_in_as("viewer")
    for _ in range(3):
        assert change_password(client, current="guess").status_code == 400

    refused = change_password(client)

    assert refused.status_code == 429 and refused.headers["Retry-After"] == "8"
    assert staff_named(member.email).check_password(PASSWORD)


def test_the_account_page_offers_to_change_the_password(client, log_in_as):
    log_in_as("viewer")
    page = client.get("/staff/account").text
    assert 'action="/staff/account/password"' in page and "Change my password" in page


# Idle sessions


def test_a_session_unused_for_the_idle_time_ends(client, log_in_as, clock):
    log_in_as("viewer")
    clock.advance(minutes=30, seconds=1)
    assert is_logged_out(client)


def test_activity_keeps_a_session_alive(app, client, log_in_as, clock):
    log_in_as("viewer")
    for _ in range(4):
        clock.advance(minutes=20)
        assert client.get("/staff/campaigns").status_code == 200
    app.config["STAFF_IDLE_MINUTES"] = 10
    try:
        clock.advance(minutes=11)
        assert is_logged_out(client)
    finally:
        app.config["STAFF_IDLE_MINUTES"] = 30


# Two-factor


def set_up_two_factor(client, clock) -> str:
    """Set up two-factor for the logged-in client; return its secret."""
    page = client.get("/staff/account/two-factor").text
    secret = page.split('<code class="secret">')[1].split("<")[0]
    response = client.post("/staff/account/two-factor", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert response.status_code == 302
    return secret


def test_a_member_sets_up_two_factor_with_a_code_from_their_app(client, log_in_as, clock):
    member = log_in_as("viewer")

    page = client.get("/staff/account/two-factor").text
    secret = page.split('<code class="secret">')[1].split("<")[0]
    wrong = client.post("/staff/account/two-factor", data={"code": "000000"})
    right = client.post("/staff/account/two-factor", data={"code": pyotp.TOTP(secret).at(clock.now)})

    assert "otpauth://totp/" in page and f"secret={secret}" in page
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    assert right.status_code == 302
    assert staff_named(member.email).has_two_factor
    assert actions() == ["login", "two_factor_enrol_failed", "two_factor_enrol"]


def test_login_asks_for_the_code_after_the_password(app, client, log_in_as, clock):
    member = log_in_as("viewer")
    secret = set_up_two_factor(client, clock)
    client.post("/staff/logout")
    clock.advance(seconds=30)
    browser = app.test_client()

    password = attempt(browser, member.email)
    halfway = browser.get("/staff/campaigns")
    code = enter_code(browser, pyotp.TOTP(secret).at(clock.now))

    assert password.status_code == 302 and password.headers["Location"] == "/staff/login/code"
    assert halfway.status_code == 302 and halfway.headers["Location"].startswith("/staff/login")
    assert code.status_code == 302 and code.headers["Location"] == "/staff/campaigns"
    assert browser.get("/staff/campaigns").status_code == 200
    assert actions()[-1] == "login"


def test_a_code_works_once(app, client, log_in_as, clock):
    member = log_in_as("viewer")
    secret = set_up_two_factor(client, clock)
    client.post("/staff/logout")
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now)
    assert attempt(client, member.email).status_code == 302
    assert enter_code(client, code).status_code == 302
    client.post("/staff/logout")

    assert attempt(client, member.email).status_code == 302
    again = enter_code(client, code)

    assert again.status_code == 401 and "was used already" in again.text
    assert is_logged_out(client)
    assert actions()[-1] == "login_code_failed"


def test_wrong_codes_are_throttled_like_passwords(app, client, log_in_as, clock):
    member = log_in_as("viewer")
    set_up_two_factor(client, clock)
    client.post("/staff/logout")

    assert attempt(client, member.email).status_code == 302  # counted until the code is right
    assert enter_code(client, "000000").status_code == 401
    assert enter_code(client, "111111").status_code == 401
    refused = enter_code(client, "222222")

    assert refused.status_code == 429 and refused.headers["Retry-After"] == "8"
    assert actions()[-2:] == ["login_code_failed", "login_code_failed"]


def test_the_code_step_ends_after_five_minutes(app, client, log_in_as, clock):
    member = log_in_as("viewer")
    secret = set_up_two_factor(client, clock)
    client.post("/staff/logout")
    assert attempt(client, member.email).status_code == 302

    clock.advance(minutes=5, seconds=1)
    response = enter_code(client, pyotp.TOTP(secret).at(clock.now))

    assert response.status_code == 302 and response.headers["Location"] == "/staff/login"
    assert is_logged_out(client)


def test_removing_two_factor_needs_the_password_and_is_audited(client, log_in_as, clock):
    member = log_in_as("viewer")
    set_up_two_factor(client, clock)

    wrong = client.post("/staff/account/two-factor/remove", data={"password": "wrong"})
    right = client.post("/staff/account/two-factor/remove", data={"password": PASSWORD})

    assert wrong.status_code == 400 and "Your password is not right." in wrong.text
    assert right.status_code == 302
    after = staff_named(member.email)
    assert not after.has_two_factor and after.totp_secret is None
    assert actions()[-2:] == ["two_factor_remove_failed", "two_factor_remove"]


def test_admins_must_set_up_two_factor_first_when_it_is_required(app, client, make_staff, clock, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_ADMIN_2FA", 1)
    viewer = app.test_client()
    assert attempt(viewer, make_staff("viewer").email).status_code == 302
    assert attempt(client, make_staff("admin").email).status_code == 302

    sent = client.get("/staff/audit")

    assert sent.status_code == 302 and sent.headers["Location"] == "/staff/account/two-factor"
    assert client.get("/staff/reports/overview").headers["Location"] == "/staff/account/two-factor"
    assert viewer.get("/staff/campaigns").status_code == 200
    set_up_two_factor(client, clock)
    assert client.get("/staff/audit").status_code == 200


def test_an_admin_turns_off_two_factor_for_a_member_who_lost_their_device(app, client, make_staff, clock):
    member = make_staff("viewer")
    theirs = app.test_client()
    assert attempt(theirs, member.email).status_code == 302
    set_up_two_factor(theirs, clock)
    admin = app.test_client()
    assert attempt(admin, make_staff("admin").email).status_code == 302
    assert "Turn two-factor off" in admin.get("/staff/staff").text

    assert admin.post(f"/staff/staff/{member.id}/two-factor/remove").status_code == 302

    assert not staff_named(member.email).has_two_factor
    entry = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()))
    assert (entry.action, entry.target, entry.actor_email) == (
        "two_factor_remove",
        "staff:viewer@example.org",
        "admin@example.org",
    )
    theirs.post("/staff/logout")
    assert attempt(theirs, member.email).headers["Location"] == "/staff/campaigns"
