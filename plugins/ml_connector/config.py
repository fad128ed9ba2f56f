"""Pipeline configuration (``include/pipelines/<pair>.yaml``) as validated objects.

A pair is configuration plus a few lines in ``dags/``: which storefront and ERP connections,
which mapping, schedules, windows, granularity and concurrency. Loading validates
everything up front and an error names the file, the key path and what was expected, so a
typo fails at parse time in the DAG processor with a readable import error instead of at
3 a.m. inside a task.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml_connector.errors import ConfigError
from ml_connector.mappings import display_path, load_mapping
from ml_connector.settings import include_dir
from ml_connector.systems import Capability, SystemKind, WebhookDefaults, system, systems

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: object) -> dt.timedelta:
    """``'15m'``, ``'2h'``, ``'30d'``, ``'45s'`` or a number of seconds."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"a duration like '15m', '2h', '30d' or seconds, got {value!r}")
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Strict):
    type: str
    conn_id: str


class Pools(_Strict):
    storefront: str
    erp: str


class Webhooks(_Strict):
    enabled: bool = True
    # Unset = the storefront's defaults (its descriptor's ``webhooks``): scopes differ per platform.
    scopes: tuple[str, ...] | None = None
    # Public URL of the receiver; empty = do not register (ensure_webhooks only reports).
    destination: str = ""
    header_name: str | None = None


class PipelineConfig(_Strict):
    pair: str = Field(pattern=r"^[a-z0-9_]+$")
    storefront: Endpoint
    erp: Endpoint
    mapping: str
    state_conn_id: str = "ml_connector_state"
    schedule: str = "0 * * * *"
    reconcile_schedule: str = "30 6 * * *"
    reconcile_days: int = Field(default=7, ge=1, le=62)
    settle_lag: dt.timedelta = dt.timedelta(minutes=10)
    overlap: dt.timedelta = dt.timedelta(minutes=15)
    initial_lookback: dt.timedelta = dt.timedelta(days=30)
    granularity: Literal["order", "daily"] = "order"
    # An order changed after posting is adjusted on the day of the change (its period stays
    # closed) or, with "original", back on the day of its sale.
    adjustment_date: Literal["change", "original"] = "change"
    # Daily granularity: "wait" summarises a day once it has ended in the store's time zone, so
    # each day posts one journal (late details post a numbered delta); "include" posts today's too.
    daily_open_day: Literal["wait", "include"] = "wait"
    concurrency: int = Field(default=4, ge=1, le=32)
    load_batch: int = Field(default=200, ge=1, le=5000)
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_retry_delay: dt.timedelta = dt.timedelta(minutes=10)
    pools: Pools
    report_path: str = ""  # ObjectStoragePath URL; empty = file://$AIRFLOW_HOME/ml_connector_reports
    webhooks: Webhooks = Webhooks()
    tags: tuple[str, ...] = ()

    @field_validator("settle_lag", "overlap", "initial_lookback", "retry_delay", "max_retry_delay", mode="before")
    @classmethod
    def _duration(cls, value: object) -> dt.timedelta:
        return parse_duration(value)

    @property
    def mapping_path(self) -> Path:
        path = Path(self.mapping)
        return path if path.is_absolute() else include_dir() / "mappings" / path

    @property
    def webhook_registration(self) -> WebhookDefaults:
        """Scopes and secret header name to register: this file's, else the storefront's defaults."""
        own = self.webhooks
        defaults = system(self.storefront.type, "storefront").webhooks or WebhookDefaults(scopes=(), header_name="")
        scopes = own.scopes if own.scopes is not None else defaults.scopes
        header_name = own.header_name or defaults.header_name
        if not scopes or not header_name:
            where = f"include/pipelines/{self.pair}.yaml"
            raise ConfigError(where, "webhooks", f"scopes and header_name ({self.storefront.type} has no defaults)")
        return WebhookDefaults(scopes=tuple(scopes), header_name=header_name)

    @property
    def webhook_asset_uri(self) -> str:
        """The asset a verified webhook for this pair's storefront connection updates."""
        return webhook_asset_uri(self.storefront.type, self.storefront.conn_id)


def webhook_asset_uri(storefront: str, conn_id: str) -> str:
    """The asset a verified webhook for ``storefront`` connection ``conn_id`` updates (one place)."""
    return f"ml-connector://{storefront}/{conn_id}/events"


def _key_path(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_pipeline(path: Path) -> PipelineConfig:
    """Read and validate one pipeline file; every problem is reported with its key path."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "an existing pipeline file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), where, f"valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "(top level)", "a mapping of settings", type(raw).__name__)
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{path}: {_key_path(e['loc'])}: expected {e['msg']}" for e in exc.errors()]
        first = exc.errors()[0]
        error = ConfigError(str(path), _key_path(first["loc"]), first["msg"], first.get("input"))
        error.args = ("\n".join(problems),)
        raise error from None
    _check_system(path, "storefront", config.storefront.type)
    _check_system(path, "erp", config.erp.type)
    _check_mapping_fits(path, config)
    return config


def _check_system(path: Path, kind: SystemKind, name: str) -> None:
    """The endpoint names an installed system of ``kind`` that the journal flow can drive."""
    known = [s.name for s in systems(kind)]
    label = "ERP" if kind == "erp" else kind
    if name not in known:
        raise ConfigError(str(path), f"{kind}.type", f"one of the installed {label}s: {', '.join(known)}", name)
    if not system(name, kind).can(Capability.JOURNALS):
        what = f"{'an' if kind == 'erp' else 'a'} {label} with an adapter ({name} is described but not built yet)"
        raise ConfigError(str(path), f"{kind}.type", what, name)


def _check_mapping_fits(path: Path, config: PipelineConfig) -> None:
    """The mapping was written for this pipeline: its ``erp:`` is our ``erp.type``, its ``pair:`` our ``pair``.

    A mapping validated against the wrong ERP's fields would post nonsense ChartFields, and one
    copied from another pair would post that pair's accounts.
    """
    mapping = load_mapping(config.mapping_path)
    pipeline_file = display_path(path)
    problems = [
        f"{pipeline_file}: {key} is {ours!r} but its mapping {mapping.source} has {theirs_key}: {theirs!r}"
        for key, ours, theirs_key, theirs in (
            ("erp.type", config.erp.type, "erp", mapping.erp),
            ("pair", config.pair, "pair", mapping.pair),
        )
        if ours != theirs
    ]
    if problems:
        expected = f"a mapping written for {config.pair} on {config.erp.type}"
        error = ConfigError(pipeline_file, "mapping", expected, mapping.source)
        error.args = ("\n".join(problems),)
        raise error


def pipeline(pair: str) -> PipelineConfig:
    """The validated config of ``pair`` from ``include/pipelines/<pair>.yaml`` (cached per process)."""
    return _cached_pipeline(include_dir() / "pipelines" / f"{pair}.yaml")


@functools.cache
def _cached_pipeline(path: Path) -> PipelineConfig:
    return load_pipeline(path)


def all_pipelines() -> list[PipelineConfig]:
    return [load_pipeline(p) for p in sorted((include_dir() / "pipelines").glob("*.yaml"))]
