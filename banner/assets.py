"""The banner script as served: minified once per process, with its content hash and SRI digest.

The source in static/embed/ is written to be read (ES5, real names, comments); what readers
download is that source minified by calmjs.parse, which also shortens local names. Budgets,
ETag, the pinned `/embed.<hash>.js` name and the integrity digest all describe the served bytes.
"""

import gzip
import hashlib
from base64 import b64encode
from pathlib import Path

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print
from flask import current_app


def minify(source: str) -> str:
    """Return the source without comments or spaces and with short local names; globals keep theirs."""
    return minify_print(
        es5(source), obfuscate=True, obfuscate_globals=False, shadow_funcname=True, drop_semi=True
    )


def gzipped(body: bytes) -> bytes:
    """Return served bytes gzipped once, the same every time (no timestamp in the header): what a
    client that takes gzip is sent instead of them."""
    return gzip.compress(body, 9, mtime=0)


class Script:
    """The banner script's served bytes with their digests, minified once per process."""

    def __init__(self, path: Path):
        self.source = path.read_text(encoding="utf-8")
        self.body = minify(self.source).encode()
        self.gzipped = gzipped(self.body)
        self.etag = hashlib.sha256(self.body).hexdigest()[:16]
        self.hashed_name = f"embed.{self.etag}.js"
        self.integrity = "sha384-" + b64encode(hashlib.sha384(self.body).digest()).decode()


def embed_script() -> Script:
    """Return the banner script of this app, loaded on first use."""
    loaded = current_app.extensions.get("embed_script")
    if loaded is None:
        loaded = Script(
            Path(current_app.root_path, current_app.static_folder or "static", "embed", "banner.js")
        )
        current_app.extensions["embed_script"] = loaded
    return loaded
