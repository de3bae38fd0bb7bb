"""Errors people may see: every service refusal is a ServiceError, rendered by one handler with its
status and message, as the error page or as the JSON error shape."""

import importlib
import inspect
import pkgutil

import pytest
import sqlalchemy as sa

import banner.services
from banner import create_app, errors, payments
from banner.errors import PaymentUnavailable, ServiceError
from banner.extensions import db
from banner.models import Gift, GiftStatus
from tests.test_donate_views import JSON, form_data


class Refused(ServiceError):
    code = "made_up"
    http_status = 418
    title = "Not today"


@pytest.fixture
def refusing_client(tmp_path):
    """A client of an app with one more view, which raises a ServiceError."""
    app = create_app({"ENV": "testing", "TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})

    @app.get("/refused")
    def refused():
        raise Refused("The kettle is cold.", detail="sub_internal_123 had no kettle")

    return app.test_client()


def test_a_service_error_in_a_view_is_the_error_page_with_its_status_and_message(refusing_client):
    page = refusing_client.get("/refused")

    assert page.status_code == 418 and page.mimetype == "text/html"
    assert "<h1>Not today</h1>" in page.text and "The kettle is cold." in page.text
    assert "sub_internal_123" not in page.text  # the detail is for the logs only


def test_a_service_error_in_a_view_is_the_json_error_shape_for_json_requests(refusing_client):
    answer = refusing_client.get("/refused", headers={"Accept": "application/json"})

    assert answer.status_code == 418
    assert answer.json == {"error": {"code": "made_up", "message": "The kettle is cold."}}


def test_the_error_shape_is_the_one_of_the_apps_other_json_errors(refusing_client):
    too_large = refusing_client.post(
        "/donate", data={"name": "x" * 200_000}, headers={"Accept": "application/json"}
    )
    refused = refusing_client.get("/refused", headers={"Accept": "application/json"})

    assert too_large.json["error"].keys() == refused.json["error"].keys() == {"code", "message"}


def test_a_payment_outage_at_checkout_is_a_json_503_with_no_payment_started(
    client, make_campaign, monkeypatch
):
    make_campaign()

    def outage(*args, **kwargs):
        raise PaymentUnavailable(detail="connection refused")

    monkeypatch.setattr(payments, "start_payment", outage)
    answer = client.post("/donate", data=form_data(), headers=JSON)

    assert answer.status_code == 503
    assert answer.json == {
        "error": {"code": "payment_unavailable", "message": PaymentUnavailable.default_message}
    }
    [attempt] = db.session.scalars(sa.select(Gift)).all()  # the attempt the page may send again
    assert (attempt.status, attempt.stripe_payment_intent_id) == (GiftStatus.PENDING, None)


def test_an_unknown_gift_is_the_404_page_for_a_browser(client):
    page = client.post("/donate/nothing/confirm", data={})

    assert page.status_code == 404 and "We could not find this gift." in page.text


#: exceptions of services that no person sees: a setting the app refuses at start
NOT_FOR_PEOPLE = {"banner.services.save_offers.OfferSettingError"}


def exception_classes() -> dict[str, type[Exception]]:
    """Return every exception class the services and the payments package define or raise."""
    modules = [errors, payments] + [
        importlib.import_module(f"banner.services.{info.name}")
        for info in pkgutil.iter_modules(banner.services.__path__)
    ]
    return {
        f"{value.__module__}.{value.__qualname__}": value
        for module in modules
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__.startswith("banner.")
    }


def test_every_service_and_payment_error_is_a_service_error():
    found = exception_classes()

    assert len(found) >= 21
    assert (
        sorted(
            name
            for name, cls in found.items()
            if not issubclass(cls, ServiceError) and name not in NOT_FOR_PEOPLE
        )
        == []
    )


@pytest.mark.parametrize(
    "cls",
    [cls for name, cls in exception_classes().items() if name not in NOT_FOR_PEOPLE],
    ids=lambda cls: cls.__name__,
)
def test_each_service_error_has_a_code_a_status_and_a_message(cls):
    assert cls.code and cls.code.isidentifier()
    assert 400 <= cls.http_status < 600
    assert cls.default_message and cls.title
