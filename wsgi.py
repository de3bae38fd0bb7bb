"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from banner import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"banner: configuration error: {error}")
