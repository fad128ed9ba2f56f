"""PeopleSoft keys, fault mapping, payload building and the posting protocol, without a server."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from ml_connector.core.model import JournalKind
from ml_connector.erps.peoplesoft.faults import error_from_fault, find_ib_messages
from ml_connector.erps.peoplesoft.keys import cust_id_for, journal_id_for
from ml_connector.erps.peoplesoft.payload import (
    FieldRejected,
    customer_changes,
    customer_to_ci,
    journal_differences,
    journal_to_ci,
    line_reference,
    readback_line_from_row,
)
from ml_connector.erps.peoplesoft.poster import post_journal, read_back, upsert_customer
from ml_connector.errors import (
    AuthenticationError,
    ConfigError,
    DuplicateKey,
    ExternalError,
    NotFound,
    TransientError,
    ValidationRejected,
)

from tests.peoplesoft.factories import line, make_customer, make_journal

# -- keys ---------------------------------------------------------------------------------------


def test_journal_id_is_readable_when_the_numeric_source_id_fits() -> None:
    assert journal_id_for(make_journal("1234")) == "ECS0001234"
    assert journal_id_for(make_journal("1234", kind=JournalKind.REFUND)) == "ECR0001234"
    assert journal_id_for(make_journal("9999999"), "EC") == "ECS9999999"


def test_journal_id_falls_back_to_a_hash_that_cannot_collide_with_the_readable_form() -> None:
    long_id = journal_id_for(make_journal("12345678"))
    text_id = journal_id_for(make_journal("A-77"))
    for jid in (long_id, text_id):
        assert len(jid) == 10 and jid.startswith("ECS") and jid[3].isalpha()
    assert journal_id_for(make_journal("12345678")) == long_id  # deterministic
    assert long_id != journal_id_for(make_journal("12345679"))
    daily = dataclasses.replace(make_journal("1234"), kind=JournalKind.DAILY)
    assert journal_id_for(daily)[2] == "D" and journal_id_for(daily)[3].isalpha()


@pytest.mark.parametrize("prefix", ["", "ec", "TOOLONG", "1A"])
def test_journal_id_prefix_is_validated(prefix: str) -> None:
    with pytest.raises(ConfigError):
        journal_id_for(make_journal(), prefix)


def test_cust_id_readable_then_hashed_and_bounded() -> None:
    assert cust_id_for(make_customer("42")) == "BC42"
    hashed = cust_id_for(make_customer("gid://shopify/Customer/7043423412345678"))
    assert len(hashed) <= 15 and hashed.startswith("BC") and hashed[2].isalpha()
    assert cust_id_for(make_customer("42"), "WX") == "WX42"


# -- faults ---------------------------------------------------------------------------------------

GATEWAY_FAULT = b"""<detail><IBResponse xmlns="" type="error"><DefaultTitle>Integration Broker Response</DefaultTitle>
<StatusCode>20</StatusCode><MessageID>45</MessageID>
<DefaultMessage><![CDATA[User password failed. (158,45)]]></DefaultMessage>
<MessageParameters><Parameter><![CDATA[ANONYMOUS]]></Parameter></MessageParameters></IBResponse></detail>"""

CI_FAULT = """<detail><CIFault xmlns="http://xmlns.oracle.com/Enterprise/Tools/schemas/M123456.V1">
<IBResponse type="error"><DefaultTitle>PeopleSoft</DefaultTitle><StatusCode>20</StatusCode>
<MessageSetID>{s}</MessageSetID><MessageID>{n}</MessageID><DefaultMessage>{text} ({s},{n})</DefaultMessage>
<MessageParameters><keyinformation><BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>ECS0000001</JOURNAL_ID></keyinformation>
</MessageParameters></IBResponse></CIFault></detail>"""


def test_gateway_fault_in_the_empty_namespace_is_an_authentication_error() -> None:
    error = error_from_fault("null", etree.fromstring(GATEWAY_FAULT), operation="X_G")
    assert isinstance(error, AuthenticationError) and "User password failed" in str(error)


@pytest.mark.parametrize(
    ("msg_set", "number", "expected"),
    [(158, 46, AuthenticationError), (91, 50, NotFound), (91, 49, DuplicateKey), (5010, 104, ValidationRejected),
     (5010, 171, ValidationRejected), (2, 1, ValidationRejected), (158, 10721, TransientError),
     (159, 5, ValidationRejected), (999, 1, ExternalError)],
)
def test_ci_fault_catalog(msg_set: int, number: int, expected: type[Exception]) -> None:
    detail = etree.fromstring(CI_FAULT.format(s=msg_set, n=number, text="Some text.").encode())
    error = error_from_fault("Some text.", detail, operation="CI_X_C")
    assert type(error) is expected
    assert find_ib_messages(detail)[0].keys == {"BUSINESS_UNIT": "US001", "JOURNAL_ID": "ECS0000001"}


def test_fault_without_ibresponse_uses_the_faultstring_catalog_suffix() -> None:
    assert isinstance(error_from_fault("Row already exists. (91,49)", None, operation="op"), DuplicateKey)
    assert type(error_from_fault("weird", None, operation="op")) is ExternalError


# -- payload --------------------------------------------------------------------------------------


def test_journal_to_ci_maps_header_lines_and_amounts() -> None:
    buffer = journal_to_ci(make_journal("1234", lines=4), journal_id="ECS0001234")
    assert buffer["BUSINESS_UNIT"] == "US001" and buffer["JOURNAL_DATE"] == dt.date(2026, 10, 3)
    assert buffer["LEDGER_GROUP"] == "ACTUALS" and buffer["SOURCE"] == "ECM"
    lines = buffer["JRNL_LN"]
    assert [ln["JOURNAL_LINE"] for ln in lines] == [1, 2, 3, 4]
    assert sum(ln["MONETARY_AMOUNT"] for ln in lines) == 0
    first = lines[0]
    assert first["LEDGER"] == "ACTUALS" and first["ACCOUNT"] == "110100" and first["DEPTID"] == "TREAS"
    assert first["CURRENCY_CD"] == "USD" and first["FOREIGN_CURRENCY"] == "USD" and first["RT_TYPE"] == "CRRNT"
    assert first["JRNL_LN_REF"] == "1234" and "PRODUCT" not in first


def test_descriptions_are_shortened_but_accounts_are_rejected() -> None:
    journal = dataclasses.replace(make_journal(), description="x" * 80)
    assert len(journal_to_ci(journal, journal_id="ECS0001234")["DESCR"]) == 30
    bad = dataclasses.replace(make_journal(), lines=(line("12345678901", "1.00"), line("400100", "-1.00")))
    with pytest.raises(FieldRejected) as info:
        journal_to_ci(bad, journal_id="ECS0001234")
    assert info.value.field_name == "ACCOUNT" and info.value.value == "12345678901"
    assert info.value.status == "needs_mapping"


def test_unknown_dimension_and_missing_business_unit_are_mapping_errors() -> None:
    odd = dataclasses.replace(make_journal(), lines=(line("110100", "1", SEGMENT9="x"), line("400100", "-1")))
    with pytest.raises(FieldRejected, match="SEGMENT9"):
        journal_to_ci(odd, journal_id="ECS0001234")
    with pytest.raises(FieldRejected, match="BUSINESS_UNIT"):
        journal_to_ci(dataclasses.replace(make_journal(), header=(("LEDGER", "ACTUALS"),)), journal_id="ECS0001234")


def test_amount_with_too_many_decimals_is_rejected_not_rounded() -> None:
    odd = dataclasses.replace(make_journal(), lines=(line("110100", "1.0005"), line("400100", "-1.0005")))
    with pytest.raises(FieldRejected, match="decimal places"):
        journal_to_ci(odd, journal_id="ECS0001234")


def test_long_references_keep_their_tail() -> None:
    assert line_reference("5678901234567") == "8901234567"
    assert line_reference("1234") == "1234"


def test_journal_differences_ignore_line_order_and_amount_scale() -> None:
    ours = journal_to_ci(make_journal(), journal_id="ECS0001234")
    stored = dict(ours, JRNL_LN=[dict(ln, MONETARY_AMOUNT=str(ln["MONETARY_AMOUNT"]) + "0") for ln in reversed(ours["JRNL_LN"])])
    assert journal_differences(ours, stored) == []
    other = journal_to_ci(make_journal(scale="2"), journal_id="ECS0001234")
    assert journal_differences(ours, other)


def test_customer_buffer_and_changes() -> None:
    buffer = customer_to_ci(make_customer(), setid="SHARE", cust_id="BC42")
    assert buffer["NAME1"] == "Jane Doe" and buffer["CUST_STATUS"] == "A"
    assert buffer["CUST_ADDRESS"][0]["COUNTRY"] == "USA" and buffer["CUST_ADDRESS"][0]["ADDRESS_SEQ_NUM"] == 1
    stored = dict(buffer, EMAILID="jane.doe@EXAMPLE.com ")
    assert customer_changes(buffer, stored) == {}
    moved = customer_to_ci(make_customer(phone="+1 555 0199"), setid="SHARE", cust_id="BC42")
    assert customer_changes(moved, buffer) == {"PHONE": "+1 555 0199"}
    with pytest.raises(FieldRejected, match="EMAILID"):
        customer_to_ci(make_customer(email="a" * 80 + "@x.com"), setid="SHARE", cust_id="BC42")


def test_readback_row_parses_amounts_as_decimal() -> None:
    row = {"attr:rownumber": 1, "A.BUSINESS_UNIT": "US001", "A.JOURNAL_ID": "ECS0001234", "A.JOURNAL_DATE": "2026-10-03",
           "B.JOURNAL_LINE": 2, "B.LEDGER": "ACTUALS", "B.ACCOUNT": "400100", "B.DEPTID": "SALES", "B.CURRENCY_CD": "USD",
           "B.MONETARY_AMOUNT": "-10.100", "B.FOREIGN_AMOUNT": "-10.1", "B.FOREIGN_CURRENCY": "USD", "B.JRNL_LN_REF": "1234"}
    parsed = readback_line_from_row(row)
    assert parsed.monetary_amount == Decimal("-10.1") and isinstance(parsed.monetary_amount, Decimal)
    assert parsed.account == "400100" and parsed.journal_date == dt.date(2026, 10, 3) and parsed.journal_line == 2


# -- posting protocol against an in-memory CI --------------------------------------------------------


class FakeCI:
    """Enough of a CI service to exercise the protocol: keyed rows, duplicate and missing-key faults."""

    journal_service, customer_service = "CI_JOURNAL_ENTRY_CI", "CI_CUSTOMER_CI"

    def __init__(self) -> None:
        self.rows: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.lose_next_create_answer = False
        self.fail_next_create_before_commit = False
        self.query_rows: list[dict[str, Any]] = []

    @staticmethod
    def _key(service: str, data: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        names = ("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE") if service == FakeCI.journal_service else ("SETID", "CUST_ID")
        return service, tuple(data[n] for n in names)

    def create(self, service: str, **buffer: Any) -> dict[str, Any]:
        self.calls.append("create")
        if self.fail_next_create_before_commit:
            self.fail_next_create_before_commit = False
            raise TransientError("peoplesoft", "reset before commit")
        key = self._key(service, buffer)
        if key in self.rows:
            raise DuplicateKey("peoplesoft", "Row already exists (91,49)")
        self.rows[key] = dict(buffer)
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise TransientError("peoplesoft", "connection reset after commit")
        return {"notification": 1}

    def get(self, service: str, **keys: Any) -> dict[str, Any]:
        self.calls.append("get")
        try:
            return dict(self.rows[self._key(service, keys)])
        except KeyError:
            raise NotFound("peoplesoft", "No rows exist (91,50)") from None

    def update_data(self, service: str, **buffer: Any) -> dict[str, Any]:
        self.calls.append("update_data")
        row = self.rows[self._key(service, buffer)]
        for name, value in buffer.items():
            if name == "CUST_ADDRESS":
                by_seq = {r["ADDRESS_SEQ_NUM"]: r for r in row.get("CUST_ADDRESS", [])}
                by_seq.update({r["ADDRESS_SEQ_NUM"]: r for r in value})
                row["CUST_ADDRESS"] = list(by_seq.values())
            else:
                row[name] = value
        return {"notification": 1}

    def execute_query(self, query: str, prompts: dict[str, str], maxrows: int = 10_000) -> list[dict[str, Any]]:
        lo, hi = dt.date.fromisoformat(prompts["FROM_DATE"]), dt.date.fromisoformat(prompts["TO_DATE"])
        hits = [r for r in self.query_rows if lo <= dt.date.fromisoformat(r["A.JOURNAL_DATE"]) <= hi]
        return hits[:maxrows]


def no_sleep(_: float) -> None:
    return None


def test_post_twice_is_posted_then_already_present() -> None:
    ci = FakeCI()
    assert post_journal(ci, make_journal(), sleep=no_sleep).status == "posted"
    second = post_journal(ci, make_journal(), sleep=no_sleep)
    assert second.status == "already_present" and len(ci.rows) == 1


def test_lookup_first_false_skips_the_get_and_duplicate_fault_still_protects() -> None:
    ci = FakeCI()
    post_journal(ci, make_journal(), lookup_first=False, sleep=no_sleep)
    assert ci.calls == ["create"]
    again = post_journal(ci, make_journal(), lookup_first=False, sleep=no_sleep)
    assert again.status == "already_present" and ci.calls == ["create", "create", "get"]


def test_lost_create_answer_is_confirmed_by_get_not_created_twice() -> None:
    ci = FakeCI()
    ci.lose_next_create_answer = True
    result = post_journal(ci, make_journal(), lookup_first=False, sleep=no_sleep)
    assert result.status == "posted" and "confirmed" in result.detail
    assert ci.calls == ["create", "get"] and len(ci.rows) == 1


def test_create_failing_before_commit_is_retried_after_a_get() -> None:
    ci = FakeCI()
    ci.fail_next_create_before_commit = True
    assert post_journal(ci, make_journal(), lookup_first=False, sleep=no_sleep).status == "posted"
    assert ci.calls == ["create", "get", "create"]


def test_different_content_under_the_same_key_is_a_conflict() -> None:
    ci = FakeCI()
    post_journal(ci, make_journal(), sleep=no_sleep)
    result = post_journal(ci, make_journal(scale="3"), sleep=no_sleep)
    assert result.status == "conflict" and "different content" in result.detail


def test_upsert_customer_created_unchanged_updated_guest() -> None:
    ci = FakeCI()
    assert upsert_customer(ci, make_customer(), setid="SHARE").status == "created"
    assert upsert_customer(ci, make_customer(), setid="SHARE").status == "unchanged"
    updated = upsert_customer(ci, make_customer(email="new@example.com"), setid="SHARE")
    assert updated.status == "updated" and updated.changed_fields == ("EMAILID",)
    assert ci.calls[-1] == "update_data"
    guest = upsert_customer(ci, None, setid="SHARE", generic_customer_id="GUEST")
    assert guest == type(guest)("guest", "GUEST")
    assert len(ci.rows) == 1


def test_read_back_splits_a_full_result_by_date() -> None:
    ci = FakeCI()
    ci.query_rows = [{"A.BUSINESS_UNIT": "US001", "A.JOURNAL_ID": f"ECS{n:07d}", "A.JOURNAL_DATE": f"2026-10-0{1 + n % 4}",
                      "B.JOURNAL_LINE": 1, "B.ACCOUNT": "400100", "B.MONETARY_AMOUNT": "1.50"} for n in range(8)]
    lines = read_back(ci, business_unit="US001", source="ECM", date_from=dt.date(2026, 10, 1),
                      date_to=dt.date(2026, 10, 4), maxrows=3)
    assert len(lines) == 8 and sum(ln.monetary_amount for ln in lines) == Decimal("12.00")
    with pytest.raises(ExternalError, match="raise maxrows"):
        read_back(ci, business_unit="US001", source="ECM", date_from=dt.date(2026, 10, 1),
                  date_to=dt.date(2026, 10, 1), maxrows=2)


def test_connection_failures_are_described_without_secrets() -> None:
    import requests
    from ml_connector.erps.peoplesoft.hook import describe_failure

    try:
        try:
            raise requests.ConnectionError("NameResolutionError: Failed to resolve 'psigw.nowhere'")
        except requests.ConnectionError as exc:
            raise TransientError("peoplesoft", "loading WSDL") from exc
    except TransientError as error:
        assert describe_failure(error, None).startswith("DNS lookup failed")
    assert "authentication failed" in describe_failure(AuthenticationError("peoplesoft", "User password failed. (158,45)"), None)


def test_state_names_become_postal_codes() -> None:
    from ml_connector.erps.peoplesoft.regions import state_code

    assert state_code("Texas", "US") == "TX"
    assert state_code("british columbia", "CA") == "BC"
    assert state_code("Bavaria", "DE") == "Bavaria"  # passes through; too long is rejected by the buffer
