"""Where a verified delivery is kept until the pair's DAG run drains it: the state store inbox.

Every state database used by a pipeline reading the storefront connection gets the event once;
the pairs sharing a database each drain it on their own (``webhook_consumed``). Deduplication by
delivery id is the store's unique key, so a platform retry or a replay is stored once however
it arrives.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ml_connector.storefronts.base import WebhookEvent

if TYPE_CHECKING:
    from ml_connector.state.store import StateStore

DEFAULT_STATE_CONN_ID = "ml_connector_state"


def state_conn_ids(storefront: str, conn_id: str) -> list[str]:
    """The state connections of every pipeline reading ``storefront``/``conn_id`` (default store if none)."""
    from ml_connector.config import all_pipelines

    wanted = (storefront, conn_id)
    found = [p.state_conn_id for p in all_pipelines() if (p.storefront.type, p.storefront.conn_id) == wanted]
    return list(dict.fromkeys(found)) or [DEFAULT_STATE_CONN_ID]


def _open_store(state_conn_id: str) -> StateStore:
    from ml_connector.state.db import state_url
    from ml_connector.state.store import open_store

    return open_store(state_url(state_conn_id))


class Inbox:
    """Writes verified events to the state stores of the pipelines reading that connection.

    Which stores a connection feeds is resolved (pipeline files read, schema migrated) on its
    first delivery and then kept for the life of the process.
    """

    def __init__(self) -> None:
        self._stores: dict[tuple[str, str], list[StateStore]] = {}
        self._lock = threading.Lock()

    def stores_for(self, storefront: str, conn_id: str) -> list[StateStore]:
        key = (storefront, conn_id)
        with self._lock:
            if key not in self._stores:
                by_url = {}
                for state_conn in state_conn_ids(storefront, conn_id):
                    store = _open_store(state_conn)
                    by_url.setdefault(str(store.engine.url), store)
                self._stores[key] = list(by_url.values())
            return self._stores[key]

    def add(self, storefront: str, conn_id: str, event: WebhookEvent) -> bool:
        """Queue ``event``; False when every store already had this delivery id (a replay)."""
        added = [
            store.add_webhook_event(
                storefront, conn_id, event.delivery_id, event.topic, event.object_type, event.object_id, event.payload
            )
            for store in self.stores_for(storefront, conn_id)
        ]
        return any(added)
