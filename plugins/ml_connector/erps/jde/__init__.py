"""JD Edwards EnterpriseOne (AIS orchestrations): described, not built yet.

Only the journal field schema is here, so the shipped ``bigcommerce_to_jde`` mapping stays
checkable; there is no adapter or connection type until the folder grows them (DESIGN §1), and
the descriptor's capabilities say so: a pipeline to ``jde`` is refused at load.
"""

from __future__ import annotations

from ml_connector.core.mapping import ErpSchema
from ml_connector.systems import SystemDescriptor

# Account = BUSINESS_UNIT.OBJECT.SUBSIDIARY (F0911 MCU 12, OBJ 6, SUB 8); KCO 5, DCT 2, LT 2.
JOURNAL_SCHEMA = ErpSchema(
    line_fields={"BUSINESS_UNIT": 12, "OBJECT": 6, "SUBSIDIARY": 8},
    line_required=("BUSINESS_UNIT", "OBJECT"),
    header_fields={"COMPANY": 5, "DOCUMENT_TYPE": 2, "LEDGER_TYPE": 2},
    header_required=("COMPANY", "DOCUMENT_TYPE"),
)

SYSTEM = SystemDescriptor(name="jde", kind="erp", erp_schema=JOURNAL_SCHEMA)
