"""Counts per pair for operators and the demo: how much came in, what was posted, what waits."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from ml_connector.state._base import StoreBase
from ml_connector.state.schema import customer_sync, journals, source_records


class SummaryStore(StoreBase):
    def pair_summary(self, pair: str, system: str) -> dict[str, int]:
        """Records by object and status, journals by status, customers synced."""
        out: Counter[str] = Counter()
        with self.engine.connect() as conn:
            for obj, status, n in conn.execute(
                select(source_records.c.object, source_records.c.status, func.count())
                .where(source_records.c.system == system)
                .group_by(source_records.c.object, source_records.c.status)
            ):
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
