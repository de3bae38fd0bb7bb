"""Check the requests the service sends to Stripe against the installed stripe-python's own types.

The emulator accepts parameters that real Stripe refuses, so a green test run alone proves little
about the pinned API version. The library ships that version's request parameters as TypedDicts
(`stripe.params`) and its objects as annotated classes (`stripe._subscription.Subscription`, ...):
`check` holds one recorded request against the first, `field_exists` a field the service reads
against the second. Development tool only: nothing in `banner/` imports it.
"""

import ast
import importlib
import inspect
import json
import re
import sys
import types
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

import stripe
import stripe.params
import typing_extensions
from stripe._api_version import _ApiVersion
from stripe._list_object import ListObject
from stripe._request_options import RequestOptions
from stripe._search_result_object import SearchResultObject
from stripe._stripe_object import StripeObject, UntypedStripeObject

API_VERSION = _ApiVersion.CURRENT

#: keys of the library's RequestOptions, which every params TypedDict inherits but which travel as
#: headers (or not at all), never as parameters
OPTION_KEYS = frozenset(RequestOptions.__annotations__)

#: paths whose params class the generic rule in `params_class` does not find: (method, pattern)
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("DELETE", "/v1/subscriptions/{id}"): "SubscriptionCancelParams",
    ("POST", "/v1/invoices/{id}/finalize"): "InvoiceFinalizeInvoiceParams",
    ("POST", "/v1/invoices/{id}/send"): "InvoiceSendInvoiceParams",
    ("POST", "/v1/invoices/{id}/void"): "InvoiceVoidInvoiceParams",
    ("DELETE", "/v1/customers/{id}/discount"): "CustomerDeleteDiscountParams",
    ("DELETE", "/v1/subscriptions/{id}/discount"): "SubscriptionDeleteDiscountParams",
    ("GET", "/v1/customers/{id}/payment_methods/{id}"): "CustomerPaymentMethodRetrieveParams",
}

#: second path segments that name an action on the whole collection rather than an object's id
COLLECTION_ACTIONS = frozenset({"search", "create_preview"})

#: resources named in a path whose singular is not the path segment less its final "s"
SINGULAR = {"payment_intents": "payment_intent", "setup_intents": "setup_intent"}


# -- Which params class a request should match --------------------------------------------------


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def singular(collection: str) -> str:
    return SINGULAR.get(collection) or (collection[:-1] if collection.endswith("s") else collection)


def pattern(path: str) -> str:
    """Return the path with each object id replaced by `{id}`: `/v1/subscriptions/{id}/...`."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    for index in range(2, len(parts), 2):
        if not (index == 2 and parts[index] in COLLECTION_ACTIONS):
            parts[index] = "{id}"
    return "/" + "/".join(parts)


def _candidates(method: str, parts: list[str]) -> Iterator[str]:
    """Yield names the params class of this request may have, best first."""
    resource = camel(singular(parts[1]))
    if len(parts) == 2:
        yield resource + {"GET": "List", "POST": "Create"}.get(method, "?") + "Params"
    elif len(parts) == 3 and parts[2] != "{id}":
        yield resource + camel(parts[2]) + "Params"
    elif len(parts) == 3:
        yield resource + {"GET": "Retrieve", "POST": "Update", "DELETE": "Delete"}[method] + "Params"
    elif len(parts) == 4:
        # An action (`/v1/invoices/{id}/pay`) or a collection inside the object
        # (`/v1/customers/{id}/payment_methods`).
        if method == "POST":
            yield resource + camel(parts[3]) + "Params"
        nested = resource + camel(singular(parts[3]))
        yield nested + {"GET": "List", "POST": "Create", "DELETE": "Delete"}[method] + "Params"
    elif len(parts) == 5:
        nested = resource + camel(singular(parts[3]))
        yield nested + {"GET": "Retrieve", "POST": "Update", "DELETE": "Delete"}[method] + "Params"


def params_class(method: str, path: str) -> type | None:
    """Return the stripe.params TypedDict for a request, or None for an endpoint it cannot map."""
    method = method.upper()
    shape = pattern(path)
    parts = shape.strip("/").split("/")
    if method not in ("GET", "POST", "DELETE") or len(parts) < 2 or parts[0] != "v1":
        return None
    names = [EXCEPTIONS[method, shape]] if (method, shape) in EXCEPTIONS else _candidates(method, parts)
    for name in names:
        found = getattr(stripe.params, name, None)
        if found is not None:
            return found
    return None


def resource_class(name: str) -> type | None:
    """Return the library's class for a resource named like `invoice_payment`, or None."""
    try:
        module = importlib.import_module(f"stripe._{name}")
    except ImportError:
        return None
    found = getattr(module, camel(name), None)
    return found if isinstance(found, type) and issubclass(found, StripeObject) else None


# -- Resolving the library's annotations ----------------------------------------------------------


class _Names(Mapping[str, Any]):
    """Names an annotation of `owner` may use: its nested classes, its module's imports made only
    for type checkers (`if TYPE_CHECKING:`), then the library's top-level names and `typing`'s
    (for what a TypedDict inherits from RequestOptions, whose module imports more)."""

    def __init__(self, owner: type):
        self.owner = owner

    def __getitem__(self, name: str) -> Any:
        for klass in self.owner.__mro__:
            if name in vars(klass):
                return vars(klass)[name]
        module = sys.modules[self.owner.__module__]
        if name in vars(module):
            return vars(module)[name]
        where = _checking_imports(module.__name__).get(name)
        if where is not None:
            return getattr(importlib.import_module(where[0]), where[1])
        for fallback in (stripe, typing):
            if hasattr(fallback, name):
                return getattr(fallback, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@cache
def _checking_imports(module_name: str) -> dict[str, tuple[str, str]]:
    """Return {local name: (module, name)} for the imports of a module made only for type checkers."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(sys.modules[module_name]))):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


@cache
def hints(owner: type) -> dict[str, Any]:
    """Return the resolved annotations of a TypedDict or a Stripe object class."""
    namespace = vars(sys.modules[owner.__module__])
    return typing.get_type_hints(owner, globalns=dict(namespace), localns=_Names(owner), include_extras=True)


def _strip(annotation: Any) -> Any:
    """Drop NotRequired/Required wrappers."""
    while get_origin(annotation) in (NotRequired, Required):
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_typeddict(annotation: Any) -> bool:
    return isinstance(annotation, type) and typing_extensions.is_typeddict(annotation)


# -- Checking one request -------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__


def _accepts_kind(annotation: Any, value: Any) -> bool:
    """Whether this member of a union is of the same kind (dict, list, scalar) as the value."""
    origin = get_origin(annotation) or annotation
    is_dict = _is_typeddict(annotation) or origin in (dict, UntypedStripeObject)
    is_list = origin is list
    if isinstance(value, dict):
        return is_dict
    if isinstance(value, list):
        return is_list
    return not is_dict and not is_list


def _scalar_errors(value: Any, annotation: Any, where: str) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value)
    if annotation is str:
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {_kind(value)}"]
    if annotation is bool:
        ok = isinstance(value, bool) or text in ("true", "false")
        return [] if ok else [f"{where}: expected true or false, got {text!r}"]
    if annotation is int:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or re.fullmatch(r"-?\d+", text)
        return [] if ok else [f"{where}: expected an integer, got {text!r}"]
    if annotation in (float, Decimal):
        try:
            Decimal(text)
        except InvalidOperation:
            return [f"{where}: expected a number, got {text!r}"]
        return []
    if get_origin(annotation) is Literal:
        allowed = [
            str(choice).lower() if isinstance(choice, bool) else str(choice)
            for choice in get_args(annotation)
        ]
        if text in allowed:
            return []
        return [f"{where}: {text!r} is not one of {', '.join(repr(choice) for choice in allowed)}"]
    if annotation is Any:
        return []
    return [f"{where}: cannot check a value against {annotation!r}"]


def _errors(value: Any, annotation: Any, where: str) -> list[str]:
    """Return the violations of a form-decoded value against a params annotation."""
    annotation = _strip(annotation)
    members = _members(annotation)
    if len(members) > 1:
        return _union_errors(value, members, where)
    origin = get_origin(annotation) or annotation
    if _is_typeddict(annotation):
        if not isinstance(value, dict):
            return [f"{where}: expected a dict, got {_kind(value)}"]
        return _dict_errors(value, annotation, where)
    if origin in (dict, UntypedStripeObject):
        if not isinstance(value, dict):
            return [f"{where}: expected a dict, got {_kind(value)}"]
        args = get_args(annotation)
        inner = args[-1] if args else Any
        return [error for key, item in value.items() for error in _errors(item, inner, f"{where}[{key}]")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {_kind(value)}"]
        (inner,) = get_args(annotation) or (Any,)
        return [
            error for index, item in enumerate(value) for error in _errors(item, inner, f"{where}[{index}]")
        ]
    if isinstance(value, dict | list):
        return [f"{where}: expected {_describe(annotation)}, got {_kind(value)}"]
    return _scalar_errors(value, annotation, where)


def _union_errors(value: Any, members: tuple[Any, ...], where: str) -> list[str]:
    results = [_errors(value, member, where) for member in members]
    if any(not result for result in results):
        return []
    alike = [
        (member, result)
        for member, result in zip(members, results, strict=True)
        if _accepts_kind(member, value)
    ]
    if isinstance(value, dict | list) and alike:
        # The member of the value's own kind explains best what is wrong inside it.
        return min((result for _, result in alike), key=len)
    if len(alike) == 1 and alike[0][0] != Literal[""]:
        return alike[0][1]
    expected = " or ".join(dict.fromkeys(_describe(member) for member in members if member != Literal[""]))
    unset = " (or '' to unset)" if Literal[""] in members else ""
    got = repr(value) if isinstance(value, str) else _kind(value)
    return [f"{where}: expected {expected}{unset}, got {got}"]


def _describe(annotation: Any) -> str:
    origin = get_origin(annotation) or annotation
    if _is_typeddict(annotation) or origin in (dict, UntypedStripeObject):
        return "a dict"
    if origin is list:
        return "a list"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(annotation))
    return {int: "an integer", bool: "true or false", float: "a number", Decimal: "a number"}.get(
        annotation, "a string"
    )


def _dict_errors(value: dict, typed: type, where: str) -> list[str]:
    known = {name: annotation for name, annotation in hints(typed).items() if name not in OPTION_KEYS}
    required = set(typed.__required_keys__) - OPTION_KEYS  # type: ignore[attr-defined]
    errors = []
    for key, item in value.items():
        inner = f"{where}[{key}]" if where else key
        if key not in known:
            errors.append(f"{inner}: unknown parameter")
        else:
            errors.extend(_errors(item, known[key], inner))
    for key in sorted(required - value.keys()):
        errors.append(
            f"{where}[{key}]: required parameter missing" if where else f"{key}: required parameter missing"
        )
    return errors


def check(request: dict) -> list[str]:
    """Return the violations of one recorded request against the pinned API version's types."""
    method = str(request.get("method", "")).upper()
    path = str(request.get("path", "")).split("?", 1)[0]
    endpoint = f"{method} {path}"
    errors = []
    if request.get("stripe_version") != API_VERSION:
        errors.append(f"{endpoint}: Stripe-Version {request.get('stripe_version')!r}, not {API_VERSION!r}")
    if method in ("POST", "DELETE") and not request.get("idempotency_key"):
        errors.append(f"{endpoint}: no idempotency key")
    typed = params_class(method, path)
    if typed is None:
        return [*errors, f"{endpoint}: unknown endpoint"]
    params = request.get("params") or {}
    errors.extend(f"{endpoint}: {error}" for error in _dict_errors(params, typed, ""))
    errors.extend(f"{endpoint}: {error}" for error in _expand_errors(method, path, params.get("expand")))
    return errors


def _expand_errors(method: str, path: str, expand: Any) -> list[str]:
    if not isinstance(expand, list):
        return []
    parts = pattern(path).strip("/").split("/")
    name = singular(parts[1])
    listing = method == "GET" and (len(parts) == 2 or parts[2] in COLLECTION_ACTIONS)
    errors = []
    for each in expand:
        segments = str(each).split(".")
        if listing:
            if segments[0] != "data":
                errors.append(f"expand: {each!r} does not start with 'data.' on a list")
                continue
            segments = segments[1:]
        if not segments or not field_exists(name, (segments[0],)):
            errors.append(f"expand: {each!r} is not a field of {name}")
    return errors


# -- Fields of the objects Stripe answers with ----------------------------------------------------


def field_exists(resource: str, path: tuple[str, ...]) -> bool:
    """Whether the pinned version's `resource` object (e.g. "invoice") has the field at `path`.

    Lists are walked through their `data` (`("items", "data", "price")`), expandable fields as
    the object they expand to, and metadata-like dicts take any key.
    """
    start = resource_class(resource)
    return start is not None and _exists(start, path)


def _exists(annotation: Any, path: tuple[str, ...]) -> bool:
    annotation = _strip(annotation)
    if not path:
        return True
    members = [member for member in _members(annotation) if member is not type(None)]
    if len(members) != 1:
        return any(_exists(member, path) for member in members)
    (annotation,) = members
    origin = get_origin(annotation) or annotation
    args = get_args(annotation)
    if origin is list:
        return _exists(args[0], path)
    if origin in (ListObject, SearchResultObject):
        if path[0] == "data":
            return _exists(args[0] if args else Any, path[1:])
        return path[0] in hints(origin) and _exists(hints(origin)[path[0]], path[1:])
    if origin in (dict, UntypedStripeObject) or annotation is Any:
        return True
    if isinstance(origin, type) and issubclass(origin, StripeObject):
        known = hints(origin)
        return path[0] in known and _exists(known[path[0]], path[1:])
    return False


# -- The suite-wide contract test -----------------------------------------------------------------


def recorded(base: str) -> list[dict] | None:
    """Return and clear the requests the emulator at `base` recorded; None if it records none."""
    try:
        with urllib.request.urlopen(f"{base}/_shim/requests", timeout=10) as response:
            requests = json.load(response)
    except urllib.error.HTTPError as error:
        # A shim that does not record passes the path on to localstripe, which wants a key (401).
        if error.code in (401, 404):
            return None
        raise
    urllib.request.urlopen(urllib.request.Request(f"{base}/_shim/requests", method="DELETE"), timeout=10)
    return requests


@dataclass
class Tally:
    """What the suite sent to Stripe, for the terminal summary."""

    requests: int = 0
    endpoints: set[str] = field(default_factory=set)
    violations: int = 0
    #: whether the emulator records requests at all (an older shim answers 404)
    active: bool = False

    def collect(self, base: str) -> list[str]:
        """Take the requests the emulator at `base` recorded since the last call; their violations."""
        requests = recorded(base)
        if requests is None:
            return []
        self.active = True
        return self.take(requests)

    def take(self, requests: list[dict]) -> list[str]:
        """Check a batch of recorded requests, count them, and return their violations."""
        found = []
        for request in requests:
            self.requests += 1
            method = str(request.get("method", "")).upper()
            self.endpoints.add(f"{method} {pattern(str(request.get('path', '')))}")
            found.extend(check(request))
        self.violations += len(found)
        return found

    def summary(self) -> str:
        return (
            f"Stripe contract: {self.requests} requests, {len(self.endpoints)} endpoints, "
            f"{self.violations} violations"
        )
