"""The query of GET /api/banner, read without a form: it is asked on every article page."""

import re
from typing import NamedTuple

from banner.forms import is_text
from banner.services.banners import DONOR_STATES

#: the longest value each parameter may have
LIMITS = {"campaign": 60, "path": 2000, "ref": 2000, "preview": 300, "donor": 10}
PREVIEW = re.compile(r"^\.?[\w-]+\.[\w-]+\.[\w-]+$")  #: a signed token (banners.preview_token)


class BannerQuery(NamedTuple):
    campaign: str | None
    path: str
    ref: str | None
    preview: str | None
    donor: str | None  #: None, or one of banners.DONOR_STATES


class BadBannerQuery(Exception):
    """A parameter no banner can be chosen by; `fields` says which and why, as forms do."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("Bad banner query.")
        self.fields = fields


def read_banner_query(args) -> BannerQuery:
    """Read campaign, path, ref, preview and donor from a request's query (other names are
    ignored, empty values are none), or raise BadBannerQuery."""
    # `in` first: a MultiDict's get() of a missing name raises and catches a KeyError inside,
    # which on the page every reader asks for cost more than the rest of this function
    values = {name: (args.get(name) if name in args else None) or None for name in LIMITS}
    problems = {}
    for name, value in values.items():
        if value is None:
            continue
        if not is_text(value):
            problems[name] = ["The value holds characters we cannot read."]
        elif len(value) > LIMITS[name]:
            problems[name] = [f"Field cannot be longer than {LIMITS[name]} characters."]
    if "preview" not in problems and values["preview"] and not PREVIEW.match(values["preview"]):
        problems["preview"] = ["Invalid input."]
    if "donor" not in problems and values["donor"] and values["donor"] not in DONOR_STATES:
        problems["donor"] = [f"Use one of: {', '.join(DONOR_STATES)}."]
    if problems:
        raise BadBannerQuery(problems)
    return BannerQuery(
        values["campaign"], values["path"] or "", values["ref"], values["preview"], values["donor"]
    )
