"""PeopleSoft Integration Broker simulator: CI SOAP services, QAS REST queries, an OAuth2 IdP.

Routing and dispatch only; the pieces live next door: ``wsdl`` (documents), ``soap`` (XML in/out),
``ledger`` (data and business edits), ``auth`` (credentials), ``qas`` (queries).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from lxml import etree

from sandbox.common.server import Request, Response, SimServer, json_response
from sandbox.peoplesoft import messages, qas
from sandbox.peoplesoft.auth import Authenticator, AuthSettings, Verdict, parse_basic
from sandbox.peoplesoft.ci import CUSTOMER, JOURNAL, FieldInvalid
from sandbox.peoplesoft.ledger import CIStore, Ledger, row_to_json
from sandbox.peoplesoft.messages import CIError
from sandbox.peoplesoft.soap import (
    ParseFailed,
    Row,
    fault_envelope,
    local_name,
    parse_envelope,
    read_group,
    response_envelope,
)
from sandbox.peoplesoft.wsdl import CONNECTOR, Documents, Operation, Service, build_services

QAS_PATH = "/PSIGW/RESTListeningConnector/{node}/ExecuteQuery.v1/{owner}/{query}/{fmt}/{file}"
XML = {"Content-Type": "text/xml; charset=UTF-8"}
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_LXML_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")


@dataclass
class TransientRule:
    """Inject the 158,10721 application fault on operations whose name matches ``operation``."""

    rate: float = 1.0
    count: int | None = None
    operation: str = ".*"
    injected: int = 0

    @classmethod
    def from_json(cls, data: Any) -> TransientRule:
        if not isinstance(data, dict) or set(data) - {"rate", "count", "operation"}:
            raise ValueError('expected {"rate": 0..1, "count": n|null, "operation": "regex"}')
        rule = cls(float(data.get("rate", 1.0)), data.get("count"), str(data.get("operation", ".*")))
        re.compile(rule.operation)
        return rule


class PeopleSoftSim(SimServer):
    name = "peoplesoft"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        node: str = "PSFT_EP",
        oprid: str = "ML_INTEGRATOR",
        password: str = "ps-sandbox-pass",
        auth: str = "wsse",
        oauth_client_id: str = "ml-connector",
        oauth_client_secret: str = "ps-oauth-secret",
        token_ttl: float = 3600.0,
        latency_ms: float = 0.0,
        seed: int = 0,
        journal_service: str = "CI_JOURNAL_ENTRY_CI",
        customer_service: str = "CI_CUSTOMER_CI",
        combinations: Mapping[str, list[dict[str, str]]] | None = None,
    ) -> None:
        self.node = node
        self.auth = Authenticator(AuthSettings(auth, oprid, password, oauth_client_id, oauth_client_secret, token_ttl))
        self.services = build_services([(journal_service, JOURNAL), (customer_service, CUSTOMER)], seed)
        self.documents = Documents(self.services, node)
        self.ledger = Ledger()
        self._stores: dict[str, CIStore] = {JOURNAL.record: self.ledger.journals, CUSTOMER.record: self.ledger.customers}
        self.transient_rules: list[TransientRule] = []
        for business_unit, rules in (combinations or {}).items():
            self.ledger.load_combinations(business_unit, rules)
        super().__init__(host, port, latency_ms=latency_ms, seed=seed)

    # -- Python accessors for tests ----------------------------------------------------------------
    @property
    def journals(self) -> list[Row]:
        """Posted journals (typed: Decimal amounts, date keys), ordered by key."""
        return self.ledger.journals.all()

    @property
    def customers(self) -> list[Row]:
        return self.ledger.customers.all()

    def load_combinations(self, business_unit: str, rules: list[dict[str, str]], replace: bool = True) -> None:
        self.ledger.load_combinations(business_unit, rules, replace)

    @property
    def connector_url(self) -> str:
        return f"{self.base_url}{CONNECTOR}/{self.node}"

    def wsdl_url(self, service: str | None = None) -> str:
        return f"{self.connector_url}/{service or self.services[0].name}.1.wsdl"

    def qas_url(self, query: str = qas.JOURNAL_LINES_QUERY) -> str:
        return f"{self.base_url}/PSIGW/RESTListeningConnector/{self.node}/ExecuteQuery.v1/PUBLIC/{query}/JSON/NONFILE"

    # -- routes ------------------------------------------------------------------------------------
    def setup_routes(self) -> None:
        self.add_route("GET", CONNECTOR + "/{node}/{doc}", self._document)
        for pattern in (CONNECTOR, CONNECTOR + "/{node}", CONNECTOR + "/{node}/{doc}"):
            self.add_route("POST", pattern, self._soap)
        self.add_route("POST", "/oauth2/token", self._token)
        self.add_route("GET", QAS_PATH, self._query)
        self.add_route("POST", "/_sandbox/combinations", self._post_combinations)
        self.add_route("GET", "/_sandbox/combinations", lambda r: json_response(200, self.ledger.combination_rules()))
        self.add_route("GET", "/_sandbox/journals", self._list_journals)
        self.add_route("GET", "/_sandbox/journals/{bu}/{journal_id}", self._one_journal)
        self.add_route("GET", "/_sandbox/customers", self._list_customers)
        self.add_route("POST", "/_sandbox/reset", self._reset)
        self.add_route("POST", "/_sandbox/faults/transient", self._add_transient)
        self.add_route("DELETE", "/_sandbox/faults/transient", self._clear_transient)
        self.add_route("POST", "/_sandbox/auth", self._rotate_auth)
        self.add_route("POST", "/_sandbox/tokens/expire", lambda r: json_response(200, {"expired": self.auth.expire_tokens()}))

    def _request_base(self, req: Request) -> str:
        host = req.header("host") or ""
        return f"http://{host}" if _HOST.fullmatch(host) else self.base_url  # echoed into the WSDL

    def _document(self, req: Request) -> Response:
        doc = req.params["doc"]
        if req.params["node"] != self.node:
            return Response(404, f"Unknown node {req.params['node']}".encode(), {"Content-Type": "text/plain"})
        body = self.documents.wsdl(doc, self._request_base(req)) or self.documents.xsd.get(doc)
        if body is None:
            return Response(404, f"No WSDL or schema named {doc}".encode(), {"Content-Type": "text/plain"})
        return Response(200, body, XML)

    # -- SOAP --------------------------------------------------------------------------------------
    def _gateway_fault(self, entry: tuple[int, int, str], *parameters: str) -> Response:
        message_set, message_id, text = entry
        self._count(f"fault:{message_set},{message_id}")
        return Response(500, fault_envelope(text, message_set, message_id, parameters=parameters), XML)

    def _ci_fault(self, op: Operation, error: CIError) -> Response:
        self._count(f"fault:{error.message_set},{error.message_id}")
        body = fault_envelope(
            error.text, error.message_set, error.message_id,
            fault_shape=op.fault.shape, fault_namespace=op.fault.namespace, keys=error.keys,
        )  # fmt: skip
        return Response(500, body, XML)

    def _count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def _soap(self, req: Request) -> Response:
        node, doc = req.params.get("node"), req.params.get("doc")
        if (node is not None and node != self.node) or (doc is not None and doc not in self.documents.services):
            return Response(404, f"No service at {req.path}".encode(), {"Content-Type": "text/plain"})
        try:
            envelope = parse_envelope(req.body)
        except ParseFailed:
            return self._gateway_fault(messages.PARSE_FAILED)
        action = (req.header("soapaction") or "").strip().strip('"')
        target = self.documents.by_action.get(action) or self.documents.by_root.get(local_name(envelope.body))
        label = target[1].name if target else (action or local_name(envelope.body)[1])
        verdict = self.auth.check_soap(envelope.token, req.header("authorization"))
        if verdict is Verdict.REFUSED:
            return self._gateway_fault(messages.PASSWORD_FAILED, self.node)
        if verdict is Verdict.MISSING:
            return self._gateway_fault(messages.token_missing(label), label)
        if target is None:
            return self._gateway_fault(messages.unknown_operation(label), label)
        service, op = target
        self._count(op.action)
        try:
            self._maybe_transient(op)
            row = self._read_request(envelope.body, service, op)
            reply = self._perform(service, op, row)
        except CIError as error:
            return self._ci_fault(op, error)
        return Response(200, response_envelope(op.response.shape, op.response.namespace, reply), XML)

    def _maybe_transient(self, op: Operation) -> None:
        with self.lock:
            for rule in self.transient_rules:
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                if re.search(rule.operation, op.name) and self.rng.random() < rule.rate:
                    rule.injected += 1
                    raise messages.transient()

    def _read_request(self, body: etree._Element, service: Service, op: Operation) -> Row:
        expected = (op.request.namespace, op.request.shape.name)
        if local_name(body) != expected:
            got_ns, got_name = local_name(body)
            got = f"{{{got_ns}}}{got_name}"
            why = f"the body element is {got}, but {op.action} expects {{{expected[0]}}}{expected[1]}"
            raise messages.field_invalid(FieldInvalid(service.ci, local_name(body)[1], why))
        try:
            row = read_group(body, op.request.shape, op.request.namespace)
        except FieldInvalid as exc:
            raise messages.field_invalid(exc) from None
        keys = {k: row[k] for k in service.buffer.keys if k in row}
        schema = self.documents.schemas[op.request.name]
        if not schema.validate(body):  # the structural backstop: order, stray elements
            with self.lock:  # the error log is shared per schema: read it under a lock
                schema.validate(body)
                error = schema.error_log.last_error
            message = error.message if error else "does not match the schema"
            match = _LXML_ELEMENT.search(message)
            message = re.sub(r"\{[^}]*\}", "", message)  # namespaces make the text unreadable
            name = match.group(1) if match else op.request.shape.name
            raise messages.field_invalid(FieldInvalid(service.buffer.record, name, message.rstrip(".")), keys)
        return row

    def _perform(self, service: Service, op: Operation, row: Row) -> Row:
        store = self._stores[service.buffer.record]
        if op.verb == "Create":
            return {"notification": 1, "detail": {service.ci: store.create(row)}}
        if op.verb == "Get":
            return store.get(row)
        if op.verb == "Find":
            return {service.ci: store.find(row)}
        if op.verb == "Update":
            store.update(row)
        else:
            store.updatedata(row)
        return {"notification": 1}

    # -- OAuth2 and QAS ------------------------------------------------------------------------------
    def _token(self, req: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "only client_credentials"})
        client = parse_basic(req.header("authorization")) or (form.get("client_id", ""), form.get("client_secret", ""))
        issued = self.auth.issue_token(*client)
        if issued is None:
            return json_response(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
        return json_response(200, issued, {"Cache-Control": "no-store"})

    def _query(self, req: Request) -> Response:
        p = req.params
        if p["node"] != self.node:
            return json_response(404, {"status": "error", "message": f"Unknown node {p['node']}."})
        if self.auth.check_rest(req.header("authorization")) is not Verdict.OK:
            message = "Authorization failed: missing or invalid credentials."
            return json_response(401, {"status": "error", "message": message}, {"WWW-Authenticate": self.auth.challenge})
        self._count(f"QAS {p['query']}")
        if p["owner"].upper() != "PUBLIC" or p["query"] != qas.JOURNAL_LINES_QUERY:
            message = f"Query {p['query']} does not exist or is not public. (260,505)"
            return json_response(404, {"status": "error", "message": message})
        if p["fmt"].upper() != "JSON" or p["file"].upper() != "NONFILE":
            return json_response(400, {"status": "error", "message": "Only JSON/NONFILE output is simulated."})
        try:
            prompts = qas.parse_prompts(req.arg("prompt_uniquepromptname"), req.arg("prompt_fieldvalue"))
            result = qas.journal_lines(self.journals, prompts, qas.parse_maxrows(req.arg("maxrows")))
        except qas.QueryError as exc:
            return json_response(exc.status, {"status": "error", "message": str(exc)})
        return json_response(200, result)

    # -- control API ---------------------------------------------------------------------------------
    def _post_combinations(self, req: Request) -> Response:
        data = req.json()
        try:
            for item in data if isinstance(data, list) else [data]:
                self.ledger.load_combinations(item["business_unit"], item["rules"], bool(item.get("replace", True)))
        except (KeyError, TypeError, ValueError) as exc:
            hint = '{"business_unit": "US001", "rules": [{"ACCOUNT": "400100", "DEPTID": "*"}], "replace": true}'
            return json_response(400, {"error": f"bad combinations payload ({exc!s}); expected {hint}"})
        return json_response(200, self.ledger.combination_rules())

    def _list_journals(self, req: Request) -> Response:
        journals = [row_to_json(j, JOURNAL) for j in self.journals]
        return json_response(200, {"count": len(journals), "journals": journals})

    def _one_journal(self, req: Request) -> Response:
        bu, journal_id, when = req.params["bu"], req.params["journal_id"], req.arg("journal_date")
        found = [
            row_to_json(j, JOURNAL)
            for j in self.journals
            if j["BUSINESS_UNIT"] == bu and j["JOURNAL_ID"] == journal_id and (not when or j["JOURNAL_DATE"].isoformat() == when)
        ]
        if not found:
            return json_response(404, {"error": f"no journal {bu}/{journal_id}" + (f" on {when}" if when else "")})
        if len(found) > 1:
            dates = [j["JOURNAL_DATE"] for j in found]
            return json_response(409, {"error": f"journal {bu}/{journal_id} exists on {dates}: add ?journal_date="})
        return json_response(200, found[0])

    def _list_customers(self, req: Request) -> Response:
        customers = [row_to_json(c, CUSTOMER) for c in self.customers]
        return json_response(200, {"count": len(customers), "customers": customers})

    def _reset(self, req: Request) -> Response:
        self.ledger.reset()
        return json_response(200, {"ok": True})

    def _add_transient(self, req: Request) -> Response:
        try:
            rule = TransientRule.from_json(req.json() or {})
        except (TypeError, ValueError, re.error) as exc:
            return json_response(400, {"error": str(exc)})
        with self.lock:
            self.transient_rules.append(rule)
            return json_response(200, {"ok": True, "transient_rules": len(self.transient_rules)})

    def _clear_transient(self, req: Request) -> Response:
        with self.lock:
            self.transient_rules.clear()
        return json_response(200, {"ok": True})

    def _rotate_auth(self, req: Request) -> Response:
        data = req.json() or {}
        if not isinstance(data, dict) or not set(data) <= {"password", "client_secret"} or not data:
            return json_response(400, {"error": 'expected {"password": "..."} and/or {"client_secret": "..."}'})
        self.auth.rotate(password=data.get("password"), client_secret=data.get("client_secret"))
        return json_response(200, {"ok": True})

    def counter_snapshot(self) -> dict[str, Any]:
        snapshot = super().counter_snapshot()
        with self.lock:
            snapshot["faults_injected"] += sum(r.injected for r in self.transient_rules)
        return snapshot
