"""The PeopleSoft simulator against the shared contract and the real generated WSDL's style."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from ml_connector.settings import specs_dir
from zeep.wsse.username import UsernameToken

from sandbox.peoplesoft import PeopleSoftSim
from sandbox.peoplesoft.cli import load_combinations_file, main
from sandbox.peoplesoft.wsdl import Operation

REAL_DIR = specs_dir() / "peoplesoft" / "ci_ci_personal_data_hcm92"
NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "wsp": "http://schemas.xmlsoap.org/ws/2002/12/policy",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "xsd": "http://www.w3.org/2001/XMLSchema",
    "env": "http://schemas.xmlsoap.org/soap/envelope/",
}
JRNL = "CI_JOURNAL_ENTRY_CI"
CUST = "CI_CUSTOMER_CI"
USER, PASSWORD = "ML_INTEGRATOR", "ps-sandbox-pass"
RULES = [{"ACCOUNT": "1000*", "DEPTID": "*"}, {"ACCOUNT": "400100", "DEPTID": "*", "PRODUCT": "*"}]


def line(account: str, amount: str, ledger: str = "ACTUALS", **extra: Any) -> dict[str, Any]:
    return {"LEDGER": ledger, "ACCOUNT": account, "CURRENCY_CD": "USD", "MONETARY_AMOUNT": Decimal(amount), **extra}


def journal(journal_id: str = "NEXT", day: str = "2026-10-03", lines: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "BUSINESS_UNIT": "US001",
        "JOURNAL_ID": journal_id,
        "JOURNAL_DATE": day,
        "SOURCE": "EXT",
        "DESCR": "Shop sales",
        "JRNL_LN": lines or [line("100010", "10.50", DEPTID="10"), line("400100", "-10.50")],
        **extra,
    }


@pytest.fixture(scope="module")
def sim() -> Iterator[PeopleSoftSim]:
    server = PeopleSoftSim(seed=7, combinations={"US001": RULES})
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        server: PeopleSoftSim = request.getfixturevalue("sim")
        requests.post(server.base_url + "/_sandbox/reset", timeout=5)
        requests.delete(server.base_url + "/_sandbox/faults", timeout=5)
        requests.delete(server.base_url + "/_sandbox/faults/transient", timeout=5)
        server.load_combinations("US001", RULES)


def client(server: PeopleSoftSim, service: str = JRNL, password: str = PASSWORD) -> zeep.Client:
    return zeep.Client(server.wsdl_url(service), wsse=UsernameToken(USER, password))


@pytest.fixture(scope="module")
def jc(sim: PeopleSoftSim) -> zeep.Client:
    return client(sim)


@pytest.fixture(scope="module")
def cc(sim: PeopleSoftSim) -> zeep.Client:
    return client(sim, CUST)


def value(node: Any) -> Any:
    """zeep maps PeopleSoft's simpleContent TypeShapes to {'_value_1': v}."""
    return node["_value_1"] if node is not None and not isinstance(node, str | int | Decimal) else node


def fault_of(call: Any, *args: Any, **kwargs: Any) -> zeep.exceptions.Fault:
    with pytest.raises(zeep.exceptions.Fault) as info:
        call(*args, **kwargs)
    return info.value


def ib_response(fault: zeep.exceptions.Fault) -> dict[str, str]:
    ib = next(e for e in fault.detail.iter() if etree.QName(e).localname == "IBResponse")
    return {etree.QName(c).localname: (c.text or "") for c in ib}


def op_of(server: PeopleSoftSim, action: str) -> Operation:
    return server.documents.by_action[action][1]


def raw_soap(server: PeopleSoftSim, action: str, body_xml: str, *, token: str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
    """POST a hand-written envelope (what zeep refuses to build) with the op's real namespace."""
    ns = op_of(server, action).request.namespace
    header = ""
    if token != "":
        user, pwd = (token or f"{USER}:{PASSWORD}").split(":", 1)
        header = (
            '<soapenv:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
            f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username><wsse:Password>{pwd}</wsse:Password>"
            "</wsse:UsernameToken></wsse:Security></soapenv:Header>"
        )
    envelope = (
        f'<soapenv:Envelope xmlns:soapenv="{NS["env"]}">{header}<soapenv:Body>'
        + body_xml.replace("{ns}", ns)
        + "</soapenv:Body></soapenv:Envelope>"
    )
    hdrs = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"', **(headers or {})}
    return requests.post(server.connector_url, data=envelope.encode(), headers=hdrs, timeout=10)


def parsed_fault(resp: requests.Response) -> tuple[str, etree._Element]:
    assert resp.status_code == 500
    root = etree.fromstring(resp.content)
    fault = root.find("env:Body/env:Fault", NS)
    assert fault.findtext("faultcode") == "SOAP-ENV:Server"
    ib = next(e for e in fault.find("detail").iter() if isinstance(e.tag, str) and etree.QName(e).localname == "IBResponse")
    return fault.findtext("faultstring"), ib


# -- WSDL / XSD style ------------------------------------------------------------------------------
def wsdl_features(tree: etree._Element) -> dict[str, Any]:
    """Structural traits that a generated PeopleSoft CI WSDL has, independent of names."""
    binding = tree.find("wsdl:binding", NS)
    ops = binding.findall("wsdl:operation", NS)
    message_ns = {v for k, v in tree.nsmap.items() if k and re.fullmatch(r"M\d+\.V1", k)}
    parts = [p.get("element") for p in tree.findall("wsdl:message/wsdl:part", NS)]
    return {
        "style": binding.find("soap:binding", NS).get("style"),
        "transport": binding.find("soap:binding", NS).get("transport"),
        "op_suffixes": sorted(o.get("name").rsplit("_", 1)[1] for o in ops),
        "op_style": {o.find("soap:operation", NS).get("style") for o in ops},
        "use": {b.get("use") for b in binding.iterfind(".//soap:body", NS)} | {f.get("use") for f in binding.iterfind(".//soap:fault", NS)},
        "policy_ids": {o.find("wsp:Policy", NS).get(f"{{{NS['wsu']}}}Id") for o in ops},
        "policy_usepassword": {e.get(f"{{{NS['wsp']}}}Usage") for e in binding.iter("UsePassword")},
        "actions_match_ops": all(
            re.fullmatch(re.escape(o.get("name")) + r"\.V\d+", o.find("soap:operation", NS).get("soapAction")) for o in ops
        ),
        "faults": sorted(p.split(":")[1] for p in parts if p.endswith(":CIFault")) == ["CIFault"] * len(ops),
        "one_namespace_per_message": len(message_ns) == len(parts) == 3 * len(ops),
        "message_ns_pattern": all(re.fullmatch(r"http://xmlns\.oracle\.com/Enterprise/Tools/schemas/M\d{6,7}\.V1", n) for n in message_ns),
        "io_per_op": all(len(o.findall("wsdl:input", NS)) == len(o.findall("wsdl:output", NS)) == len(o.findall("wsdl:fault", NS)) == 1 for o in ops),
        "address": re.sub(r"^.*(/PSIGW/PeopleSoftServiceListeningConnector/)[^/]+$", r"\1NODE", tree.find(".//soap:address", NS).get("location")),
        "roots": sorted({p.split(":")[1].split("__CompIntfc__")[0] for p in parts if "__CompIntfc__" in p}),
    }


def xsd_features(tree: etree._Element) -> dict[str, Any]:
    strings = [t for t in tree.iterfind("xsd:simpleType", NS) if t.find("xsd:restriction", NS).get("base") == "xsd:string"]
    return {
        "qualified": tree.get("elementFormDefault"),
        "own_default_ns": tree.get("targetNamespace") == tree.nsmap.get(None),
        "one_global_element": len(tree.findall("xsd:element", NS)) == 1,
        "leaf_shapes": all(
            c.find("xsd:simpleContent/xsd:extension", NS).get("base") == c.get("name").replace("TypeShape", "TypeDef")
            for c in tree.iterfind("xsd:complexType", NS)
            if c.find("xsd:simpleContent", NS) is not None
        ),
        "strings_preserve_whitespace": all(t.find("xsd:restriction/xsd:whiteSpace", NS).get("value") == "preserve" for t in strings),
        "has_max_length": any(t.find("xsd:restriction/xsd:maxLength", NS) is not None for t in strings),
    }


def test_wsdl_matches_the_real_generated_wsdl_structurally(sim: PeopleSoftSim) -> None:
    real = etree.parse(str(REAL_DIR / "CI_CI_PERSONAL_DATA.1.wsdl")).getroot()
    ours = etree.fromstring(requests.get(sim.wsdl_url(), timeout=5).content)
    assert wsdl_features(ours) == wsdl_features(real)
    assert ours.get("targetNamespace") == "http://xmlns.oracle.com/Enterprise/FSCM/services/CI_JOURNAL_ENTRY_CI.1"
    assert ours.find(".//soap:address", NS).get("location") == sim.connector_url
    for imp in ours.iterfind(".//xsd:import", NS):  # absolute URLs next to the WSDL
        assert imp.get("schemaLocation") == f"{sim.connector_url}/{imp.get('namespace').rsplit('/', 1)[1]}.xsd"


def test_every_xsd_has_the_real_schema_style(sim: PeopleSoftSim) -> None:
    real_create = etree.parse(str(REAL_DIR / "CI_CI_PERSONAL_DATA.1_M475145.V1.xsd")).getroot()
    expected = xsd_features(real_create)
    ours = etree.fromstring(requests.get(sim.wsdl_url(CUST), timeout=5).content)
    for imp in ours.iterfind(".//xsd:import", NS):
        xsd = etree.fromstring(requests.get(imp.get("schemaLocation"), timeout=5).content)
        features = xsd_features(xsd)
        assert features["qualified"] == "qualified" and features["own_default_ns"] and features["one_global_element"]
        assert features["leaf_shapes"] and features["strings_preserve_whitespace"]
        if xsd.find("xsd:element", NS).get("name").startswith("Create__"):
            assert features == expected
        etree.XMLSchema(xsd)  # compiles


def test_message_numbers_follow_the_seed(sim: PeopleSoftSim) -> None:
    other = PeopleSoftSim(seed=8)
    ours = {op.request.number for s in sim.services for op in s.operations}
    assert ours.isdisjoint({op.request.number for s in other.services for op in s.operations})
    assert ours == {op.request.number for s in PeopleSoftSim(seed=7).services for op in s.operations}


def test_zeep_resolves_every_operation_of_both_services(jc: zeep.Client, cc: zeep.Client) -> None:
    for zc, service in ((jc, JRNL), (cc, CUST)):
        ci = service[3:]
        binding = zc.wsdl.services[service].ports[f"{service}_Port"].binding
        ops = {o.name: o for o in binding._operations.values()}
        verbs = {"C": "Create", "F": "Find", "G": "Get", "UD": "Updatedata", "UP": "Update"}
        assert set(ops) == {f"{service}_{s}" for s in verbs}
        for suffix, verb in verbs.items():
            op = ops[f"{service}_{suffix}"]
            assert op.soapaction == f"{service}_{suffix}.V1"
            assert op.input.body.qname.localname == f"{verb}__CompIntfc__{ci}"
            assert op.output.body.qname.localname == f"{verb}__CompIntfc__{ci}Response"


def test_a_zeep_create_envelope_validates_against_our_xsd(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    envelope = jc.create_message(jc.service, "CI_JOURNAL_ENTRY_CI_C", **journal())
    body = envelope.find("env:Body", NS)[0]
    op = op_of(sim, "CI_JOURNAL_ENTRY_CI_C.V1")
    schema = etree.XMLSchema(etree.fromstring(requests.get(f"{sim.connector_url}/{op.request.name}.xsd", timeout=5).content))
    assert schema.validate(body), schema.error_log
    body.find(f"{{{op.request.namespace}}}JRNL_LN/{{{op.request.namespace}}}ACCOUNT").text = "X" * 11
    assert not schema.validate(body)


# -- journals --------------------------------------------------------------------------------------
def test_create_with_next_numbers_per_business_unit_and_stores_status_n(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    first = jc.service.CI_JOURNAL_ENTRY_CI_C(**journal())
    assert value(first["notification"]) == 1
    assert value(first["detail"]["JOURNAL_ENTRY_CI"]["JOURNAL_ID"]) == "0000000001"
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("0000000002"))  # explicitly taken: NEXT must skip it
    third = jc.service.CI_JOURNAL_ENTRY_CI_C(**journal())
    assert value(third["detail"]["JOURNAL_ENTRY_CI"]["JOURNAL_ID"]) == "0000000003"
    got = jc.service.CI_JOURNAL_ENTRY_CI_G(BUSINESS_UNIT="US001", JOURNAL_ID="0000000001", JOURNAL_DATE="2026-10-03")
    assert value(got["JRNL_HDR_STATUS"]) == "N"
    assert [value(ln["MONETARY_AMOUNT"]) for ln in got["JRNL_LN"]] == [Decimal("10.500"), Decimal("-10.500")]
    assert [value(ln["JOURNAL_LINE"]) for ln in got["JRNL_LN"]] == [1, 2]
    stored = sim.journals[0]
    assert stored["JRNL_HDR_STATUS"] == "N" and stored["JRNL_LN"][0]["MONETARY_AMOUNT"] == Decimal("10.50")
    listed = requests.get(sim.base_url + "/_sandbox/journals", timeout=5).json()
    assert listed["count"] == 3 and listed["journals"][0]["JRNL_LN"][1]["MONETARY_AMOUNT"] == "-10.500"
    one = requests.get(sim.base_url + "/_sandbox/journals/US001/0000000003", timeout=5).json()
    assert one["JOURNAL_DATE"] == "2026-10-03" and len(one["JRNL_LN"]) == 2


def test_duplicate_key_is_bu_id_and_date(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("ML00000001"))
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal("ML00000001"))
    expected = "Row already exists with the specified keys. BUSINESS_UNIT=US001,JOURNAL_ID=ML00000001,JOURNAL_DATE=2026-10-03 (91,49)"
    assert fault.message == expected
    ib = ib_response(fault)
    assert (ib["StatusCode"], ib["MessageSetID"], ib["MessageID"], ib["DefaultMessage"]) == ("20", "91", "49", expected)
    assert etree.QName(fault.detail[0]).localname == "CIFault"
    assert etree.QName(fault.detail[0]).namespace == op_of(sim, "CI_JOURNAL_ENTRY_CI_C.V1").fault.namespace
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("ML00000001", day="2026-10-04"))  # PeopleSoft's key includes the date
    assert len(sim.journals) == 2
    ambiguous = requests.get(sim.base_url + "/_sandbox/journals/US001/ML00000001", timeout=5)
    assert ambiguous.status_code == 409
    by_date = requests.get(sim.base_url + "/_sandbox/journals/US001/ML00000001?journal_date=2026-10-04", timeout=5)
    assert by_date.json()["JOURNAL_DATE"] == "2026-10-04"


def test_balance_is_checked_per_ledger(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    lines = [line("100010", "5.00"), line("400100", "-5.00"), line("100010", "2.00", "LOCAL"), line("400100", "-1.00", "LOCAL")]
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal(lines=lines))
    assert fault.message == "Journal NEXT is out of balance for ledger LOCAL: debits 2.000, credits 1.000. (5010,104)"
    # balanced overall but not per ledger
    lines = [line("100010", "5.00"), line("400100", "-5.00", "LOCAL")]
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal("J1", lines=lines))
    assert fault.message == "Journal J1 is out of balance for ledger ACTUALS: debits 5.000, credits 0.000. (5010,104)"
    assert ib_response(fault)["MessageSetID"] == "5010" and ib_response(fault)["MessageID"] == "104"
    fx = [line("100010", "5.00", FOREIGN_CURRENCY="EUR", FOREIGN_AMOUNT=Decimal("4.60")),
          line("400100", "-5.00", FOREIGN_CURRENCY="EUR", FOREIGN_AMOUNT=Decimal("-4.50"))]  # fmt: skip
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal("J2", lines=fx))
    assert fault.message.endswith("debits 4.600, credits 4.500. (5010,104)")
    assert sim.journals == []


def test_chartfield_combinations(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    bad = [line("100010", "1.00", PRODUCT="P1"), line("400100", "-1.00")]  # PRODUCT not named by the 1000* rule
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal(lines=bad))
    assert fault.message == "Invalid ChartField combination for business unit US001: ACCOUNT=100010,PRODUCT=P1. (5010,171)"
    ok = [line("100010", "1.00", DEPTID="ANY"), line("400100", "-1.00", PRODUCT="P1")]
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal(lines=ok))
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **{**journal(), "BUSINESS_UNIT": "FR001"})  # no table: all rejected
    assert "(5010,171)" in fault.message and "FR001" in fault.message
    resp = requests.post(sim.base_url + "/_sandbox/combinations", json={"business_unit": "FR001", "rules": [{"ACCOUNT": "*", "DEPTID": "*"}]}, timeout=5)
    assert resp.status_code == 200
    assert requests.get(sim.base_url + "/_sandbox/combinations", timeout=5).json()["FR001"] == [{"ACCOUNT": "*", "DEPTID": "*"}]
    jc.service.CI_JOURNAL_ENTRY_CI_C(**{**journal(), "BUSINESS_UNIT": "FR001"})
    bad_rule = requests.post(sim.base_url + "/_sandbox/combinations", json={"business_unit": "X", "rules": [{"ACCT": "1"}]}, timeout=5)
    assert bad_rule.status_code == 400 and "ACCT" in bad_rule.json()["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<BUSINESS_UNIT>US0012</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-10-03</JOURNAL_DATE>{lines}",
         "Field JRNL_HEADER.BUSINESS_UNIT is invalid: value 'US0012' is 6 characters long, the maximum is 5. (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID>{lines}",
         "Field JRNL_HEADER.JOURNAL_DATE is invalid: a value is required. (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-02-30</JOURNAL_DATE>{lines}",
         "Field JRNL_HEADER.JOURNAL_DATE is invalid: '2026-02-30' is not a valid date (expected YYYY-MM-DD). (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-10-03</JOURNAL_DATE>",
         "Field JRNL_HEADER.JRNL_LN is invalid: at least 1 row(s) are required. (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-10-03</JOURNAL_DATE>"
         "<JRNL_LN><LEDGER>ACTUALS</LEDGER><ACCOUNT>100010</ACCOUNT><CURRENCY_CD>USD</CURRENCY_CD><MONETARY_AMOUNT>1.2345</MONETARY_AMOUNT></JRNL_LN>",
         "Field JRNL_LN.MONETARY_AMOUNT is invalid: '1.2345' has more than 3 decimal places. (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-10-03</JOURNAL_DATE>"
         "<JRNL_LN><LEDGER>ACTUALS</LEDGER><CURRENCY_CD>USD</CURRENCY_CD><MONETARY_AMOUNT>1</MONETARY_AMOUNT></JRNL_LN>",
         "Field JRNL_LN.ACCOUNT is invalid: a value is required. (2,1)"),
        ("<BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>NEXT</JOURNAL_ID><JOURNAL_DATE>2026-10-03</JOURNAL_DATE><REVERSAL_CD>Q</REVERSAL_CD>{lines}",
         "Field JRNL_HEADER.REVERSAL_CD is invalid: value 'Q' is not one of B, D, E, N, R, U. (2,1)"),
        ("<JOURNAL_ID>NEXT</JOURNAL_ID><BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_DATE>2026-10-03</JOURNAL_DATE>{lines}",
         "Field JRNL_HEADER.JOURNAL_ID is invalid: Element 'JOURNAL_ID': This element is not expected."),  # schema order, caught by the XSD backstop
    ],
)
def test_field_validation_faults(sim: PeopleSoftSim, body: str, expected: str) -> None:
    lines = ("<JRNL_LN><LEDGER>ACTUALS</LEDGER><ACCOUNT>100010</ACCOUNT><CURRENCY_CD>USD</CURRENCY_CD>"
             "<MONETARY_AMOUNT>0</MONETARY_AMOUNT></JRNL_LN>")  # fmt: skip
    xml = "<Create__CompIntfc__JOURNAL_ENTRY_CI xmlns='{ns}'>" + body.replace("{lines}", lines) + "</Create__CompIntfc__JOURNAL_ENTRY_CI>"
    text, ib = parsed_fault(raw_soap(sim, "CI_JOURNAL_ENTRY_CI_C.V1", xml))
    assert text.startswith(expected) and text.endswith("(2,1)")
    assert ib.findtext("{*}MessageSetID") == "2" and ib.findtext("{*}MessageID") == "1"
    assert sim.journals == []


def test_updatedata_revalidates_and_update_replaces(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("J9"))
    keys = {"BUSINESS_UNIT": "US001", "JOURNAL_ID": "J9", "JOURNAL_DATE": "2026-10-03"}
    jc.service.CI_JOURNAL_ENTRY_CI_UD(**keys, DESCR="renamed")
    assert sim.journals[0]["DESCR"] == "renamed" and sim.journals[0]["SOURCE"] == "EXT"
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_UD, **keys, JRNL_LN=[{**line("100010", "99"), "JOURNAL_LINE": 1}])
    assert "(5010,104)" in fault.message and sim.journals[0]["JRNL_LN"][0]["MONETARY_AMOUNT"] == Decimal("10.50")
    jc.service.CI_JOURNAL_ENTRY_CI_UP(**journal("J9", lines=[line("100010", "3"), line("400100", "-3")]))
    assert [ln["MONETARY_AMOUNT"] for ln in sim.journals[0]["JRNL_LN"]] == [Decimal(3), Decimal(-3)]
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_UD, **{**keys, "JOURNAL_ID": "NOPE"})
    assert fault.message.endswith("(91,50)")


def test_find_journals(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("ML1"))
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("ML2", SOURCE="ONL"))
    found = jc.service.CI_JOURNAL_ENTRY_CI_F(BUSINESS_UNIT="US001", SOURCE="EXT")
    assert [value(r["JOURNAL_ID"]) for r in found] == ["ML1"]
    assert [value(r["DESCR"]) for r in found] == ["Shop sales"]
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_F, JOURNAL_ID="ZZ")
    assert fault.message == "No rows exist for the specified keys. JOURNAL_ID=ZZ (91,50)"


# -- customers -------------------------------------------------------------------------------------
def test_customer_create_get_find_updatedata(sim: PeopleSoftSim, cc: zeep.Client) -> None:
    address = {"ADDRESS_SEQ_NUM": 1, "ADDRESS1": "1 Main St", "CITY": "Austin", "COUNTRY": "USA"}
    created = cc.service.CI_CUSTOMER_CI_C(SETID="SHARE", CUST_ID="NEXT", NAME1="Ada Lovelace", EMAILID="ada@example.com", CUST_ADDRESS=[address])
    cust_id = value(created["detail"]["CUSTOMER_CI"]["CUST_ID"])
    assert cust_id == "0000000001"
    cc.service.CI_CUSTOMER_CI_UD(SETID="SHARE", CUST_ID=cust_id, PHONE="555-0100", CUST_ADDRESS=[{"ADDRESS_SEQ_NUM": 1, "CITY": "Dallas"}])
    got = cc.service.CI_CUSTOMER_CI_G(SETID="SHARE", CUST_ID=cust_id)
    assert value(got["PHONE"]) == "555-0100" and value(got["EMAILID"]) == "ada@example.com" and value(got["CUST_STATUS"]) == "A"
    assert value(got["CUST_ADDRESS"][0]["CITY"]) == "Dallas" and value(got["CUST_ADDRESS"][0]["ADDRESS1"]) == "1 Main St"
    assert [value(r["NAME1"]) for r in cc.service.CI_CUSTOMER_CI_F(SETID="SHARE", NAME1="Ada")] == ["Ada Lovelace"]
    fault = fault_of(cc.service.CI_CUSTOMER_CI_C, SETID="SHARE", CUST_ID=cust_id, NAME1="Again")
    assert fault.message == f"Row already exists with the specified keys. SETID=SHARE,CUST_ID={cust_id} (91,49)"
    fault = fault_of(cc.service.CI_CUSTOMER_CI_UD, SETID="SHARE", CUST_ID=cust_id, CUST_STATUS="X")
    assert fault.message == "Field CUSTOMER.CUST_STATUS is invalid: value 'X' is not one of A, I. (2,1)"
    fault = fault_of(cc.service.CI_CUSTOMER_CI_G, SETID="SHARE", CUST_ID="MISSING")
    assert fault.message == "No rows exist for the specified keys. SETID=SHARE,CUST_ID=MISSING (91,50)"
    listed = requests.get(sim.base_url + "/_sandbox/customers", timeout=5).json()
    assert listed["customers"][0]["PHONE"] == "555-0100"


# -- gateway faults, auth --------------------------------------------------------------------------
GET_BODY = ("<Get__CompIntfc__JOURNAL_ENTRY_CI xmlns='{ns}'><BUSINESS_UNIT>US001</BUSINESS_UNIT><JOURNAL_ID>X</JOURNAL_ID>"
            "<JOURNAL_DATE>2026-10-03</JOURNAL_DATE></Get__CompIntfc__JOURNAL_ENTRY_CI>")  # fmt: skip


def test_bad_password_and_missing_token(sim: PeopleSoftSim) -> None:
    text, ib = parsed_fault(raw_soap(sim, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token=f"{USER}:wrong"))
    assert text == "User password failed. (158,45)"
    assert ib.nsmap.get(None) is None and etree.QName(ib).namespace is None  # gateway IBResponse, empty namespace
    assert (ib.findtext("MessageSetID"), ib.findtext("MessageID"), ib.findtext("DefaultMessage")) == ("158", "45", text)
    text, _ = parsed_fault(raw_soap(sim, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token=""))
    assert text == "Security Token missing or not authorized for service operation CI_JOURNAL_ENTRY_CI_G. (158,46)"
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()  # wsse mode also takes Basic
    text, _ = parsed_fault(raw_soap(sim, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token="", headers={"Authorization": basic}))
    assert text.endswith("(91,50)")


def test_rotated_password_is_refused(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    assert requests.post(sim.base_url + "/_sandbox/auth", json={"password": "rotated"}, timeout=5).status_code == 200
    try:
        assert fault_of(jc.service.CI_JOURNAL_ENTRY_CI_F, SOURCE="EXT").message == "User password failed. (158,45)"
        assert "(91,50)" in fault_of(client(sim, password="rotated").service.CI_JOURNAL_ENTRY_CI_F, SOURCE="EXT").message
    finally:
        requests.post(sim.base_url + "/_sandbox/auth", json={"password": PASSWORD}, timeout=5)


def test_parse_errors_and_dtds_are_refused(sim: PeopleSoftSim) -> None:
    for payload in (b"<not-xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', b"<a/>"):
        resp = requests.post(sim.connector_url, data=payload, headers={"Content-Type": "text/xml"}, timeout=5)
        text, ib = parsed_fault(resp)
        assert text == "Unable to parse the XML request. (159,5)" and ib.findtext("MessageID") == "5"


def test_soap_is_accepted_at_every_gateway_path(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    envelope = etree.tostring(jc.create_message(jc.service, "CI_JOURNAL_ENTRY_CI_F", SOURCE="EXT"))
    headers = {"Content-Type": "text/xml", "SOAPAction": '"CI_JOURNAL_ENTRY_CI_F.V1"'}
    base = sim.base_url + "/PSIGW/PeopleSoftServiceListeningConnector"
    for url in (base, f"{base}/PSFT_EP", f"{base}/PSFT_EP/CI_JOURNAL_ENTRY_CI.1.wsdl"):
        text, _ = parsed_fault(requests.post(url, data=envelope, headers=headers, timeout=5))
        assert text.endswith("(91,50)")
    assert requests.post(f"{base}/OTHER_NODE", data=envelope, headers=headers, timeout=5).status_code == 404


def test_transient_fault_injection(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    requests.post(sim.base_url + "/_sandbox/counters/reset", timeout=5)
    resp = requests.post(sim.base_url + "/_sandbox/faults/transient", json={"rate": 1.0, "count": 1, "operation": "_C$"}, timeout=5)
    assert resp.status_code == 200
    assert "(91,50)" in fault_of(jc.service.CI_JOURNAL_ENTRY_CI_F, SOURCE="EXT").message  # only _C is hit
    fault = fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal())
    assert fault.message == "Integration Gateway: target connector unavailable, retry later. (158,10721)"
    assert ib_response(fault)["MessageID"] == "10721"
    assert sim.journals == []
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal())  # count exhausted
    counters = requests.get(sim.base_url + "/_sandbox/counters", timeout=5).json()
    assert counters["counters"]["CI_JOURNAL_ENTRY_CI_C.V1"] == 2 and counters["faults_injected"] == 1


def test_reset_after_leaves_the_journal_committed(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    fault = {"kind": "reset_after", "path": "PeopleSoftServiceListeningConnector", "method": "POST", "count": 1}
    assert requests.post(sim.base_url + "/_sandbox/faults", json=fault, timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("LOST1"))
    assert [j["JOURNAL_ID"] for j in sim.journals] == ["LOST1"]
    assert "(91,49)" in fault_of(jc.service.CI_JOURNAL_ENTRY_CI_C, **journal("LOST1")).message


def test_reset_clears_data_but_keeps_configuration(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal())
    requests.post(sim.base_url + "/_sandbox/reset", timeout=5)
    assert sim.journals == [] and sim.ledger.combination_rules()["US001"] == RULES
    created = jc.service.CI_JOURNAL_ENTRY_CI_C(**journal())
    assert value(created["detail"]["JOURNAL_ENTRY_CI"]["JOURNAL_ID"]) == "0000000001"


@pytest.mark.parametrize("mode", ["basic", "oauth2"])
def test_auth_modes(mode: str) -> None:
    server = PeopleSoftSim(auth=mode, combinations={"US001": RULES}, token_ttl=60)
    server.start()
    try:
        text, _ = parsed_fault(raw_soap(server, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY))  # UsernameToken alone
        assert text.endswith("(158,46)")
        if mode == "basic":
            auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            wrong = "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()
            text, _ = parsed_fault(raw_soap(server, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token="", headers={"Authorization": wrong}))
            assert text == "User password failed. (158,45)"
        else:
            bad = requests.post(server.base_url + "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "ml-connector", "client_secret": "x"}, timeout=5)
            assert bad.status_code == 401
            issued = requests.post(server.base_url + "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("ml-connector", "ps-oauth-secret"), timeout=5).json()
            assert issued["token_type"] == "Bearer" and issued["expires_in"] == 60
            auth = f"Bearer {issued['access_token']}"
        text, _ = parsed_fault(raw_soap(server, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token="", headers={"Authorization": auth}))
        assert text.endswith("(91,50)")
        assert requests.get(server.qas_url(), headers={"Authorization": auth}, timeout=5).status_code == 200
        if mode == "oauth2":
            requests.post(server.base_url + "/_sandbox/tokens/expire", timeout=5)
            text, _ = parsed_fault(raw_soap(server, "CI_JOURNAL_ENTRY_CI_G.V1", GET_BODY, token="", headers={"Authorization": auth}))
            assert text == "Security Token missing or not authorized for service operation CI_JOURNAL_ENTRY_CI_G. (158,46)"
            assert requests.get(server.qas_url(), headers={"Authorization": auth}, timeout=5).status_code == 401
    finally:
        server.stop()


# -- QAS ------------------------------------------------------------------------------------------
def test_qas_rows_paging_and_auth(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("B", day="2026-10-04"))
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("A", day="2026-10-04", lines=[line("100010", "12.34"), line("400100", "-12.34", JRNL_LN_REF="R1")]))
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("C", day="2026-10-01"))
    jc.service.CI_JOURNAL_ENTRY_CI_C(**journal("D", day="2026-10-04", SOURCE="ONL"))
    params = {"isconnectedquery": "N", "maxrows": "100", "json_resp": "true",
              "prompt_uniquepromptname": "BUSINESS_UNIT,SOURCE,FROM_DATE,TO_DATE", "prompt_fieldvalue": "US001,EXT,2026-10-02,2026-10-04"}  # fmt: skip
    resp = requests.get(sim.qas_url(), params=params, auth=(USER, PASSWORD), timeout=5)
    query = resp.json()["data"]["query"]
    assert resp.json()["status"] == "success" and query["queryname="] == "ML_JRNL_LINES" and query["numrows"] == 4
    assert [(r["A.JOURNAL_ID"], r["B.JOURNAL_LINE"]) for r in query["rows"]] == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]
    first = query["rows"][0]
    assert first["attr:rownumber"] == 1 and first["A.JOURNAL_DATE"] == "2026-10-04" and first["A.JRNL_HDR_STATUS"] == "N"
    assert first["B.MONETARY_AMOUNT"] == "12.340" and first["B.FOREIGN_AMOUNT"] == "0.000"
    assert query["rows"][1]["B.JRNL_LN_REF"] == "R1" and query["rows"][1]["B.MONETARY_AMOUNT"] == "-12.340"
    truncated = requests.get(sim.qas_url(), params={**params, "maxrows": "3"}, auth=(USER, PASSWORD), timeout=5).json()
    assert truncated["data"]["query"]["numrows"] == 3
    assert requests.get(sim.qas_url(), params=params, auth=(USER, "bad"), timeout=5).status_code == 401
    assert requests.get(sim.qas_url(), params=params, timeout=5).status_code == 401
    missing = requests.get(sim.qas_url("NO_SUCH_Q"), auth=(USER, PASSWORD), timeout=5)
    assert missing.status_code == 404 and missing.json()["message"].startswith("Query NO_SUCH_Q does not exist or is not public.")
    bad_prompt = requests.get(sim.qas_url(), params={**params, "prompt_fieldvalue": "US001"}, auth=(USER, PASSWORD), timeout=5)
    assert bad_prompt.status_code == 400


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_combinations_file_and_errors(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"business_unit": "US001", "rules": RULES}]))
    assert load_combinations_file(listed) == {"US001": RULES}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"US001": [{"NOT_A_CF": "1"}]}))
    assert main(["--port", "0", "--combinations", str(bad)]) == 2
    assert main(["--port", "0", "--combinations", str(tmp_path / "missing.json")]) == 2


def test_next_numbering_is_unique_under_concurrency(sim: PeopleSoftSim) -> None:
    from concurrent.futures import ThreadPoolExecutor

    zc = client(sim)  # zeep clients are safe to share for calls
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: zc.service.CI_JOURNAL_ENTRY_CI_C(**journal()), range(40)))
    ids = sorted(value(r["detail"]["JOURNAL_ENTRY_CI"]["JOURNAL_ID"]) for r in results)
    assert ids == [f"{n:010d}" for n in range(1, 41)]


def test_our_responses_and_faults_validate_against_our_xsds(sim: PeopleSoftSim, jc: zeep.Client) -> None:
    def schema(message_name: str) -> etree.XMLSchema:
        return etree.XMLSchema(etree.fromstring(requests.get(f"{sim.connector_url}/{message_name}.xsd", timeout=5).content))

    def call(action: str, envelope: etree._Element) -> requests.Response:
        headers = {"Content-Type": "text/xml", "SOAPAction": f'"{action}"'}
        return requests.post(sim.connector_url, data=etree.tostring(envelope), headers=headers, timeout=5)

    create, get = op_of(sim, "CI_JOURNAL_ENTRY_CI_C.V1"), op_of(sim, "CI_JOURNAL_ENTRY_CI_G.V1")
    envelope = jc.create_message(jc.service, "CI_JOURNAL_ENTRY_CI_C", **journal("V1"))
    ok = call(create.action, envelope)
    assert schema(create.response.name).validate(etree.fromstring(ok.content).find("env:Body", NS)[0])
    dup = call(create.action, envelope)
    assert dup.status_code == 500
    ci_fault = etree.fromstring(dup.content).find("env:Body/env:Fault/detail", NS)[0]
    assert schema(create.fault.name).validate(ci_fault)
    got = call(get.action, jc.create_message(jc.service, "CI_JOURNAL_ENTRY_CI_G", BUSINESS_UNIT="US001", JOURNAL_ID="V1", JOURNAL_DATE="2026-10-03"))
    assert schema(get.response.name).validate(etree.fromstring(got.content).find("env:Body", NS)[0])
