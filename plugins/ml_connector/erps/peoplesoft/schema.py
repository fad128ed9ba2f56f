"""PeopleSoft's field lengths, in one place: the mapping check and the CI buffers both read them.

Lengths follow the shared contract (JOURNAL_ENTRY_CI / CUSTOMER_CI; reference A3.2, A4). A
mapping sets the ChartFields of each line and a few header values (``MAPPING_HEADER``); LEDGER
and RT_TYPE are header values in a mapping but land on every journal line in the CI.
"""

from __future__ import annotations

from ml_connector.core.mapping import ErpSchema

HEADER_FIELDS: dict[str, int] = {
    "BUSINESS_UNIT": 5,
    "JOURNAL_ID": 10,
    "LEDGER_GROUP": 10,
    "SOURCE": 3,
    "DESCR": 30,
    "REVERSAL_CD": 1,
}
CHARTFIELDS: dict[str, int] = {
    "ACCOUNT": 10,
    "DEPTID": 10,
    "OPERATING_UNIT": 8,
    "PRODUCT": 6,
    "FUND_CODE": 5,
    "CLASS_FLD": 5,
    "PROGRAM_CODE": 5,
    "PROJECT_ID": 15,
    "CHARTFIELD1": 10,
    "CHARTFIELD2": 10,
    "CHARTFIELD3": 10,
}
LINE_FIELDS: dict[str, int] = {
    "LEDGER": 10,
    **CHARTFIELDS,
    "CURRENCY_CD": 3,
    "FOREIGN_CURRENCY": 3,
    "RT_TYPE": 5,
    "LINE_DESCR": 30,
    "JRNL_LN_REF": 10,
}
CUSTOMER_FIELDS: dict[str, int] = {
    "SETID": 5,
    "CUST_ID": 15,
    "NAME1": 40,
    "CUST_STATUS": 1,
    "EMAILID": 70,
    "PHONE": 24,
}
ADDRESS_FIELDS: dict[str, int] = {
    "ADDRESS1": 55,
    "ADDRESS2": 55,
    "CITY": 30,
    "STATE": 6,
    "POSTAL": 12,
    "COUNTRY": 3,
}

# Header values a mapping may set (its ``header:``), and where each lands in the CI.
MAPPING_HEADER: dict[str, int] = {
    "BUSINESS_UNIT": HEADER_FIELDS["BUSINESS_UNIT"],
    "LEDGER_GROUP": HEADER_FIELDS["LEDGER_GROUP"],
    "LEDGER": LINE_FIELDS["LEDGER"],
    "SOURCE": HEADER_FIELDS["SOURCE"],
    "RT_TYPE": LINE_FIELDS["RT_TYPE"],
}

JOURNAL_SCHEMA = ErpSchema(
    line_fields=CHARTFIELDS,
    line_required=("ACCOUNT",),
    header_fields=MAPPING_HEADER,
    header_required=("BUSINESS_UNIT", "LEDGER"),
)
