"""Who may use which staff page: every rule of the URL map under /staff, tried by a visitor who is
not logged in and by each role, with every method it answers (GET, POST).

The roles a rule allows are read from its view (`@requires` / `@public`, see banner.views), so a
new /staff route is checked as soon as it exists, and fails here if it declares nothing.
"""

import time

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Frequency, GiftStatus, Role, StaffUser, VersionEvent
from banner.services import edit_history
from banner.views import allowed_roles, requires
from tests import factories

#: None: a visitor who is not logged in
VISITORS = [None, *Role]
METHODS = ("GET", "POST")
#: a query string some pages need to answer with their real content
QUERIES = {"staff.export": {"from": "2020-01-01", "to": "2030-12-31"}}


def staff_rules(app) -> list:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/staff")),
        key=lambda rule: rule.rule,
    )


def attempts(app) -> list[tuple]:
    """Every (rule, method) pair to try; GETs first, so that a POST that deletes comes last."""
    pairs = [(rule, method) for rule in staff_rules(app) for method in METHODS if method in rule.methods]
    return sorted(pairs, key=lambda pair: (pair[1] != "GET", pair[0].rule))


@pytest.fixture
def path_values(app, make_campaign, make_staff):
    """A real object for every path argument a /staff rule takes."""
    campaign = make_campaign()  # "spring", with variant "a"
    version = edit_history.record(None, campaign, None, VersionEvent.BASELINE, {})
    donor = factories.donor(email="ada@example.org", name="Ada", stripe_customer_id="cus_ada", save=False)
    gift = factories.gift(Frequency.MONTH, GiftStatus.ACTIVE, donor=donor, save=False)
    factories.payment(gift, stripe_invoice_id="in_1")
    colleague = make_staff("viewer", email="colleague@example.org")
    return {
        "slug": "spring",
        "key": "a",
        "donor_id": donor.id,
        "reference": gift.reference,
        "staff_id": colleague.id,
        "kind": "donors",
        "version_id": version.id,
    }


def path_of(rule, values: dict) -> str:
    names = rule.arguments - set(rule.defaults or {})
    missing = names - set(values)
    assert not missing, f"{rule.rule}: add a real value for {missing} to the path_values fixture"
    return rule.build({name: values[name] for name in names}, append_unknown=False)[1]


def act_as(client, staff: StaffUser | None) -> None:
    """Make the client's next requests those of `staff` (None: logged out)."""
    with client.session_transaction() as session:
        session.clear()
        if staff is not None:
            session["_user_id"] = staff.get_id()
            session["seen_at"] = time.time()
            session["_fresh"] = True


def sent_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/staff/login?next=")


def test_every_staff_route_declares_who_may_use_it(app):
    undeclared = []
    for rule in staff_rules(app):
        try:
            allowed_roles(app.view_functions[rule.endpoint])
        except LookupError as error:
            undeclared.append(str(error))
    assert undeclared == []


@pytest.mark.parametrize("visitor", VISITORS, ids=lambda role: role.value if role else "anonymous")
def test_each_role_gets_exactly_the_staff_routes_it_may_use(app, client, make_staff, path_values, visitor):
    staff = make_staff(visitor.value, email=f"me-{visitor.value}@example.org") if visitor else None
    wrong = []
    tried = 0
    for rule, method in attempts(app):
        allowed = allowed_roles(app.view_functions[rule.endpoint])
        act_as(client, staff)
        response = client.open(
            path_of(rule, path_values), method=method, query_string=QUERIES.get(rule.endpoint)
        )
        tried += 1
        where = f"{method} {rule.rule} as {visitor.value if visitor else 'anonymous'}"
        status = response.status_code
        if allowed is None:  # public: the login page
            if status >= 500 or status == 403 or sent_to_login(response):
                wrong.append(f"{where}: {status}, expected the page")
        elif visitor is None:
            if not sent_to_login(response):
                wrong.append(f"{where}: {status}, expected a redirect to the login")
        elif visitor in allowed:
            refused = status in (401, 403) or sent_to_login(response) or status >= 500
            if refused or (method == "GET" and status >= 400):
                wrong.append(f"{where}: {status}, expected it to work")
        elif status != 403:
            wrong.append(f"{where}: {status}, expected 403 (unauthorised)")
    assert wrong == []
    assert tried == len(attempts(app)) >= 26  # the staff blueprint's own; the reports' come on top


def test_the_matrix_tries_every_staff_rule(app):
    tried = {(rule.rule, rule.endpoint) for rule, _ in attempts(app)}
    assert tried == {(rule.rule, rule.endpoint) for rule in staff_rules(app)}


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/staff/campaigns", {Role.VIEWER, Role.FUNDRAISER, Role.ADMIN}),
        ("/staff/campaigns/new", {Role.FUNDRAISER, Role.ADMIN}),
        ("/staff/donors", {Role.VIEWER, Role.FUNDRAISER, Role.ADMIN}),
        ("/staff/export/donors.csv", {Role.ADMIN}),
        ("/staff/donors/1/export.json", {Role.ADMIN}),
        ("/staff/staff", {Role.ADMIN}),
        ("/staff/audit", {Role.ADMIN}),
        ("/staff/reports/overview", {Role.VIEWER, Role.FUNDRAISER, Role.ADMIN}),
    ],
)
def test_the_declared_roles_are_those_of_the_issue(app, path, allowed):
    endpoint, _ = app.url_map.bind("testserver").match(path, method="GET")
    assert allowed_roles(app.view_functions[endpoint]) == allowed


def test_a_deactivated_account_is_logged_out_at_its_next_request(client, log_in_as):
    staff = log_in_as("admin")
    assert client.get("/staff/donors").status_code == 200

    staff.active = False
    db.session.commit()

    response = client.get("/staff/donors")
    assert sent_to_login(response)


def test_a_role_change_applies_at_the_next_request(client, log_in_as):
    staff = log_in_as("admin")
    assert client.get("/staff/audit").status_code == 200

    db.session.execute(sa.update(StaffUser).where(StaffUser.id == staff.id).values(role=Role.VIEWER))
    db.session.commit()

    assert client.get("/staff/audit").status_code == 403


@pytest.mark.parametrize("roles", [(), ("admin",)], ids=["no role", "a string"])
def test_requires_takes_roles_only(roles):
    with pytest.raises(TypeError):
        requires(*roles)
