"""Where a secret must never appear: log lines, subprocess output, the audit trail, the reports.

Each secret is looked for as itself and in the encodings a careless client would write it in
(HTTP Basic's base64 of ``user:secret``, URL-encoding).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from ml_connector.state.schema import audit_exchanges
from sqlalchemy import Engine, select


def secret_forms(secret: str, users: Iterable[str]) -> set[str]:
    forms = {secret, quote(secret, safe="")}
    forms |= {base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users}
    return forms


def find_leaks(sources: dict[str, str], secrets: dict[str, str], users: Iterable[str]) -> list[str]:
    """``where: which secret`` for every source text containing one (secrets named by label only)."""
    users = list(users)
    found = []
    for label, secret in secrets.items():
        for form in secret_forms(secret, users):
            found += [f"{where}: {label}" for where, text in sources.items() if form in text]
    return sorted(set(found))


def audit_texts(engine: Engine) -> dict[str, str]:
    """Every audit row flattened to one text (all columns)."""
    with engine.connect() as conn:
        rows = conn.execute(select(audit_exchanges)).mappings().all()
    return {f"audit_exchanges#{row['id']}": " ".join(str(value) for value in row.values()) for row in rows}


def report_texts(folder: Path) -> dict[str, str]:
    return {f"report {path.name}": path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(folder.rglob("*")) if path.is_file()}
