"""Process-wide settings read from the environment (never secrets: those live in Airflow connections)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    """Where the official public contracts live (``ML_CONNECTOR_SPECS``, default ``../shared/specs``)."""
    return Path(os.environ.get("ML_CONNECTOR_SPECS", REPO_ROOT.parent / "shared" / "specs")).resolve()


def include_dir() -> Path:
    """Mappings and pipeline configs (``ML_CONNECTOR_INCLUDE``, default ``<repo>/include``)."""
    return Path(os.environ.get("ML_CONNECTOR_INCLUDE", REPO_ROOT / "include")).resolve()
