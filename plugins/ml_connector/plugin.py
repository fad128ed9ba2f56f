"""Airflow plugin (entry point ``airflow.plugins``): mounts the webhook receiver on the api-server."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


def _fastapi_apps() -> list[dict[str, object]]:
    try:
        from ml_connector.webhooks.app import create_app
    except ModuleNotFoundError:  # receiver not installed in this build
        return []
    return [{"app": create_app(), "url_prefix": "/ml-connector", "name": "ml-connector webhooks"}]


class MlConnectorPlugin(AirflowPlugin):
    name = "ml_connector"
    fastapi_apps = _fastapi_apps()
