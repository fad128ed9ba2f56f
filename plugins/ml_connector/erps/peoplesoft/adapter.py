"""PeopleSoft as the pipeline sees it: post, upsert and read back canonical documents.

Glue only: transport is the hook's, buffers are ``payload``'s, the exactly-once protocol is
``poster``'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml_connector.audit import AuditSink
from ml_connector.core.mapping import Mapping
from ml_connector.core.model import Customer, Journal
from ml_connector.core.reconcile import ErpLine
from ml_connector.erps.base import CustomerOutcome, PostOutcome
from ml_connector.erps.peoplesoft import poster
from ml_connector.erps.peoplesoft.connection import DEFAULTS
from ml_connector.erps.peoplesoft.hook import PeopleSoftHook
from ml_connector.erps.peoplesoft.keys import journal_id_for
from ml_connector.erps.peoplesoft.payload import journal_to_ci


class PeopleSoftAdapter:
    system = "peoplesoft"

    def hook(self, conn_id: str, audit: AuditSink | None = None) -> PeopleSoftHook:
        return PeopleSoftHook(conn_id, audit=audit)

    @staticmethod
    def _prefix(hook: PeopleSoftHook | None) -> str:
        return hook.config.journal_id_prefix if hook is not None else DEFAULTS["journal_id_prefix"]

    def document_id(self, hook: PeopleSoftHook | None, journal: Journal) -> str:
        return journal_id_for(journal, self._prefix(hook))

    def validate(self, hook: PeopleSoftHook | None, journal: Journal) -> None:
        """What a dry run checks: the CI buffer builds (lengths, required fields, decimals)."""
        journal_to_ci(journal, journal_id=self.document_id(hook, journal))

    def post_journal(
        self, hook: PeopleSoftHook, journal: Journal, *, lookup_first: bool, document_id: str | None = None
    ) -> PostOutcome:
        result = poster.post_journal(
            hook, journal, prefix=self._prefix(hook), lookup_first=lookup_first, journal_id=document_id
        )
        return PostOutcome(result.status, result.journal_id, result.detail)

    def upsert_customer(self, hook: PeopleSoftHook, customer: Customer | None) -> CustomerOutcome:
        cfg = hook.config
        result = poster.upsert_customer(hook, customer, setid=cfg.setid, generic_customer_id=cfg.generic_customer_id)
        return CustomerOutcome(result.status, result.cust_id, tuple(result.changed_fields))

    def read_back(self, hook: PeopleSoftHook, mapping: Mapping, date_from: dt.date, date_to: dt.date) -> list[ErpLine]:
        header: dict[str, Any] = dict(mapping.header)
        lines = poster.read_back(
            hook,
            business_unit=header["BUSINESS_UNIT"],
            source=header.get("SOURCE", ""),
            date_from=date_from,
            date_to=date_to,
            query=hook.config.readback_query,
        )
        return [
            ErpLine(
                document_id=ln.journal_id,
                posting_date=ln.journal_date,
                dims=ln.dims,
                amount=ln.foreign_amount if ln.foreign_amount is not None else ln.monetary_amount,
                currency=ln.foreign_currency or ln.currency,
                reference=ln.jrnl_ln_ref,
                base_amount=ln.monetary_amount,
                base_currency=ln.currency,
            )
            for ln in lines
        ]


ADAPTER = PeopleSoftAdapter()
