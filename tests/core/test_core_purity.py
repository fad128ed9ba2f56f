"""core/ stays pure (DESIGN §2): no module under it, nor anything it imports from the package, does I/O.

The check reads the source (it imports nothing): every ``import`` anywhere in a module, every call
of a builtin that reaches outside the process, and the file-reading methods. Parsing YAML from
bytes the caller already holds is fine; reading the file is ``ml_connector.mappings``'s job.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ml_connector
import pytest

PACKAGE = Path(ml_connector.__file__).resolve().parent
CORE_MODULES = sorted((PACKAGE / "core").rglob("*.py"))
# What core may import from the rest of the package (each is checked like a core module).
ALLOWED_OUTSIDE_CORE = {"ml_connector.errors": PACKAGE / "errors.py"}

FORBIDDEN_MODULES = {
    "os": "environment and files", "io": "streams", "pathlib": "files", "shutil": "files",
    "tempfile": "files", "glob": "files", "sys": "streams and the interpreter's state",
    "logging": "log handlers", "socket": "network", "ssl": "network", "http": "network",
    "urllib": "network", "subprocess": "processes", "multiprocessing": "processes",
    "importlib": "finding and reading installed files", "pkgutil": "installed files",
    "sqlite3": "a database", "requests": "network", "httpx": "network", "zeep": "network",
    "sqlalchemy": "a database", "alembic": "a database", "airflow": "Airflow's database and connections",
    "fastapi": "a web server", "pandas": "files", "smtplib": "network",
}  # fmt: skip
FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"}
FORBIDDEN_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "urlopen"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against this module's package
        package = module.split(".")[: -node.level]
        base = ".".join(package + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [base] if node.module else [f"{base}.{alias.name}" for alias in node.names]


def io_problems(source: str, module: str) -> list[str]:
    """Every line of ``source`` that imports or calls something that does I/O."""
    problems: list[str] = []
    for node in ast.walk(ast.parse(source)):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported(node, module):
                top = name.split(".")[0]
                if top in FORBIDDEN_MODULES:
                    problems.append(f"{where}: imports {name} ({FORBIDDEN_MODULES[top]})")
                elif top == "ml_connector" and not (
                    name.startswith("ml_connector.core") or name in ALLOWED_OUTSIDE_CORE
                ):
                    problems.append(f"{where}: imports {name} (outside core; may do I/O)")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                problems.append(f"{where}: calls {func.id}()")
            elif isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_METHODS:
                problems.append(f"{where}: calls .{func.attr}()")
    return problems


CHECKED = [*CORE_MODULES, *ALLOWED_OUTSIDE_CORE.values()]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: _module_name(p))
def test_module_does_no_io(path: Path) -> None:
    assert io_problems(path.read_text(encoding="utf-8"), _module_name(path)) == []


def test_the_check_sees_every_kind_of_io() -> None:
    source = (
        "import os\nfrom pathlib import Path\nfrom ml_connector.settings import include_dir\n"
        "from ..mappings import load_mapping\nfrom . import money\nimport yaml\n"
        "def f(p):\n    import requests\n    print(open(p).read(), Path(p).read_bytes())\n    return yaml.safe_load(b'a: 1')\n"
    )
    found = io_problems(source, "ml_connector.core.example")
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted(
        [
            "imports os (environment and files)",
            "imports pathlib (files)",
            "imports ml_connector.settings (outside core; may do I/O)",
            "imports ml_connector.mappings (outside core; may do I/O)",
            "imports requests (network)",
            "calls print()",
            "calls open()",
            "calls .read_bytes()",
        ]
    )


def test_core_modules_are_found() -> None:
    assert {p.stem for p in CORE_MODULES} >= {"mapping", "journal", "model", "money", "reconcile"}
