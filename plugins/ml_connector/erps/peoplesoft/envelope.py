"""One loaded CI service: operations picked from the WSDL, requests written straight to XML.

zeep reads the WSDL (operation names, SOAPActions, message namespaces, element order) and the
replies (faults included). Writing requests through zeep's value objects costs several
milliseconds per journal, which is most of the client's CPU at a hundred journals a second, so
requests are written here with lxml from a layout taken once per operation from zeep's schema:
same element names, namespaces and order, no per-call type machinery. The contract tests
validate these envelopes against the simulator's XSDs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import zeep
from lxml import etree

from ml_connector.errors import ConfigError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION_SUFFIX = {"create": "_C", "get": "_G", "find": "_F", "update_data": "_UD"}


@dataclass(frozen=True)
class Field:
    name: str
    qname: etree.QName
    children: tuple[Field, ...] | None  # None: a leaf (a simpleContent "TypeShape")


def _is_leaf(xsd_type: Any) -> bool:
    names = [name for name, _ in getattr(xsd_type, "elements", [])]
    return names in ([], ["_value_1"])


def layout(xsd_type: Any) -> tuple[Field, ...]:
    """The ordered child elements of a complex type, recursively (collections included)."""
    fields = []
    for name, element in xsd_type.elements:
        children = None if _is_leaf(element.type) else layout(element.type)
        fields.append(Field(name, etree.QName(element.qname), children))
    return tuple(fields)


def xml_text(value: Any) -> str:
    """xsd lexical form: ISO dates, plain decimals (never exponents), ints and strings as is."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_fields(parent: etree._Element, fields: tuple[Field, ...], values: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"WSDL of {where}", unknown[0], f"one of the message's elements {sorted(known)}")
    for f in fields:
        value = values.get(f.name)
        if value is None or value == "":
            continue
        for item in value if isinstance(value, list) else [value]:
            node = etree.SubElement(parent, f.qname)
            if f.children is None:
                node.text = xml_text(item)
            else:
                write_fields(node, f.children, item, f"{where}/{f.name}")


class ServiceClient:
    """The zeep client of one CI service and a fast request path for its operations."""

    def __init__(self, client: zeep.Client, service: str, address: str) -> None:
        self.client = client
        self.service_name = service
        self.address = address
        self.binding = next(iter(client.wsdl.bindings.values()))
        names = list(self.binding._operations)
        self.operations = {kind: self._pick(names, service, suffix) for kind, suffix in OPERATION_SUFFIX.items()}
        self._layouts: dict[str, tuple[etree.QName, tuple[Field, ...]]] = {}

    @staticmethod
    def _pick(names: list[str], service: str, suffix: str) -> str | None:
        if f"{service}{suffix}" in names:
            return f"{service}{suffix}"
        candidates = [n for n in names if n.endswith(suffix)]
        return candidates[0] if len(candidates) == 1 else None

    def operation(self, kind: str) -> str:
        name = self.operations.get(kind)
        if name is None:
            raise ConfigError(f"WSDL of {self.service_name}", f"operation *{OPERATION_SUFFIX[kind]}",
                              "exactly one operation with that suffix", sorted(n for n in self.operations.values() if n))
        return name

    def _layout(self, operation: str) -> tuple[etree.QName, tuple[Field, ...]]:
        cached = self._layouts.get(operation)
        if cached is None:
            body = self.binding.get(operation).input.body
            cached = self._layouts[operation] = (etree.QName(body.qname), layout(body.type))
        return cached

    def envelope(self, operation: str, payload: dict[str, Any]) -> etree._Element:
        """The SOAP 1.1 envelope for ``operation`` with ``payload`` (CI field name -> value)."""
        root_name, fields = self._layout(operation)
        envelope = etree.Element(etree.QName(SOAP_ENV, "Envelope"), nsmap={"soap-env": SOAP_ENV})
        body = etree.SubElement(envelope, etree.QName(SOAP_ENV, "Body"))
        root = etree.SubElement(body, root_name, nsmap={None: root_name.namespace})
        write_fields(root, fields, payload, operation)
        return envelope

    def call(self, operation: str, payload: dict[str, Any]) -> Any:
        """Send one request; zeep parses the reply (and raises ``zeep.exceptions.Fault`` on a fault)."""
        op = self.binding.get(operation)
        envelope = self.envelope(operation, payload)
        headers = {"SOAPAction": f'"{op.soapaction}"', "Content-Type": "text/xml; charset=utf-8"}
        if self.client.wsse is not None:
            envelope, headers = self.client.wsse.apply(envelope, headers)
        response = self.client.transport.post_xml(self.address, envelope, headers)
        return self.binding.process_reply(self.client, op, response)
