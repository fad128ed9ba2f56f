"""Service layout and the WSDL/XSD documents, generated in the style of a real PeopleSoft CI service.

Message numbers (``M`` + 6 digits) are random per database in PeopleSoft; here they derive from the
seed so a run is reproducible but a client that hard-codes them breaks. Documents are rendered once;
the WSDL is cached per Host because its XSD imports and ``soap:address`` are absolute URLs.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from lxml import etree

from sandbox.peoplesoft.ci import Buffer, Group, Leaf, fault_shape, request_shape, response_shape

CONNECTOR = "/PSIGW/PeopleSoftServiceListeningConnector"
SCHEMA_NS = "http://xmlns.oracle.com/Enterprise/Tools/schemas/"
SERVICE_NS = "http://xmlns.oracle.com/Enterprise/FSCM/services/"
VERBS = {"C": "Create", "F": "Find", "G": "Get", "UD": "Updatedata", "UP": "Update"}
XSD = "http://www.w3.org/2001/XMLSchema"


@dataclass(frozen=True)
class Message:
    number: str  # e.g. "M475145"
    shape: Group

    @property
    def name(self) -> str:
        return f"{self.number}.V1"

    @property
    def namespace(self) -> str:
        return SCHEMA_NS + self.name


@dataclass(frozen=True)
class Operation:
    service: str
    suffix: str
    request: Message
    response: Message
    fault: Message

    @property
    def verb(self) -> str:
        return VERBS[self.suffix]

    @property
    def name(self) -> str:
        return f"{self.service}_{self.suffix}"

    @property
    def action(self) -> str:
        return f"{self.name}.V1"


@dataclass(frozen=True)
class Service:
    name: str
    ci: str
    buffer: Buffer
    operations: tuple[Operation, ...]

    @property
    def namespace(self) -> str:
        return f"{SERVICE_NS}{self.name}.1"

    @property
    def wsdl_file(self) -> str:
        return f"{self.name}.1.wsdl"

    def messages(self) -> list[Message]:
        return [m for op in self.operations for m in (op.request, op.response, op.fault)]


def ci_name(service: str) -> str:
    """PeopleSoft names a CI service ``CI_`` + CI name, so the CI is the service minus that prefix."""
    return service[3:] if service.startswith("CI_") else service


def build_services(definitions: list[tuple[str, Buffer]], seed: int) -> list[Service]:
    """Lay out each service's five operations with seed-derived, unique message numbers."""
    rng = random.Random(f"peoplesoft-message-numbers:{seed}")
    needed = len(definitions) * len(VERBS) * 3
    numbers = iter(f"M{n}" for n in rng.sample(range(100000, 1000000), needed))
    services = []
    for service_name, buf in definitions:
        ci = ci_name(service_name)
        ops = tuple(
            Operation(
                service_name,
                suffix,
                Message(next(numbers), request_shape(buf, ci, verb)),
                Message(next(numbers), response_shape(buf, ci, verb)),
                Message(next(numbers), fault_shape(buf)),
            )
            for suffix, verb in VERBS.items()
        )
        services.append(Service(service_name, ci, buf, ops))
    return services


# -- XSD ------------------------------------------------------------------------------------------
def _occurs(min_occurs: int, max_occurs: int | None) -> str:
    text = ' maxOccurs="unbounded"' if max_occurs is None else ""
    return text + (' minOccurs="0"' if min_occurs == 0 else "")


def _simple_type(leaf: Leaf) -> str:
    f = leaf.field
    if f.kind == "date":
        return f'  <xsd:simpleType name="{f.name}TypeDef">\n    <xsd:restriction base="xsd:date"></xsd:restriction>\n  </xsd:simpleType>'
    facets: list[str] = []
    if f.kind == "string":
        base = "xsd:string"
        if f.length:
            facets.append(f'<xsd:maxLength value="{f.length}"></xsd:maxLength>')
        facets.append('<xsd:whiteSpace value="preserve"></xsd:whiteSpace>')
    elif f.kind == "int":
        base = "xsd:int"
        facets.append(f'<xsd:totalDigits value="{f.total_digits}"></xsd:totalDigits>')
    else:
        base = "xsd:decimal"
        facets.append(f'<xsd:totalDigits value="{f.total_digits}"></xsd:totalDigits>')
        facets.append(f'<xsd:fractionDigits value="{f.fraction_digits}"></xsd:fractionDigits>')
    body = "\n".join(f"      {x}" for x in facets)
    return f'  <xsd:simpleType name="{f.name}TypeDef">\n    <xsd:restriction base="{base}">\n{body}\n    </xsd:restriction>\n  </xsd:simpleType>'


def _complex_type(type_name: str, group: Group) -> str:
    rows = []
    for child in group.children:
        if isinstance(child, Leaf):
            occurs = ' minOccurs="0"' if child.optional else ""
            name = child.field.name
            rows.append(f'      <xsd:element{occurs} name="{name}" type="{name}TypeShape"></xsd:element>')
        else:
            occurs = _occurs(child.min_occurs, child.max_occurs)
            rows.append(f'      <xsd:element{occurs} name="{child.name}" type="{child.name}ComplexTypeShape"></xsd:element>')
    attrs = "".join(f'\n    <xsd:attribute name="{a}" type="xsd:string"></xsd:attribute>' for a in group.attributes)
    body = "\n".join(rows)
    return f'  <xsd:complexType name="{type_name}">\n    <xsd:sequence>\n{body}\n    </xsd:sequence>{attrs}\n  </xsd:complexType>'


def _shape_type(leaf: Leaf) -> str:
    name = leaf.field.name
    return (
        f'  <xsd:complexType name="{name}TypeShape">\n    <xsd:simpleContent>\n'
        f'      <xsd:extension base="{name}TypeDef"></xsd:extension>\n    </xsd:simpleContent>\n  </xsd:complexType>'
    )


def render_xsd(message: Message) -> str:
    """One schema per message, own namespace, qualified elements, TypeShape/TypeDef pairs."""
    root = message.shape
    complex_types: dict[str, str] = {}
    simple_types: dict[str, str] = {}

    def walk(group: Group, type_name: str) -> None:
        complex_types.setdefault(type_name, _complex_type(type_name, group))
        for child in group.children:
            if isinstance(child, Leaf):
                complex_types.setdefault(f"{child.field.name}TypeShape", _shape_type(child))
                simple_types.setdefault(child.field.name, _simple_type(child))
            else:
                walk(child, f"{child.name}ComplexTypeShape")

    walk(root, f"{root.name}TypeShape")
    ns = message.namespace
    head = (
        f'<xsd:schema xmlns="{ns}" xmlns:xsd="{XSD}" elementFormDefault="qualified" targetNamespace="{ns}">\n'
        f'  <xsd:element name="{root.name}" type="{root.name}TypeShape"></xsd:element>'
    )
    return "\n".join([head, *complex_types.values(), *simple_types.values(), "</xsd:schema>"]) + "\n"


# -- WSDL -----------------------------------------------------------------------------------------
_POLICY = """      <wsp:Policy xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="UsernameTokenSecurityPolicyPasswordOptional">
        <wsp:ExactlyOne>
          <wsp:All>
            <wsse:SecurityToken xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" wsp:Usage="wsp:Required">
              <wsse:TokenType>wsse:UserNameToken</wsse:TokenType>
              <Claims>
                <SubjectName MatchType="wsse:Exact"></SubjectName>
                <UsePassword wsp:Usage="wsp:Optional"></UsePassword>
              </Claims>
            </wsse:SecurityToken>
          </wsp:All>
        </wsp:ExactlyOne>
      </wsp:Policy>"""
_ENC = "http://schemas.xmlsoap.org/soap/encoding/"


def render_wsdl(service: Service, base_url: str, node: str) -> str:
    """WSDL 1.1 document/literal, mirroring the element order and decorations of a generated one."""
    messages = service.messages()
    folder = f"{base_url}{CONNECTOR}/{node}"
    ns_decls = " ".join(f'xmlns:{m.name}="{m.namespace}"' for m in messages)
    imports = "\n".join(
        f'      <xsd:import namespace="{m.namespace}" schemaLocation="{folder}/{m.name}.xsd"></xsd:import>' for m in messages
    )
    wsdl_messages = "\n".join(
        f'  <wsdl:message name="{m.name}">\n    <wsdl:documentation>{m.number}</wsdl:documentation>\n'
        f'    <wsdl:part element="{m.name}:{m.shape.name}" name="parameter"></wsdl:part>\n  </wsdl:message>'
        for m in messages
    )
    port_ops = "\n".join(
        f'    <wsdl:operation name="{op.name}">\n      <wsdl:documentation>{op.name}</wsdl:documentation>\n'
        f'      <wsdl:input message="tns:{op.request.name}" name="{op.request.name}"></wsdl:input>\n'
        f'      <wsdl:output message="tns:{op.response.name}" name="{op.response.name}"></wsdl:output>\n'
        f'      <wsdl:fault message="tns:{op.fault.name}" name="{op.fault.name}"></wsdl:fault>\n    </wsdl:operation>'
        for op in service.operations
    )
    binding_ops = "\n".join(
        f'    <wsdl:operation name="{op.name}">\n'
        f'      <soap:operation soapAction="{op.action}" style="document"></soap:operation>\n{_POLICY}\n'
        f'      <wsdl:input name="{op.request.name}">\n        <soap:body encodingStyle="{_ENC}" use="literal"></soap:body>\n      </wsdl:input>\n'
        f'      <wsdl:output name="{op.response.name}">\n        <soap:body encodingStyle="{_ENC}" use="literal"></soap:body>\n      </wsdl:output>\n'
        f'      <wsdl:fault name="{op.fault.name}">\n        <soap:fault encodingStyle="{_ENC}" name="{op.fault.name}" use="literal"></soap:fault>\n      </wsdl:fault>\n'
        "    </wsdl:operation>"
        for op in service.operations
    )
    svc = service.name
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions {ns_decls} xmlns:plnk="http://schemas.xmlsoap.org/ws/2003/05/partner-link/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{service.namespace}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy" name="{svc}.1" targetNamespace="{service.namespace}">
  <wsp:UsagePolicy wsdl:Required="true"></wsp:UsagePolicy>
  <plnk:partnerLinkType name="{svc}_PartnerLinkType">
    <plnk:role name="{svc}_Provider">
      <plnk:portType name="tns:{svc}_PortType"></plnk:portType>
    </plnk:role>
  </plnk:partnerLinkType>
  <wsdl:types>
    <xsd:schema xmlns:xsd="{XSD}" elementFormDefault="qualified">
{imports}
    </xsd:schema>
  </wsdl:types>
{wsdl_messages}
  <wsdl:portType name="{svc}_PortType">
{port_ops}
  </wsdl:portType>
  <wsdl:binding name="{svc}_Binding" type="tns:{svc}_PortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"></soap:binding>
{binding_ops}
  </wsdl:binding>
  <wsdl:service name="{svc}">
    <wsdl:documentation>CI for {service.ci}</wsdl:documentation>
    <wsdl:port binding="tns:{svc}_Binding" name="{svc}_Port">
      <soap:address location="{folder}"></soap:address>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


class Documents:
    """Every document rendered once, request schemas compiled once, operations indexed for dispatch."""

    def __init__(self, services: list[Service], node: str) -> None:
        self.services = {s.wsdl_file: s for s in services}
        self.node = node
        self.xsd: dict[str, bytes] = {}
        self.by_action: dict[str, tuple[Service, Operation]] = {}
        self.by_root: dict[tuple[str, str], tuple[Service, Operation]] = {}
        self.schemas: dict[str, etree.XMLSchema] = {}
        for service in services:
            for message in service.messages():
                self.xsd[f"{message.name}.xsd"] = render_xsd(message).encode()
            for op in service.operations:
                self.by_action[op.action] = (service, op)
                self.by_root[(op.request.namespace, op.request.shape.name)] = (service, op)
                self.schemas[op.request.name] = etree.XMLSchema(etree.fromstring(self.xsd[f"{op.request.name}.xsd"]))
        self._wsdl_cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def wsdl(self, file_name: str, base_url: str) -> bytes | None:
        service = self.services.get(file_name)
        if service is None:
            return None
        key = (file_name, base_url)
        with self._lock:
            cached = self._wsdl_cache.get(key)
            if cached is None:
                if len(self._wsdl_cache) > 64:  # Host headers are client-controlled: bound the cache
                    self._wsdl_cache.clear()
                cached = self._wsdl_cache[key] = render_wsdl(service, base_url, self.node).encode()
        return cached
