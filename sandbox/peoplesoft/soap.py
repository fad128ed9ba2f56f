"""SOAP 1.1 in and out: a locked-down parser, the request reader, and response/fault writers.

The parser refuses DTDs, never resolves entities and never touches the network, because the body
comes from a client. Reading and writing both walk the ``ci.Group`` shapes the XSDs are built from.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree

from sandbox.peoplesoft.ci import FieldInvalid, Group, Leaf, Value

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
MAX_BODY = 8 * 1024 * 1024

Row = dict[str, Any]  # field name -> typed value; collection name -> list[Row]


class ParseFailed(Exception):
    """The request is not a well-formed SOAP 1.1 envelope (PeopleSoft answers 159,5)."""


@dataclass
class UsernameToken:
    username: str
    password: str | None
    password_type: str  # "PasswordText" | "PasswordDigest"
    nonce: str | None = None
    created: str | None = None


@dataclass
class Envelope:
    token: UsernameToken | None
    body: etree._Element  # the body's first child element


_local = threading.local()


def _parser() -> etree.XMLParser:
    """lxml parsers are not safe to share between threads: one per thread."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=True, remove_pis=True,
        )  # fmt: skip
    return parser


def parse_envelope(data: bytes) -> Envelope:
    if not data or len(data) > MAX_BODY:
        raise ParseFailed("empty or oversized body")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseFailed(str(exc)) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ParseFailed("DTDs are not accepted")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ParseFailed(f"root element is {root.tag}, expected a SOAP 1.1 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    content = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if not content:
        raise ParseFailed("the SOAP Body is empty")
    return Envelope(_username_token(root.find(f"{{{SOAP_ENV}}}Header")), content[0])


def _username_token(header: etree._Element | None) -> UsernameToken | None:
    if header is None:
        return None
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return None
    password = token.find(f"{{{WSSE}}}Password")
    kind = (password.get("Type") or "#PasswordText").rsplit("#", 1)[-1] if password is not None else "PasswordText"
    return UsernameToken(
        username=(token.findtext(f"{{{WSSE}}}Username") or "").strip(),
        password=password.text or "" if password is not None else None,
        password_type=kind,
        nonce=token.findtext(f"{{{WSSE}}}Nonce"),
        created=token.findtext(f"{{{WSU}}}Created"),
    )


def local_name(element: etree._Element) -> tuple[str, str]:
    qname = etree.QName(element)
    return qname.namespace or "", qname.localname


# -- reading ---------------------------------------------------------------------------------------
def read_group(element: etree._Element, shape: Group, namespace: str) -> Row:
    """Typed values of one complex element; raises ``FieldInvalid`` naming the record and field."""
    row: Row = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        ns, name = local_name(child)
        spec = shape.child(name) if ns == namespace else None
        if spec is None:
            raise FieldInvalid(shape.record, name, "unexpected element")
        if isinstance(spec, Group):
            if len(child) == 0 and not (child.text or "").strip() and spec.repeating:
                continue  # an empty collection element carries no row
            row.setdefault(spec.name, []).append(read_group(child, spec, namespace))
            continue
        if spec.field.name in row:
            raise FieldInvalid(shape.record, name, "the element appears more than once")
        try:
            row[spec.field.name] = spec.field.parse(child.text or "")
        except ValueError as exc:
            raise FieldInvalid(shape.record, name, str(exc)) from None
    _check_presence(row, shape)
    return row


def _check_presence(row: Row, shape: Group) -> None:
    for spec in shape.children:
        if isinstance(spec, Leaf):
            value = row.get(spec.field.name)
            if not spec.optional and (value is None or value == ""):
                raise FieldInvalid(shape.record, spec.field.name, "a value is required")
        else:
            rows = len(row.get(spec.name, []))
            if rows < spec.min_occurs:
                raise FieldInvalid(shape.record, spec.name, f"at least {spec.min_occurs} row(s) are required")
            if spec.max_occurs is not None and rows > spec.max_occurs:
                raise FieldInvalid(shape.record, spec.name, f"at most {spec.max_occurs} row(s) are allowed")


# -- writing ---------------------------------------------------------------------------------------
def _write_group(parent: etree._Element, shape: Group, row: Row, namespace: str) -> None:
    for spec in shape.children:
        if isinstance(spec, Leaf):
            value: Value | None = row.get(spec.field.name)
            if value is None or (value == "" and spec.optional):
                continue
            etree.SubElement(parent, f"{{{namespace}}}{spec.field.name}").text = spec.field.format(value)
        else:
            nested = row.get(spec.name)
            for item in [nested] if isinstance(nested, dict) else nested or []:
                child = etree.SubElement(parent, f"{{{namespace}}}{spec.name}")
                for attr in spec.attributes:
                    if f"@{attr}" in item:
                        child.set(attr, str(item[f"@{attr}"]))
                _write_group(child, spec, item, namespace)


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"SOAP-ENV": SOAP_ENV})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def _serialise(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def response_envelope(shape: Group, namespace: str, row: Row) -> bytes:
    envelope, body = _envelope()
    root = etree.SubElement(body, f"{{{namespace}}}{shape.name}", nsmap={None: namespace})
    _write_group(root, shape, row, namespace)
    return _serialise(envelope)


def fault_envelope(
    text: str,
    message_set: int,
    message_id: int,
    *,
    fault_shape: Group | None = None,
    fault_namespace: str = "",
    keys: Row | None = None,
    parameters: tuple[str, ...] = (),
) -> bytes:
    """A SOAP Fault: ``CIFault`` in the message namespace, or a bare gateway ``IBResponse`` if no shape."""
    envelope, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = "SOAP-ENV:Server"
    etree.SubElement(fault, "faultstring").text = text
    detail = etree.SubElement(fault, "detail")
    ib_row: Row = {
        "@type": "error",
        "DefaultTitle": "Integration Broker Response",
        "StatusCode": 20,
        "MessageSetID": message_set,
        "MessageID": message_id,
        "DefaultMessage": text,
    }
    if fault_shape is not None:
        ib_row["MessageParameters"] = {"keyinformation": keys or {}}
        ci_fault = etree.SubElement(detail, f"{{{fault_namespace}}}{fault_shape.name}", nsmap={None: fault_namespace})
        _write_group(ci_fault, fault_shape, {"IBResponse": [ib_row]}, fault_namespace)
        return _serialise(envelope)
    ib = etree.SubElement(detail, "IBResponse", type="error")
    for name in ("DefaultTitle", "StatusCode", "MessageSetID", "MessageID", "DefaultMessage"):
        etree.SubElement(ib, name).text = str(ib_row[name])
    params = etree.SubElement(ib, "MessageParameters")
    for value in parameters:
        etree.SubElement(params, "Parameter").text = value
    return _serialise(envelope)
