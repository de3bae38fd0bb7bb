"""Thin blueprints: parse input with a form, call one service, answer.

Who may use a staff page is declared on its view, in one place, with one of two decorators:

    @bp.get("/donors")
    @requires(Role.VIEWER, Role.FUNDRAISER, Role.ADMIN)
    def donor_list(): ...

`requires(*roles)` lets in logged-in staff with one of `roles`; anyone else logged in gets 403
and a visitor who is not logged in is sent to the login page. `public` marks the few /staff
pages anyone may open (the login page). Every route under /staff must carry one of them:
tests/test_roles.py reads `allowed_roles` from every /staff rule of the URL map (the reports
blueprint's too) and tries each role against it, and the staff blueprint refuses (403) any of its
own routes that carries neither.
"""

import functools

from flask import abort, current_app, jsonify, make_response, redirect, url_for
from flask_login import current_user

from banner.extensions import login
from banner.models import Role


def json_error(code: str, message: str, status: int, **extra):
    """Answer with the project's JSON error shape."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


def private(view):
    """Keep a page with donor data out of caches (every page is sent with no Referer)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def requires(*roles: Role, before_two_factor: bool = False):
    """Let only logged-in staff with one of `roles` use the decorated view.

    With BANNER_REQUIRE_ADMIN_2FA, an admin without two-factor is sent to set it up, unless the
    view is one of those needed to do so (`before_two_factor`).
    """
    if not roles or not all(isinstance(role, Role) for role in roles):
        raise TypeError("requires() takes one or more banner.models.Role members")
    allowed = frozenset(roles)

    def decorate(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            if not before_two_factor and _must_set_up_two_factor(current_user):
                return redirect(url_for("staff.two_factor"))
            return view(*args, **kwargs)

        guarded.allowed_roles = allowed
        return guarded

    return decorate


def _must_set_up_two_factor(staff) -> bool:
    required = current_app.config["REQUIRE_ADMIN_2FA"]
    return bool(required) and staff.role is Role.ADMIN and not staff.has_two_factor


def public(view):
    """Mark a /staff view that anyone may use, logged in or not (the login page)."""
    view.allowed_roles = None
    return view


def allowed_roles(view) -> frozenset[Role] | None:
    """Return the roles that may use `view` (None: anyone); raise LookupError if it declares none."""
    try:
        return view.allowed_roles
    except AttributeError:
        raise LookupError(f"{view.__module__}.{view.__qualname__} declares no @requires or @public") from None
