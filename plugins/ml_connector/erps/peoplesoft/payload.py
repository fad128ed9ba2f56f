"""Canonical journal / customer <-> PeopleSoft CI buffers (pure: no I/O).

Buffers are plain dicts keyed by CI field names, the shape zeep takes as keyword arguments and
the shape ``hook.plain()`` returns for a Get response, so the same normalisation compares what we
would send with what PeopleSoft holds.

Lengths come from ``schema`` (the same the mapping check uses) and are checked here, before
anything is sent: PeopleSoft would reject an over-long value with a (2,1) fault after a round
trip, and truncating a key, account or ChartField would post to the wrong place. Only free-text descriptions (DESCR, LINE_DESCR, NAME1) are shortened.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from ml_connector.core.model import Address, Customer, Journal, JournalLine
from ml_connector.erps.peoplesoft.regions import state_code
from ml_connector.erps.peoplesoft.schema import (
    ADDRESS_FIELDS,
    CHARTFIELDS,
    CUSTOMER_FIELDS,
    HEADER_FIELDS,
    JOURNAL_SCHEMA,
    LINE_FIELDS,
)
from ml_connector.errors import NeedsMapping

AMOUNT_DIGITS = (26, 3)  # MONETARY_AMOUNT / FOREIGN_AMOUNT: decimal(26,3)
RATE_DIGITS = (16, 8)  # RATE_MULT: decimal(16,8)
REFERENCE_LENGTH = LINE_FIELDS["JRNL_LN_REF"]


class FieldRejected(NeedsMapping):
    """A value does not fit the PeopleSoft field: the mapping (or the source data) must change."""

    def __init__(self, where: str, field_name: str, value: object, problem: str) -> None:
        self.where, self.field_name, self.value = where, field_name, value
        super().__init__(f"{where}: {field_name}={value!r} {problem}")


# -- small value helpers -------------------------------------------------------------------------


def shorten(text: str | None, limit: int) -> str:
    """Free text cut to ``limit`` characters on a clean boundary (no control characters, no trailing space)."""
    cleaned = " ".join((text or "").split())
    return cleaned[:limit].rstrip()


def line_reference(source_reference: str) -> str:
    """The JRNL_LN_REF for a source reference: the reference itself, or its last 10 characters.

    Order ids longer than 10 characters (Shopify's 13-digit ids) keep their most specific tail;
    reconciliation matches on this same function, and the full id stays in ``state``.
    """
    ref = source_reference.strip()
    return ref[-REFERENCE_LENGTH:]


def _fit(where: str, field_name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise FieldRejected(where, field_name, value, f"is {len(value)} characters; PeopleSoft allows {limit}")
    return value


def to_decimal(value: Any, where: str, field_name: str) -> Decimal:
    """Decimal from a str/int/Decimal (never via float)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise FieldRejected(where, field_name, value, "is not a decimal number") from exc


def _xsd_decimal(value: Decimal, where: str, field_name: str, digits: tuple[int, int], *, round_: bool = False) -> Decimal:
    """Check (or, for rates, round) a value against ``decimal(total, fraction)``; no exponent form."""
    total, fraction = digits
    quantum = Decimal(1).scaleb(-fraction)
    if round_:
        value = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
    elif value != value.quantize(quantum, rounding=ROUND_HALF_EVEN):
        raise FieldRejected(where, field_name, value, f"has more than {fraction} decimal places")
    if value.as_tuple().exponent > 0:  # type: ignore[operator]
        value = value.quantize(Decimal(1))
    if abs(value) >= Decimal(10) ** (total - fraction):
        raise FieldRejected(where, field_name, value, f"exceeds decimal({total},{fraction})")
    return value


def _put(buffer: dict[str, Any], where: str, field_name: str, value: str | None, limit: int) -> None:
    """Set a string field when it is not blank (blank = absent in PeopleSoft)."""
    text = (value or "").strip()
    if text:
        buffer[field_name] = _fit(where, field_name, text, limit)


# -- journals --------------------------------------------------------------------------------------


def _journal_line(journal: Journal, header: dict[str, str], number: int, line: JournalLine, where: str) -> dict[str, Any]:
    dims = line.dim_map
    unknown = sorted(set(dims) - set(CHARTFIELDS))
    if unknown:
        raise FieldRejected(where, unknown[0], dims[unknown[0]], f"is not a {'/'.join(CHARTFIELDS)} ChartField")
    for required in JOURNAL_SCHEMA.line_required:
        if not (dims.get(required) or "").strip():
            raise FieldRejected(where, required, dims.get(required), f"is required (line role {line.role!r})")
    out: dict[str, Any] = {"JOURNAL_LINE": number}
    _put(out, where, "LEDGER", header.get("LEDGER"), LINE_FIELDS["LEDGER"])
    for name in CHARTFIELDS:
        _put(out, where, name, dims.get(name), CHARTFIELDS[name])
    _put(out, where, "CURRENCY_CD", journal.base_currency, LINE_FIELDS["CURRENCY_CD"])
    out["MONETARY_AMOUNT"] = _xsd_decimal(line.base_amount, where, "MONETARY_AMOUNT", AMOUNT_DIGITS)
    _put(out, where, "FOREIGN_CURRENCY", line.currency or journal.currency, LINE_FIELDS["FOREIGN_CURRENCY"])
    out["FOREIGN_AMOUNT"] = _xsd_decimal(line.amount, where, "FOREIGN_AMOUNT", AMOUNT_DIGITS)
    _put(out, where, "RT_TYPE", header.get("RT_TYPE"), LINE_FIELDS["RT_TYPE"])
    out["RATE_MULT"] = _xsd_decimal(journal.fx_rate, where, "RATE_MULT", RATE_DIGITS, round_=True)
    _put(out, where, "LINE_DESCR", shorten(line.description, LINE_FIELDS["LINE_DESCR"]), LINE_FIELDS["LINE_DESCR"])
    _put(out, where, "JRNL_LN_REF", line_reference(line.reference), REFERENCE_LENGTH)
    return out


def journal_to_ci(journal: Journal, *, journal_id: str) -> dict[str, Any]:
    """The JOURNAL_ENTRY_CI Create buffer for ``journal`` (raises ``FieldRejected`` before any call)."""
    where = f"journal {journal.key or journal_id}"
    header = {k: (v or "").strip() for k, v in journal.header}
    header_dims = JOURNAL_SCHEMA.header_fields
    unknown = sorted(set(header) - set(header_dims))
    if unknown:
        raise FieldRejected(where, unknown[0], header[unknown[0]], f"is not a header field ({', '.join(sorted(header_dims))})")
    for required in JOURNAL_SCHEMA.header_required:
        if not header.get(required):
            raise FieldRejected(where, required, header.get(required), "is required in the mapping's header")
    if not journal.lines:
        raise FieldRejected(where, "JRNL_LN", (), "a journal needs at least one line")
    buffer: dict[str, Any] = {}
    _put(buffer, where, "BUSINESS_UNIT", header["BUSINESS_UNIT"], HEADER_FIELDS["BUSINESS_UNIT"])
    _put(buffer, where, "JOURNAL_ID", journal_id, HEADER_FIELDS["JOURNAL_ID"])
    buffer["JOURNAL_DATE"] = journal.posting_date
    _put(buffer, where, "LEDGER_GROUP", header.get("LEDGER_GROUP"), HEADER_FIELDS["LEDGER_GROUP"])
    _put(buffer, where, "SOURCE", header.get("SOURCE"), HEADER_FIELDS["SOURCE"])
    _put(buffer, where, "DESCR", shorten(journal.description, HEADER_FIELDS["DESCR"]), HEADER_FIELDS["DESCR"])
    buffer["JRNL_LN"] = [
        _journal_line(journal, header, n, line, f"{where} line {n}") for n, line in enumerate(journal.lines, start=1)
    ]
    return buffer


LineSignature = tuple[tuple[str, str], ...]


def journal_line_signatures(buffer: dict[str, Any]) -> Counter[LineSignature]:
    """What makes two journals the same posting: per line the ledger, ChartFields, currencies and
    amounts (as numbers), independent of line numbers, descriptions and order."""
    result: Counter[LineSignature] = Counter()
    for line in buffer.get("JRNL_LN") or []:
        parts: list[tuple[str, str]] = []
        for name in ("LEDGER", *CHARTFIELDS, "CURRENCY_CD", "FOREIGN_CURRENCY"):
            value = str(line.get(name) or "").strip()
            if value:
                parts.append((name, value))
        for name in ("MONETARY_AMOUNT", "FOREIGN_AMOUNT"):
            if line.get(name) not in (None, ""):
                parts.append((name, format(to_decimal(line[name], "journal", name).normalize(), "f")))
        result[tuple(parts)] += 1
    return result


def journal_differences(wanted: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Human-readable differences between our buffer and PeopleSoft's (empty = same journal)."""
    diffs: list[str] = []
    for key in ("BUSINESS_UNIT", "JOURNAL_ID"):
        if str(wanted.get(key) or "") != str(stored.get(key) or ""):
            diffs.append(f"{key}: ours {wanted.get(key)!r}, PeopleSoft {stored.get(key)!r}")
    ours, theirs = journal_line_signatures(wanted), journal_line_signatures(stored)
    diffs += [f"line only in ours: {dict(sig)}" for sig in sorted((ours - theirs).elements())]
    diffs += [f"line only in PeopleSoft: {dict(sig)}" for sig in sorted((theirs - ours).elements())]
    return diffs


# -- customers -------------------------------------------------------------------------------------

# ISO 3166-1 alpha-2 -> alpha-3: PeopleSoft COUNTRY is the 3-letter code.
_ALPHA3 = dict(
    pair.split(":")
    for pair in (
        "AD:AND AE:ARE AF:AFG AG:ATG AI:AIA AL:ALB AM:ARM AO:AGO AQ:ATA AR:ARG AS:ASM AT:AUT AU:AUS AW:ABW "
        "AX:ALA AZ:AZE BA:BIH BB:BRB BD:BGD BE:BEL BF:BFA BG:BGR BH:BHR BI:BDI BJ:BEN BL:BLM BM:BMU BN:BRN "
        "BO:BOL BQ:BES BR:BRA BS:BHS BT:BTN BV:BVT BW:BWA BY:BLR BZ:BLZ CA:CAN CC:CCK CD:COD CF:CAF CG:COG "
        "CH:CHE CI:CIV CK:COK CL:CHL CM:CMR CN:CHN CO:COL CR:CRI CU:CUB CV:CPV CW:CUW CX:CXR CY:CYP CZ:CZE "
        "DE:DEU DJ:DJI DK:DNK DM:DMA DO:DOM DZ:DZA EC:ECU EE:EST EG:EGY EH:ESH ER:ERI ES:ESP ET:ETH FI:FIN "
        "FJ:FJI FK:FLK FM:FSM FO:FRO FR:FRA GA:GAB GB:GBR GD:GRD GE:GEO GF:GUF GG:GGY GH:GHA GI:GIB GL:GRL "
        "GM:GMB GN:GIN GP:GLP GQ:GNQ GR:GRC GS:SGS GT:GTM GU:GUM GW:GNB GY:GUY HK:HKG HM:HMD HN:HND HR:HRV "
        "HT:HTI HU:HUN ID:IDN IE:IRL IL:ISR IM:IMN IN:IND IO:IOT IQ:IRQ IR:IRN IS:ISL IT:ITA JE:JEY JM:JAM "
        "JO:JOR JP:JPN KE:KEN KG:KGZ KH:KHM KI:KIR KM:COM KN:KNA KP:PRK KR:KOR KW:KWT KY:CYM KZ:KAZ LA:LAO "
        "LB:LBN LC:LCA LI:LIE LK:LKA LR:LBR LS:LSO LT:LTU LU:LUX LV:LVA LY:LBY MA:MAR MC:MCO MD:MDA ME:MNE "
        "MF:MAF MG:MDG MH:MHL MK:MKD ML:MLI MM:MMR MN:MNG MO:MAC MP:MNP MQ:MTQ MR:MRT MS:MSR MT:MLT MU:MUS "
        "MV:MDV MW:MWI MX:MEX MY:MYS MZ:MOZ NA:NAM NC:NCL NE:NER NF:NFK NG:NGA NI:NIC NL:NLD NO:NOR NP:NPL "
        "NR:NRU NU:NIU NZ:NZL OM:OMN PA:PAN PE:PER PF:PYF PG:PNG PH:PHL PK:PAK PL:POL PM:SPM PN:PCN PR:PRI "
        "PS:PSE PT:PRT PW:PLW PY:PRY QA:QAT RE:REU RO:ROU RS:SRB RU:RUS RW:RWA SA:SAU SB:SLB SC:SYC SD:SDN "
        "SE:SWE SG:SGP SH:SHN SI:SVN SJ:SJM SK:SVK SL:SLE SM:SMR SN:SEN SO:SOM SR:SUR SS:SSD ST:STP SV:SLV "
        "SX:SXM SY:SYR SZ:SWZ TC:TCA TD:TCD TF:ATF TG:TGO TH:THA TJ:TJK TK:TKL TL:TLS TM:TKM TN:TUN TO:TON "
        "TR:TUR TT:TTO TV:TUV TW:TWN TZ:TZA UA:UKR UG:UGA UM:UMI US:USA UY:URY UZ:UZB VA:VAT VC:VCT VE:VEN "
        "VG:VGB VI:VIR VN:VNM VU:VUT WF:WLF WS:WSM YE:YEM YT:MYT ZA:ZAF ZM:ZMB ZW:ZWE"
    ).split()
)


def country_code(country: str, where: str) -> str:
    """PeopleSoft's 3-letter COUNTRY for an ISO alpha-2 (or already alpha-3) code."""
    code = country.strip().upper()
    if not code or len(code) == 3:
        return code
    if code in _ALPHA3:
        return _ALPHA3[code]
    raise FieldRejected(where, "COUNTRY", country, "is not an ISO 3166-1 country code")


def _address(address: Address, seq: int, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"ADDRESS_SEQ_NUM": seq}
    _put(out, where, "ADDRESS1", address.line1, ADDRESS_FIELDS["ADDRESS1"])
    _put(out, where, "ADDRESS2", address.line2, ADDRESS_FIELDS["ADDRESS2"])
    _put(out, where, "CITY", address.city, ADDRESS_FIELDS["CITY"])
    _put(out, where, "STATE", state_code(address.state, address.country), ADDRESS_FIELDS["STATE"])
    _put(out, where, "POSTAL", address.postal_code, ADDRESS_FIELDS["POSTAL"])
    _put(out, where, "COUNTRY", country_code(address.country, where), ADDRESS_FIELDS["COUNTRY"])
    return out


def customer_to_ci(customer: Customer, *, setid: str, cust_id: str) -> dict[str, Any]:
    """The CUSTOMER_CI buffer for ``customer`` (addresses numbered 1..n in their canonical order)."""
    where = f"customer {customer.source}/{customer.customer_id}"
    name = shorten(customer.display_name, CUSTOMER_FIELDS["NAME1"])
    if not name:
        raise FieldRejected(where, "NAME1", customer.display_name, "is required: the customer has no name, company or email")
    buffer: dict[str, Any] = {}
    _put(buffer, where, "SETID", setid, CUSTOMER_FIELDS["SETID"])
    _put(buffer, where, "CUST_ID", cust_id, CUSTOMER_FIELDS["CUST_ID"])
    buffer["NAME1"] = name
    buffer["CUST_STATUS"] = "A" if customer.active else "I"
    _put(buffer, where, "EMAILID", customer.email, CUSTOMER_FIELDS["EMAILID"])
    _put(buffer, where, "PHONE", customer.phone, CUSTOMER_FIELDS["PHONE"])
    buffer["CUST_ADDRESS"] = [
        _address(a, seq, f"{where} address {seq}") for seq, a in enumerate(customer.addresses, start=1)
    ]
    return buffer


def _norm_text(name: str, value: Any) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text.casefold() if name == "EMAILID" else text


def _norm_address(row: dict[str, Any]) -> dict[str, str]:
    return {k: _norm_text(k, row.get(k)) for k in ("ADDRESS_SEQ_NUM", *ADDRESS_FIELDS)}


def customer_changes(wanted: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` that differ from ``stored`` (normalised); addresses by sequence number.

    Only changed address rows are returned; rows PeopleSoft has and we do not are left alone
    (an ERP address may carry history we must not erase).
    """
    changed: dict[str, Any] = {}
    for name in ("NAME1", "CUST_STATUS", "EMAILID", "PHONE"):
        if _norm_text(name, wanted.get(name)) != _norm_text(name, stored.get(name)):
            changed[name] = wanted.get(name, "")
    theirs = {str(r.get("ADDRESS_SEQ_NUM")): _norm_address(r) for r in stored.get("CUST_ADDRESS") or []}
    rows = [r for r in wanted.get("CUST_ADDRESS") or [] if theirs.get(str(r["ADDRESS_SEQ_NUM"])) != _norm_address(r)]
    if rows:
        changed["CUST_ADDRESS"] = rows
    return changed


# -- read-back (Query Access Services rows) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadBackLine:
    """One posted journal line as PeopleSoft reports it (for reconciliation)."""

    business_unit: str
    journal_id: str
    journal_date: dt.date
    journal_line: int
    ledger: str
    dims: tuple[tuple[str, str], ...]  # ACCOUNT, DEPTID, ... (non-blank only)
    monetary_amount: Decimal
    currency: str
    foreign_amount: Decimal | None
    foreign_currency: str
    jrnl_ln_ref: str
    source: str = ""
    status: str = ""

    @property
    def account(self) -> str:
        return dict(self.dims).get("ACCOUNT", "")


def _row_value(row: dict[str, Any], name: str) -> Any:
    """QAS keys carry a record alias (``A.``/``B.``); accept any alias or none."""
    if name in row:
        return row[name]
    for key, value in row.items():
        if key.rpartition(".")[2] == name:
            return value
    return None


def readback_line_from_row(row: dict[str, Any]) -> ReadBackLine:
    """Parse one ML_JRNL_LINES row; amounts arrive as strings and become ``Decimal``."""
    def text(name: str) -> str:
        return str(_row_value(row, name) or "").strip()

    where = f"QAS row {row.get('attr:rownumber', '?')}"
    foreign = _row_value(row, "FOREIGN_AMOUNT")
    dims = tuple((name, text(name)) for name in CHARTFIELDS if text(name))
    try:
        journal_date = dt.date.fromisoformat(text("JOURNAL_DATE")[:10])
    except ValueError as exc:
        raise FieldRejected(where, "JOURNAL_DATE", text("JOURNAL_DATE"), "is not an ISO date") from exc
    return ReadBackLine(
        business_unit=text("BUSINESS_UNIT"),
        journal_id=text("JOURNAL_ID"),
        journal_date=journal_date,
        journal_line=int(text("JOURNAL_LINE") or 0),
        ledger=text("LEDGER"),
        dims=dims,
        monetary_amount=to_decimal(_row_value(row, "MONETARY_AMOUNT") or "0", where, "MONETARY_AMOUNT"),
        currency=text("CURRENCY_CD"),
        foreign_amount=None if foreign in (None, "") else to_decimal(foreign, where, "FOREIGN_AMOUNT"),
        foreign_currency=text("FOREIGN_CURRENCY"),
        jrnl_ln_ref=text("JRNL_LN_REF"),
        source=text("SOURCE"),
        status=text("JRNL_HDR_STATUS"),
    )
