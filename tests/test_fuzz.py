"""Anything anyone may send to the public endpoints is answered without a server error.

Hypothesis writes query strings, JSON of any shape (deep, with lone surrogates, huge numbers and
values of the wrong type), forms and raw bytes; each endpoint gets about 200 of them, on SQLite
and PostgreSQL alike. A failure prints the smallest input that gives a 5xx.
"""

import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banner.models import EVENT_COLUMNS

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: strings that break parsers and databases, mixed into every text
NASTY = [
    "\x00",
    "\ud800",
    "\udfff",
    "1e999999",
    "-0",
    "NaN",
    "http://[::1",
    "%00",
    "\\",
    "'",
    "spring",
    "a",
    "\U0001d7d8",  # a digit of another script
]

any_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.text("0123456789.,e-+ $€'", max_size=30),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=20,
)
deep_json = st.integers(min_value=1, max_value=20_000).flatmap(
    lambda depth: st.sampled_from(
        ["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth]
    )
)


def encode(value) -> bytes:
    """Write JSON as a browser would, lone surrogates escaped."""
    return json.dumps(value).encode()


event = st.fixed_dictionaries(
    {
        "type": st.one_of(st.sampled_from(list(EVENT_COLUMNS)), any_json),
        "campaign": st.one_of(st.just("spring"), any_json),
        "variant": st.one_of(st.just("a"), any_json),
    }
)
beacon_bodies = st.one_of(
    st.builds(
        encode, st.fixed_dictionaries({"events": st.lists(event, max_size=60)}, optional={"reader": any_json})
    ),
    st.builds(encode, any_json),
    deep_json.map(str.encode),
    st.binary(max_size=2000),
)
queries = st.dictionaries(
    st.one_of(
        st.sampled_from(["campaign", "path", "ref", "preview", "amount", "currency", "from"]), any_text
    ),
    any_text,
    max_size=6,
)


def query_string(fields: dict) -> str:
    return urlencode(fields, encoding="utf-8", errors="surrogatepass")


@pytest.fixture
def fuzzed(client, app, make_campaign, monkeypatch):
    """A live campaign to aim at, and no rate limit in the way of the examples."""
    monkeypatch.setitem(app.config, "EVENTS_PER_IP", "1000000 per minute")
    make_campaign()
    return client


def no_server_error(response):
    assert response.status_code < 500, response.get_data()[:500]


@FUZZ
@given(fields=queries)
def test_banner_queries_never_fail(fuzzed, fields):
    no_server_error(fuzzed.get("/api/banner?" + query_string(fields)))


@FUZZ
@given(body=beacon_bodies, content_type=st.sampled_from(["text/plain;charset=UTF-8", "application/json", ""]))
def test_beacons_of_any_shape_never_fail(fuzzed, body, content_type):
    no_server_error(fuzzed.post("/api/events", data=body, headers={"Content-Type": content_type}))


@FUZZ
@given(fields=queries)
def test_fee_quotes_never_fail(fuzzed, fields):
    no_server_error(fuzzed.get("/donate/fee?" + query_string(fields)))


donate_fields = st.dictionaries(
    st.sampled_from(
        [
            *("amount", "frequency", "currency", "cover_fees", "name", "email", "campaign", "variant"),
            *("article_url", "referrer", "checkout_key", "csrf_token"),
        ]
    )
    | any_text,
    any_text,
    max_size=12,
)


@FUZZ
@given(fields=donate_fields)
def test_donate_forms_never_fail(fuzzed, fields):
    body = query_string(fields)
    response = fuzzed.post(
        "/donate",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    no_server_error(response)


@FUZZ
@given(
    body=st.one_of(
        st.builds(
            encode,
            st.dictionaries(st.sampled_from(["amount", "name", "email", "currency"]) | any_text, any_json),
        ),
        st.builds(encode, any_json),
        deep_json.map(str.encode),
    )
)
def test_donate_json_bodies_never_fail(fuzzed, body):
    response = fuzzed.post(
        "/donate", data=body, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    no_server_error(response)


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=3000), st.builds(encode, any_json), deep_json.map(str.encode)),
    signature=st.one_of(
        st.none(),
        st.just("t=1,v1=00"),
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=200),  # what a header can carry
    ),
)
def test_webhook_junk_never_fails(fuzzed, body, signature):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    no_server_error(fuzzed.post("/stripe/webhook", data=body, headers=headers))
