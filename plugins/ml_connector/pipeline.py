"""DAG factory: extract -> transform -> load -> reconcile, plus customers and webhook health.

One call per pair in ``dags/`` builds two DAGs from ``include/pipelines/<pair>.yaml``:

* ``<pair>``: hourly (and on every verified webhook, through an asset event) it reads the
  store window and the webhook inbox, builds journals, posts them, sends customers,
  reconciles the days it touched, and keeps the store's webhooks alive;
* ``<pair>_reconcile``: daily, reconciles the last ``reconcile_days`` days and writes the
  controller's report.

Parsing is cheap on purpose: no network or database access here, heavy modules are imported
inside the tasks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    get_current_context,
    task,
)

from ml_connector.config import PipelineConfig, pipeline

PARAMS: dict[str, Param] = {
    "since": Param(
        None, type=["null", "string"], format="date-time",
        description="Backfill window start (ISO 8601 with offset). Empty = from the watermark.",
    ),
    "until": Param(
        None, type=["null", "string"], format="date-time",
        description="Backfill window end (ISO 8601 with offset). Empty = now minus the settle lag.",
    ),
    "dry_run": Param(
        False, type="boolean",
        description="Read the store and log what would be posted; write nothing (state, watermarks, inbox, store, ERP).",
    ),
    "granularity": Param(
        None, type=["null", "string"], enum=[None, "order", "daily"],
        description="Override the configured granularity for this run.",
    ),
    "order_ids": Param([], type="array", items={"type": "string"}, description="Replay: re-fetch and re-post these orders."),
    "refund_ids": Param([], type="array", items={"type": "string"}, description="Replay: re-fetch and re-post these refunds."),
    "journal_ids": Param([], type="array", items={"type": "string"}, description="Replay: re-post these journal keys."),
    "replay_failed": Param(False, type="boolean", description="Replay: re-post every journal in status failed."),
}


def _runtime(config: PipelineConfig) -> tuple[Any, Any]:
    from ml_connector.tasks.runtime import Params, Runtime

    ctx = get_current_context()
    ti = ctx["ti"]
    rt = Runtime.open(config, run_id=str(ctx.get("run_id", "manual")), try_number=int(getattr(ti, "try_number", 1) or 1))
    return rt, Params.from_context(ctx.get("params"))


def _default_args(config: PipelineConfig) -> dict[str, Any]:
    return {
        "owner": "ml-connector",
        "retries": config.retries,
        "retry_delay": config.retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": config.max_retry_delay,
    }


def build_pair_dag(config: PipelineConfig) -> DAG:
    webhook_events = Asset(name=f"{config.storefront.type}_{config.storefront.conn_id}_events", uri=config.webhook_asset_uri)
    schedule = AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(config.schedule, timezone="UTC"), assets=[webhook_events]
    )
    with DAG(
        dag_id=config.pair,
        description=f"{config.storefront.type} -> {config.erp.type}: post settled orders, refunds and customers",
        schedule=schedule,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(config),
        params=PARAMS,
        tags=["ml-connector", *config.tags],
        doc_md=__doc__,
    ) as dag:

        @task(pool=config.pools.storefront)
        def extract() -> dict[str, Any]:
            from ml_connector.tasks.extract import run_extract

            rt, params = _runtime(config)
            return run_extract(rt, params)

        @task
        def transform(_: dict[str, Any]) -> dict[str, Any]:
            from ml_connector.tasks.transform import run_transform

            rt, params = _runtime(config)
            return run_transform(rt, params)

        @task(pool=config.pools.erp)
        def load(_: dict[str, Any]) -> dict[str, Any]:
            from ml_connector.tasks.load import run_load

            rt, params = _runtime(config)
            ctx = get_current_context()
            return run_load(rt, params, worker=f"{config.pair}/{ctx.get('run_id')}/{rt.try_number}")

        @task(pool=config.pools.erp)
        def customers(_: dict[str, Any]) -> dict[str, Any]:
            from ml_connector.tasks.customers import run_customers

            rt, params = _runtime(config)
            return run_customers(rt, params)

        @task
        def reconcile(transformed: dict[str, Any], _: dict[str, Any]) -> dict[str, Any]:
            from ml_connector.tasks.reconcile import run_reconcile

            rt, params = _runtime(config)
            if params.dry_run:
                return {"dry_run": True}
            return run_reconcile(rt, days=transformed.get("days") or [])

        @task(pool=config.pools.storefront, retries=1)
        def ensure_webhooks() -> dict[str, Any]:
            from ml_connector.tasks.webhook_health import run_webhook_health

            rt, params = _runtime(config)
            return run_webhook_health(rt, dry_run=params.dry_run)

        extracted = extract()
        transformed = transform(extracted)
        loaded = load(transformed)
        customers(extracted)
        reconcile(transformed, loaded)
        ensure_webhooks()
    return dag


def build_reconcile_dag(config: PipelineConfig) -> DAG:
    with DAG(
        dag_id=f"{config.pair}_reconcile",
        description=f"Daily reconciliation of {config.pair}: store vs state vs ERP, with the controller's report",
        schedule=CronTriggerTimetable(config.reconcile_schedule, timezone="UTC"),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(config),
        params={
            "days": Param(config.reconcile_days, type="integer", minimum=1, maximum=366, description="Days back to reconcile."),
        },
        tags=["ml-connector", "reconcile", *config.tags],
    ) as dag:

        @task
        def reconcile_period() -> dict[str, Any]:
            from ml_connector.tasks.reconcile import run_reconcile
            from ml_connector.tasks.runtime import Runtime

            ctx = get_current_context()
            rt = Runtime.open(config, run_id=str(ctx.get("run_id", "manual")))
            today = dt.datetime.now(dt.UTC).date()
            days = int((ctx.get("params") or {}).get("days") or config.reconcile_days)
            return run_reconcile(rt, days=[(today - dt.timedelta(days=n)).isoformat() for n in range(days, -1, -1)])

        reconcile_period()
    return dag


def build_dags(pair: str) -> tuple[DAG, DAG]:
    """Both DAGs of ``pair`` (called from ``dags/<pair>.py``)."""
    config = pipeline(pair)
    return build_pair_dag(config), build_reconcile_dag(config)
