"""The runtime package stands on its own: development tools are never imported by the app."""

import ast
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


def imported_modules(path) -> set[str]:
    """Return the modules a source file imports, `from a import b` counting as a and a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_view_imports_the_payments_package():
    views = sorted((ROOT / "banner" / "views").rglob("*.py"))
    assert views
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[:2] == ["banner", "payments"]
        )
        for path in views
    }
    assert {path: names for path, names in offenders.items() if names} == {}


#: the most lines a module of the runtime package may have
MAX_LINES = 400


def test_no_module_of_the_package_is_over_400_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in sorted((ROOT / "banner").rglob("*.py"))
    }
    assert len(sizes) > 50
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}


def test_only_the_payments_package_imports_stripe():
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "banner").rglob("*.py")
        if any(name.split(".")[0] == "stripe" for name in imported_modules(path))
    )
    assert importers and all(path.startswith("banner/payments/") for path in importers), importers
