"""The banner script as served: its bytes, its content hash and its SRI digest."""

import hashlib
from base64 import b64encode
from pathlib import Path

from flask import current_app


class Script:
    """The banner script's bytes with their digests, read once per process."""

    def __init__(self, path: Path):
        self.body = path.read_bytes()
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
