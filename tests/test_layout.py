"""The runtime package stands on its own: development tools are never imported by the app."""

import subprocess
import sys

from tests.conftest import ROOT


def test_the_app_never_imports_the_development_tools():
    probe = (
        "import sys\n"
        "from banner import create_app\n"
        "app = create_app({'ENV': 'testing', 'DATABASE_URL': 'sqlite://'})\n"
        "app.test_client().get('/healthz')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('devtools', 'localstripe')))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"
