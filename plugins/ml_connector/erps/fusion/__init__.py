"""Oracle Fusion GL (GL_INTERFACE through erpintegrations importBulkData): described, not built yet.

Only the journal field schema is here, so the shipped ``bigcommerce_to_fusion`` mapping stays
checkable; there is no adapter or connection type until the folder grows them (DESIGN §1), and
the descriptor's capabilities say so: a pipeline to ``fusion`` is refused at load.
"""

from __future__ import annotations

from ml_connector.core.mapping import ErpSchema
from ml_connector.systems import SystemDescriptor

# GL_INTERFACE: SEGMENT1..SEGMENT30 are VARCHAR2(25); header columns per reference oracle_fusion.md.
JOURNAL_SCHEMA = ErpSchema(
    line_fields={f"SEGMENT{n}": 25 for n in range(1, 31)},
    line_required=("SEGMENT1", "SEGMENT2", "SEGMENT3"),
    header_fields={
        "LEDGER_NAME": 30, "USER_JE_SOURCE_NAME": 25, "USER_JE_CATEGORY_NAME": 25,
        "CURRENCY_CONVERSION_TYPE": 30,
    },
    header_required=("LEDGER_NAME", "USER_JE_SOURCE_NAME", "USER_JE_CATEGORY_NAME"),
)  # fmt: skip

SYSTEM = SystemDescriptor(name="fusion", kind="erp", erp_schema=JOURNAL_SCHEMA)
