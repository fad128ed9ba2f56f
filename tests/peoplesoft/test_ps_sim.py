"""The PeopleSoft hook and poster against the simulator: contract, faults, auth, idempotency, read-back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from lxml import etree
from ml_connector.audit import MemoryAudit
from ml_connector.erps.peoplesoft.faults import error_from_fault
from ml_connector.erps.peoplesoft.hook import GatewayTransport, PeopleSoftHook
from ml_connector.erps.peoplesoft.keys import journal_id_for
from ml_connector.erps.peoplesoft.payload import journal_to_ci
from ml_connector.erps.peoplesoft.poster import post_journal, read_back, upsert_customer
from ml_connector.errors import (
    AuthenticationError,
    DuplicateKey,
    ExternalError,
    NotFound,
    TransientError,
    ValidationRejected,
)

from sandbox.peoplesoft.server import PeopleSoftSim
from tests.peoplesoft.conftest import CLIENT_ID, CLIENT_SECRET, PASSWORD
from tests.peoplesoft.factories import BU, COMBINATION_RULES, line, make_customer, make_journal

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
DAY = dt.date(2026, 10, 3)


def journals_with_id(sim: PeopleSoftSim, journal_id: str) -> list[dict[str, Any]]:
    return [j for j in sim.journals if j["JOURNAL_ID"] == journal_id]


def soap_bodies(audit: MemoryAudit) -> list[etree._Element]:
    bodies = []
    for ex in audit.exchanges:
        if ex.method == "POST" and ex.request_body and "Envelope" in ex.request_body:
            envelope = etree.fromstring(ex.request_body.encode())
            bodies.append(next(iter(envelope.find(f"{{{SOAP_ENV}}}Body"))))
    return bodies


# -- contract: our envelopes validate against the simulator's published schemas -------------------------


def schemas_from_sim(sim: PeopleSoftSim, service: str) -> dict[str, etree.XMLSchema]:
    """Every message XSD the service's WSDL imports, keyed by target namespace."""
    wsdl = etree.fromstring(requests.get(sim.wsdl_url(service), timeout=10).content)
    schemas = {}
    for imp in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import"):
        xsd = etree.fromstring(requests.get(imp.get("schemaLocation"), timeout=10).content)
        schemas[xsd.get("targetNamespace")] = etree.XMLSchema(xsd)
    return schemas


def test_request_envelopes_validate_against_the_sim_xsds(sim: PeopleSoftSim, hook: PeopleSoftHook, audit: MemoryAudit) -> None:
    post_journal(hook, make_journal("501", lines=6), sleep=lambda _: None)
    hook.find(hook.journal_service, BUSINESS_UNIT=BU)
    upsert_customer(hook, make_customer("501"), setid="SHARE")
    upsert_customer(hook, make_customer("501", phone="+1 555 0999"), setid="SHARE")
    schemas = {**schemas_from_sim(sim, hook.journal_service), **schemas_from_sim(sim, hook.customer_service)}
    bodies = soap_bodies(audit)
    roots = {etree.QName(b).localname.split("__")[0] for b in bodies}
    assert {"Get", "Create", "Find", "Updatedata"} <= roots
    for body in bodies:
        schema = schemas[etree.QName(body).namespace]
        assert schema.validate(body), f"{etree.QName(body).localname}: {schema.error_log.last_error}"


def test_operation_names_come_from_the_wsdl_not_from_code(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    client = hook.service(hook.journal_service)
    assert client.operations["create"] == "CI_JOURNAL_ENTRY_CI_C"
    body_ns = client.binding.get("CI_JOURNAL_ENTRY_CI_G").input.body.qname.namespace
    assert body_ns.startswith("http://xmlns.oracle.com/Enterprise/Tools/schemas/M")


# -- faults: the catalog, end to end --------------------------------------------------------------------


def test_missing_key_and_duplicate_key(hook: PeopleSoftHook) -> None:
    with pytest.raises(NotFound, match=r"\(91,50\)"):
        hook.get(hook.journal_service, BUSINESS_UNIT=BU, JOURNAL_ID="NOPE", JOURNAL_DATE=DAY)
    buffer = journal_to_ci(make_journal("502"), journal_id="ECS0000502")
    hook.create(hook.journal_service, **buffer)
    with pytest.raises(DuplicateKey, match=r"\(91,49\)"):
        hook.create(hook.journal_service, **buffer)
    assert hook.find(hook.journal_service, BUSINESS_UNIT="ZZZZZ") == []


def test_unbalanced_journal_is_rejected(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    odd = dataclasses.replace(make_journal("503"), lines=(line("110100", "10.00", DEPTID="TREAS"), line("210500", "-9.99")))
    with pytest.raises(ValidationRejected, match=r"out of balance.*\(5010,104\)"):
        post_journal(hook, odd, sleep=lambda _: None)
    assert not journals_with_id(sim, "ECS0000503")


def test_invalid_chartfield_combination_is_rejected(hook: PeopleSoftHook) -> None:
    odd = dataclasses.replace(make_journal("504"), lines=(line("999999", "1.00"), line("210500", "-1.00")))
    with pytest.raises(ValidationRejected, match=r"\(5010,171\)"):
        post_journal(hook, odd, sleep=lambda _: None)


def test_field_too_long_reaching_the_erp_is_rejected(hook: PeopleSoftHook) -> None:
    buffer = journal_to_ci(make_journal("505"), journal_id="ECS0000505")
    with pytest.raises(ValidationRejected, match=r"\(2,1\)"):
        hook.create(hook.journal_service, **dict(buffer, SOURCE="TOOLONG"))


def test_unparseable_request_fault_maps_to_validation_rejected(sim: PeopleSoftSim) -> None:
    response = requests.post(sim.connector_url, data=b"<not-xml", headers={"Content-Type": "text/xml"}, timeout=10)
    fault = etree.fromstring(response.content).find(f".//{{{SOAP_ENV}}}Fault")
    error = error_from_fault(fault.findtext("faultstring"), fault.find("detail"), operation="raw")
    assert response.status_code == 500 and isinstance(error, ValidationRejected) and "(159,5)" in str(error)


def test_transient_application_fault_is_retried_then_surfaces(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    requests.post(f"{sim.base_url}/_sandbox/faults/transient", json={"operation": "_G$", "count": 2}, timeout=10)
    with pytest.raises(NotFound):  # two 158,10721 faults absorbed, the third Get answers
        hook.get(hook.journal_service, BUSINESS_UNIT=BU, JOURNAL_ID="NOPE", JOURNAL_DATE=DAY)
    requests.post(f"{sim.base_url}/_sandbox/faults/transient", json={"operation": "_G$", "count": 10}, timeout=10)
    with pytest.raises(TransientError, match=r"\(158,10721\)"):
        hook.get(hook.journal_service, BUSINESS_UNIT=BU, JOURNAL_ID="NOPE", JOURNAL_DATE=DAY)


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "reset"}])
def test_transport_failures_on_reads_are_retried(sim: PeopleSoftSim, hook: PeopleSoftHook, fault: dict[str, Any]) -> None:
    hook.service(hook.journal_service)  # WSDL loaded before the fault is armed
    requests.post(f"{sim.base_url}/_sandbox/faults", json={**fault, "method": "POST", "path": "PSFT_EP$", "count": 2}, timeout=10)
    assert hook.find(hook.journal_service, BUSINESS_UNIT="ZZZZZ") == []
    assert sum(f.injected for f in sim.faults) == 2


# -- idempotent posting --------------------------------------------------------------------------------


def test_post_twice_leaves_one_journal(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    first = post_journal(hook, make_journal("506"), sleep=lambda _: None)
    second = post_journal(hook, make_journal("506"), lookup_first=False, sleep=lambda _: None)
    assert (first.status, second.status) == ("posted", "already_present")
    stored = journals_with_id(sim, "ECS0000506")
    assert len(stored) == 1 and sum(ln["MONETARY_AMOUNT"] for ln in stored[0]["JRNL_LN"]) == 0


def test_create_committed_but_answer_lost_is_not_posted_twice(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    hook.service(hook.journal_service)  # the Create is the only request in flight when the fault fires
    requests.post(f"{sim.base_url}/_sandbox/faults", json={"kind": "reset_after", "method": "POST", "path": "PSFT_EP$", "count": 1},
                  timeout=10)
    result = post_journal(hook, make_journal("507"), lookup_first=False, sleep=lambda _: None)
    assert result.status == "posted" and "confirmed" in result.detail
    assert sim.faults[0].injected == 1 and len(journals_with_id(sim, "ECS0000507")) == 1


def test_same_key_with_other_lines_is_a_conflict_and_nothing_changes(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    post_journal(hook, make_journal("508"), sleep=lambda _: None)
    result = post_journal(hook, make_journal("508", scale="2"), sleep=lambda _: None)
    assert result.status == "conflict" and "ECS0000508" in result.detail
    assert journals_with_id(sim, "ECS0000508")[0]["JRNL_LN"][0]["MONETARY_AMOUNT"] == Decimal("11.25")


# -- customers -----------------------------------------------------------------------------------------


def test_upsert_customer_lifecycle(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    kw = {"setid": "SHARE", "sleep": lambda _: None}
    assert upsert_customer(hook, make_customer("777"), **kw).status == "created"
    assert upsert_customer(hook, make_customer("777"), **kw).status == "unchanged"
    moved = upsert_customer(hook, make_customer("777", email="jane@new.example", phone="+44 20 7946 0000"), **kw)
    assert moved.status == "updated" and moved.changed_fields == ("EMAILID", "PHONE")
    assert upsert_customer(hook, None, setid="SHARE", generic_customer_id="GUEST").cust_id == "GUEST"
    stored = [c for c in sim.customers if c["CUST_ID"] == "BC777"]
    assert len(stored) == 1 and stored[0]["EMAILID"] == "jane@new.example"
    assert stored[0]["CUST_ADDRESS"][0]["COUNTRY"] == "USA"
    assert not [c for c in sim.customers if c["CUST_ID"] == "GUEST"]


# -- read-back -----------------------------------------------------------------------------------------


def test_read_back_returns_decimal_lines_that_sum_to_zero(hook: PeopleSoftHook) -> None:
    for n, order in enumerate(("601", "602", "603")):  # one journal per day: maxrows=5 forces a split by date
        post_journal(hook, make_journal(order, lines=4, day=dt.date(2026, 11, 2 + n)), sleep=lambda _: None)
    lines = read_back(hook, business_unit=BU, source="ECM", date_from=dt.date(2026, 11, 1), date_to=dt.date(2026, 11, 30), maxrows=5)
    assert len(lines) == 12 and {ln.journal_id for ln in lines} == {"ECS0000601", "ECS0000602", "ECS0000603"}
    assert sum(ln.monetary_amount for ln in lines) == 0
    assert sum(ln.monetary_amount for ln in lines if ln.account == "400100") == Decimal("-60.00")
    with pytest.raises(NotFound, match="does not exist"):
        hook.execute_query("NO_SUCH_QUERY", {})


# -- authentication ------------------------------------------------------------------------------------


def test_rejected_password_is_an_authentication_error_and_never_echoed(sim: PeopleSoftSim, make_hook: Callable[..., PeopleSoftHook],
                                                                          audit: MemoryAudit) -> None:
    bad = make_hook(sim.base_url, password="wrong-password-123")
    with pytest.raises(AuthenticationError, match=r"User password failed\. \(158,45\)"):
        bad.get(bad.journal_service, BUSINESS_UNIT=BU, JOURNAL_ID="X", JOURNAL_DATE=DAY)
    ok, message = bad.test_connection()
    assert not ok and "authentication failed" in message and "wrong-password-123" not in message
    with pytest.raises(AuthenticationError):
        bad.execute_query("ML_JRNL_LINES", {"BUSINESS_UNIT": BU})
    assert not any("wrong-password-123" in str(ex) for ex in audit.exchanges)


def test_basic_mode(make_hook: Callable[..., PeopleSoftHook], audit: MemoryAudit) -> None:
    server = PeopleSoftSim(port=0, auth="basic", seed=3)
    server.start()
    try:
        server.load_combinations(BU, COMBINATION_RULES)
        hook = make_hook(server.base_url, auth_mode="basic")
        assert post_journal(hook, make_journal("701"), sleep=lambda _: None).status == "posted"
        posts = [ex for ex in audit.exchanges if ex.method == "POST"]
        assert posts and all("UsernameToken" not in (ex.request_body or "") for ex in posts)
        assert all(ex.request_headers.get("Authorization") == "***" for ex in posts)
        wsse_hook = make_hook(server.base_url, auth_mode="wsse")  # no Basic header: the gateway finds no credential
        with pytest.raises(AuthenticationError, match=r"\(158,4[56]\)"):
            wsse_hook.find(wsse_hook.journal_service, BUSINESS_UNIT=BU)
    finally:
        server.stop()


@pytest.fixture
def oauth_sim() -> Iterator[PeopleSoftSim]:
    server = PeopleSoftSim(port=0, auth="oauth2", seed=5, token_ttl=3600)
    server.start()
    server.load_combinations(BU, COMBINATION_RULES)
    yield server
    server.stop()


def test_oauth2_token_is_refreshed_once_after_expiry(oauth_sim: PeopleSoftSim, make_hook: Callable[..., PeopleSoftHook],
                                                     audit: MemoryAudit) -> None:
    hook = make_hook(oauth_sim.base_url, auth_mode="oauth2", token_url=f"{oauth_sim.base_url}/oauth2/token",
                     oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET)
    assert post_journal(hook, make_journal("801"), sleep=lambda _: None).status == "posted"
    assert hook._tokens is not None and hook._tokens.fetched == 1
    requests.post(f"{oauth_sim.base_url}/_sandbox/tokens/expire", timeout=10)
    assert post_journal(hook, make_journal("801"), sleep=lambda _: None).status == "already_present"
    assert hook._tokens.fetched == 2
    requests.post(f"{oauth_sim.base_url}/_sandbox/tokens/expire", timeout=10)
    assert len(read_back(hook, business_unit=BU, source="ECM", date_from=DAY, date_to=DAY)) == 3
    assert hook._tokens.fetched == 3
    token = hook._tokens.current()
    dumped = repr([dataclasses.asdict(ex) for ex in audit.exchanges])
    for secret in (token, CLIENT_SECRET, PASSWORD):
        assert secret not in dumped


def test_oauth2_supplied_token_that_is_rejected_fails_cleanly(oauth_sim: PeopleSoftSim,
                                                              make_hook: Callable[..., PeopleSoftHook]) -> None:
    hook = make_hook(oauth_sim.base_url, auth_mode="oauth2", oauth_token="stale-token-value")
    with pytest.raises(AuthenticationError, match=r"\(158,46\)"):
        hook.find(hook.journal_service, BUSINESS_UNIT=BU)


def test_secrets_never_reach_the_audit_trail(sim: PeopleSoftSim, hook: PeopleSoftHook, audit: MemoryAudit) -> None:
    post_journal(hook, make_journal("901"), sleep=lambda _: None)
    hook.execute_query("ML_JRNL_LINES", {"BUSINESS_UNIT": BU, "SOURCE": "ECM", "FROM_DATE": "2026-10-01", "TO_DATE": "2026-10-31"})
    assert audit.exchanges and any("UsernameToken" in (ex.request_body or "") for ex in audit.exchanges)
    assert not any(PASSWORD in repr(dataclasses.asdict(ex)) for ex in audit.exchanges)


# -- test_connection ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_test_connection_reports_what_failed(sim: PeopleSoftSim, hook: PeopleSoftHook,
                                             make_hook: Callable[..., PeopleSoftHook]) -> None:
    assert hook.test_connection()[0] is True
    ok, message = make_hook(f"http://127.0.0.1:{_closed_port()}").test_connection()
    assert not ok and "connection refused" in message
    ok, message = make_hook(sim.base_url, journal_service="CI_NO_SUCH_CI").test_connection()
    assert not ok and "unknown service 'CI_NO_SUCH_CI'" in message and "404" in message
    ok, message = make_hook(sim.base_url.replace("http://", "https://")).test_connection()
    assert not ok and "TLS" in message


def test_journal_ids_in_the_sim_are_the_deterministic_keys(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    journal = make_journal("12345678")  # too long for the readable form: hashed
    result = post_journal(hook, journal, sleep=lambda _: None)
    assert result.journal_id == journal_id_for(journal) and len(journals_with_id(sim, result.journal_id)) == 1


def test_schema_documents_load_only_from_the_gateway(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:

    transport = GatewayTransport(hook.config.gateway_url, session=requests.Session())
    internal = sim.wsdl_url(hook.journal_service).replace(sim.base_url, "http://psft-internal.example:8000")
    assert b"definitions" in transport.load(internal)  # rewritten to the configured gateway
    for outside in ("file:///etc/passwd", "http://127.0.0.1:1/elsewhere/x.xsd"):
        with pytest.raises(ExternalError, match="refused"):
            transport.load(outside)
