"""Counts per pair for operators and the demo: how much came in, what was posted, what waits."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from ml_connector.state._base import StoreBase
from ml_connector.state.records import pair_records_query
from ml_connector.state.schema import customer_sync, journals, source_records


class SummaryStore(StoreBase):
    def pair_summary(self, pair: str, system: str, *, store: str) -> dict[str, int]:
        """The store's records by object and by the pair's status, journals by status, customers synced."""
        out: Counter[str] = Counter()
        with self.engine.connect() as conn:
            objects = conn.execute(
                select(source_records.c.object)
                .where(source_records.c.system == system, source_records.c.store == store)
                .distinct()
            ).scalars()
            for obj in sorted(objects):
                rows = pair_records_query(system, store, obj, pair).subquery()
                for status, n in conn.execute(select(rows.c.status, func.count()).group_by(rows.c.status)):
                    out[f"{obj}s"] += n
                    out[f"{obj}s_{status}"] += n
            for status, n in conn.execute(
                select(journals.c.status, func.count()).where(journals.c.pair == pair).group_by(journals.c.status)
            ):
                out[f"journals_{status}"] += n
            out["customers_synced"] = conn.execute(
                select(func.count()).select_from(customer_sync).where(customer_sync.c.pair == pair)
            ).scalar_one()
        return dict(out)
