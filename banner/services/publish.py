"""Static copies of the banner for a CDN: the script and each live campaign's answer, as files.

What `flask --app wsgi banner publish` writes, in a directory and (when configured) in an
S3-compatible bucket under BANNER_PUBLISH_S3_PREFIX:

    embed.<hash>.js      the served script, byte for byte what /embed.<hash>.js answers
    banner/<slug>.json   what /api/banner?campaign=<slug> answers, one file per campaign live now,
                         and banner/<slug>.former.json, what it answers a former donor (donor=former)
    banner/_live.json    the answer for a tag without data-campaign: the live campaign of highest
                         priority that targets every page (no path or referrer rules)
    manifest.json        the script's name and digest, the campaigns published and each file's digest

One answer holds every variant of a campaign (the reader's browser picks one), so one file per
campaign is all a page needs; the embed script with `data-source="<base>/banner"` fetches
`<base>/banner/<data-campaign or _live>.json` instead of /api/banner. A campaign that stops being
live loses its file, which the script reads as "nothing to show". Files are written atomically
(a temporary file, then a rename) and only when their bytes changed, so running it again
rewrites nothing; old `embed.<hash>.js` files stay for the pages that pin them.
"""

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from banner.assets import embed_script
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Campaign, CampaignStatus, utcnow
from banner.services import banners

#: the folder of the answers, under the directory or the bucket's prefix
ANSWERS = "banner"
#: the answer for a tag without data-campaign
LIVE = "_live"  #: a slug has no "_": no campaign can take this name
MANIFEST = "manifest.json"
SCRIPT_CACHE = "public, max-age=31536000, immutable"  #: as /embed.<hash>.js answers

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StaticFile:
    """One file to publish: where it goes under the root, its bytes and the headers a CDN serves."""

    path: str
    body: bytes
    content_type: str
    cache_control: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Report:
    """What one publication did."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, other: "Report") -> None:
        self.written += other.written
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.warnings += other.warnings


class PublishError(ServiceError):
    """The files could not be written or uploaded; the message says where."""

    code = "publish_failed"
    http_status = 503


def is_configured(config) -> bool:
    """Whether this app publishes at all: a directory, a bucket, or both."""
    return bool(config.get("PUBLISH_DIR") or config.get("PUBLISH_S3_BUCKET"))


def publish(
    directory: str | Path | None = None, force: bool = False, progress: Progress | None = None
) -> Report:
    """Publish the script and the live campaigns' answers to `directory` (BANNER_PUBLISH_DIR by
    default) and to the configured bucket; return what changed."""
    config = current_app.config
    directory = directory or config.get("PUBLISH_DIR")
    if not directory and not config.get("PUBLISH_S3_BUCKET"):
        raise PublishError(
            "Nowhere to publish: give a directory, or set BANNER_PUBLISH_DIR or BANNER_PUBLISH_S3_BUCKET."
        )
    say = progress or (lambda message: None)
    files, report = build()
    for warning in report.warnings:
        say(f"warning: {warning}")
    if directory:
        report.add(write_directory(Path(directory), files, force=force, progress=say))
    if config.get("PUBLISH_S3_BUCKET"):
        from banner.services import publish_s3  # boto3 is an optional extra: imported only when used

        report.add(publish_s3.upload(files, force=force, progress=say))
    return report


def build() -> tuple[list[StaticFile], Report]:
    """Return the files to publish, read fresh from the database, and warnings about them."""
    banners.clear_cache()  # goal progress as it is now, not as this process last cached it
    script = embed_script()
    seconds = current_app.config["CACHE_SECONDS"]
    answer_cache = f"public, max-age={seconds}, s-maxage={seconds}"  #: as /api/banner answers
    files = [StaticFile(script.hashed_name, script.body, "text/javascript; charset=utf-8", SCRIPT_CACHE)]
    report = Report()
    now = utcnow()
    live = [
        campaign
        for campaign in db.session.scalars(
            sa.select(Campaign)
            .where(Campaign.status == CampaignStatus.LIVE)
            .options(selectinload(Campaign.variants))
            .order_by(Campaign.priority.desc(), Campaign.id)
        )
        if campaign.is_live(now)
    ]
    answers = {campaign.slug: banners.snapshot(campaign).answers for campaign in live}
    for slug, answer in answers.items():
        files.extend(_answer_files(slug, answer, answer_cache))
    everywhere = next((campaign for campaign in live if not _targeted(campaign)), None)
    outranking = [campaign.slug for campaign in live[: live.index(everywhere) if everywhere else None]]
    if everywhere is not None:
        files.extend(_answer_files(LIVE, answers[everywhere.slug], answer_cache))
    if outranking:
        report.warnings.append(
            f"{', '.join(outranking)} target pages by path or referrer, which {ANSWERS}/{LIVE}.json cannot: "
            "tags on those pages need data-campaign (or no data-source)."
        )
    manifest = {
        "script": {"path": script.hashed_name, "integrity": script.integrity},
        "live": everywhere.slug if everywhere else None,
        "campaigns": list(answers),
        "files": {
            f.path: {"sha256": f.sha256, "type": f.content_type, "cache": f.cache_control} for f in files
        },
    }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    files.append(StaticFile(MANIFEST, body, "application/json", "no-cache"))
    return files, report


def _answer_files(name: str, answers: dict, cache_control: str) -> list[StaticFile]:
    """Return the bytes /api/banner answers for the campaign: `<name>.json` for any reader and
    `<name>.former.json` for a former donor (the script asks for it; a current donor asks nothing)."""
    return [
        StaticFile(f"{ANSWERS}/{name}.json", answers[None].body, "application/json", cache_control),
        StaticFile(
            f"{ANSWERS}/{name}.former.json", answers["former"].body, "application/json", cache_control
        ),
    ]


def _targeted(campaign: Campaign) -> bool:
    return bool(campaign.path_include or campaign.path_exclude or campaign.referrer_domains)


def write_directory(
    root: Path, files: list[StaticFile], force: bool = False, progress: Progress | None = None
) -> Report:
    """Write `files` under `root`, each atomically and only if its bytes changed; remove the answers
    of campaigns no longer live."""
    say = progress or (lambda message: None)
    report = Report()
    try:
        for static in files:
            target = root / static.path
            if not force and target.is_file() and target.read_bytes() == static.body:
                report.unchanged.append(static.path)
                continue
            _write_atomically(target, static.body)
            report.written.append(static.path)
            say(f"wrote {target}")
        keep = {static.path for static in files}
        answers = root / ANSWERS
        for stale in sorted(answers.glob("*.json")) if answers.is_dir() else []:
            if f"{ANSWERS}/{stale.name}" not in keep:
                stale.unlink()
                report.removed.append(f"{ANSWERS}/{stale.name}")
                say(f"removed {stale}")
    except OSError as error:
        raise PublishError(f"Cannot write to {root}: {error}") from error
    return report


def _write_atomically(target: Path, body: bytes) -> None:
    """Write a temporary file beside `target`, then rename it: readers see the old file or the new."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # served by nginx or synced: readable by others, as a plain file is
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
