"""Thin blueprints: parse input with a form, call one service, answer."""

from flask import jsonify


def json_error(code: str, message: str, status: int, **extra):
    """Answer with the project's JSON error shape."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), status
