"""``PeopleSoftHook``: connection and transport for PeopleSoft CI services (SOAP, zeep) and QAS (REST).

Everything site-specific comes from the WSDL: operation names, SOAPActions, message namespaces
(message numbers are random per database). Only the gateway URL pattern and the operation
suffixes (``_C`` Create, ``_G`` Get, ``_F`` Find, ``_UD`` Updatedata) are fixed.

Transport is ``ml_connector.http.PolicySession`` (audit, redaction, timeouts, TLS) with its own
retries switched off: retrying SOAP is decided here, per operation. Reads (Get/Find/Updatedata,
which is idempotent: it sets fields to values) are retried on transient errors with bounded
backoff; Create is never retried blindly, because a Create whose answer was lost may have
committed (``poster.post_journal`` owns that loop).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import zeep
import zeep.helpers
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.wsse.username import UsernameToken

from ml_connector.audit import AuditSink, Redactor
from ml_connector.errors import (
    AuthenticationError,
    ConfigError,
    ExternalError,
    NotFound,
    TransientError,
)
from ml_connector.http import PolicySession, RetryPolicy

from .connection import PeopleSoftConfig
from .envelope import ServiceClient
from .faults import SYSTEM, TOKEN_REJECTED, error_from_fault, ib_message_of

try:  # Airflow is optional for tests and benchmarks (``from_params``)
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - exercised only without Airflow installed
    BaseHook = object  # type: ignore[misc,assignment]

log = logging.getLogger(__name__)

T = TypeVar("T")
READ_RETRY = RetryPolicy(max_attempts=4, base_delay=0.25, max_delay=4.0, jitter=0.5, total_budget=60.0)
DEFAULT_MAXROWS = 10_000


def secure_settings() -> zeep.Settings:
    """No DTDs, no entities, no huge trees: the WSDL and replies are untrusted.

    zeep's ``forbid_external`` would also refuse the WSDL's ``xsd:import`` of the message schemas,
    which every PeopleSoft WSDL needs; ``GatewayTransport`` confines those loads instead.
    """
    return zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=False)


class GatewayTransport(zeep.Transport):
    """Loads WSDL/XSD documents only from the configured gateway.

    PeopleSoft writes absolute schema URLs with the host the gateway believes it has (often an
    internal name behind a load balancer): any document under the listening connector's path is
    fetched from the configured base URL instead, and anything else (another host's path,
    ``file://``) is refused.
    """

    def __init__(self, gateway_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session.adapters.pop("file://", None)  # zeep mounts one; a remote WSDL must not read local files
        self._gateway = gateway_url.rstrip("/")
        self._path = urlsplit(self._gateway).path

    def load(self, url: str) -> bytes:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.startswith(self._path + "/"):
            raise ExternalError(SYSTEM, f"the WSDL references {url}, outside the gateway {self._gateway}: refused")
        return super().load(self._gateway + parts.path[len(self._path):] + (f"?{parts.query}" if parts.query else ""))


# -- transport ------------------------------------------------------------------------------------


def _is_soap_fault(response: requests.Response) -> bool:
    return response.status_code == 500 and b"Fault" in response.content[:4096] and b"Envelope" in response.content[:4096]


class SoapPolicySession(PolicySession):
    """PolicySession that hands a SOAP Fault on HTTP 500 to zeep instead of treating it as transient.

    PeopleSoft answers every application error (bad key, unbalanced journal, bad password) as a
    500 + SOAP Fault; only its ``IBResponse`` says whether it is transient, and ``faults`` reads it.
    """

    def is_transient(self, response: requests.Response) -> bool:
        return not _is_soap_fault(response) and super().is_transient(response)


class TokenSource:
    """OAuth2 client-credentials token, cached until shortly before expiry; thread-safe."""

    SKEW = dt.timedelta(seconds=30)

    def __init__(self, config: PeopleSoftConfig, session: requests.Session, redactor: Redactor,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self._config, self._session, self._redactor, self._clock = config, session, redactor, clock
        self._lock = threading.Lock()
        self._token: str | None = config.oauth_token
        self._expires: dt.datetime | None = None
        self.fetched = 0

    @property
    def can_refresh(self) -> bool:
        return bool(self._config.token_url and self._config.oauth_client_id)

    def current(self) -> str:
        with self._lock:
            if self._token and (self._expires is None or self._clock() < self._expires - self.SKEW):
                return self._token
            return self._fetch()

    def refresh(self, rejected: str | None) -> str:
        """Fetch a new token unless another thread already replaced the rejected one."""
        with self._lock:
            if self._token and self._token != rejected:
                return self._token
            return self._fetch()

    def _fetch(self) -> str:
        cfg = self._config
        if not self.can_refresh:
            raise AuthenticationError(SYSTEM, f"{cfg.source}: the supplied OAuth2 token was rejected or expired and no token URL is configured")
        response = self._session.post(
            cfg.token_url or "", data={"grant_type": "client_credentials"},
            auth=(cfg.oauth_client_id or "", cfg.oauth_client_secret or ""),
        )
        if response.status_code != 200:
            raise AuthenticationError(SYSTEM, f"{cfg.source}: token endpoint {cfg.token_url} answered HTTP {response.status_code}",
                                      status=response.status_code)
        body = response.json()
        token = str(body.get("access_token") or "")
        if not token:
            raise AuthenticationError(SYSTEM, f"{cfg.source}: token endpoint {cfg.token_url} returned no access_token")
        self._redactor.add(token)
        self._token = token
        self._expires = self._clock() + dt.timedelta(seconds=int(body.get("expires_in") or 300))
        self.fetched += 1
        return token


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.current()}"
        return request


# -- zeep results to plain Python -----------------------------------------------------------------


def plain(value: Any) -> Any:
    """zeep objects to dicts/lists of str, int, Decimal and date; blanks and Nones dropped.

    simpleContent "TypeShape" wrappers come back as ``{"_value_1": v}`` and are unwrapped.
    """
    value = zeep.helpers.serialize_object(value, dict) if not isinstance(value, (str, int, Decimal, dt.date)) else value
    if isinstance(value, dict):
        if set(value) - {"_value_1", "_attr_1"} == set() and "_value_1" in value:
            return plain(value["_value_1"])
        out = {k: plain(v) for k, v in value.items() if v is not None and not k.startswith("_attr")}
        return {k: v for k, v in out.items() if v not in (None, "", [])}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return value.strip()
    return value


# -- the hook --------------------------------------------------------------------------------------


class PeopleSoftHook(BaseHook):
    """Connection + transport for PeopleSoft Integration Broker (CI services and Query Access Services)."""

    conn_name_attr = "peoplesoft_conn_id"
    default_conn_name = "peoplesoft_default"
    conn_type = "peoplesoft"
    hook_name = "PeopleSoft (Integration Broker)"

    def __init__(self, peoplesoft_conn_id: str = default_conn_name, *, audit: AuditSink | None = None,
                 config: PeopleSoftConfig | None = None, sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        if BaseHook is not object:
            super().__init__(**kwargs)
        self.peoplesoft_conn_id = peoplesoft_conn_id
        self._config = config
        self._audit = audit
        self._sleep = sleep
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._clients: dict[str, ServiceClient] = {}
        self._session: SoapPolicySession | None = None
        self._tokens: TokenSource | None = None
        self.redactor = Redactor()

    @classmethod
    def from_params(cls, base_url: str, node: str, oprid: str, password: str, *, auth_mode: str = "wsse",
                    audit: AuditSink | None = None, sleep: Callable[[float], None] = time.sleep, **options: Any) -> PeopleSoftHook:
        """A hook without Airflow (tests, benchmarks, CLI); ``options`` are ``PeopleSoftConfig`` fields."""
        config = PeopleSoftConfig(base_url=base_url.rstrip("/"), node=node, oprid=oprid, password=password,
                                  auth_mode=auth_mode, source="peoplesoft params", **options)
        return cls(audit=audit, config=config, sleep=sleep)

    # -- configuration & transport ------------------------------------------------------------
    @property
    def config(self) -> PeopleSoftConfig:
        if self._config is None:
            self._config = PeopleSoftConfig.from_connection(self.get_connection(self.peoplesoft_conn_id))
        return self._config

    @property
    def session(self) -> SoapPolicySession:
        with self._lock:
            if self._session is None:
                self._session = self._new_session()
            return self._session

    def _new_session(self) -> SoapPolicySession:
        cfg = self.config
        self.redactor.add(*cfg.secrets)
        session = SoapPolicySession(SYSTEM, timeout=(5, cfg.timeout), verify=cfg.verify, redactor=self.redactor,
                                    audit=self._audit, retry=None, connection_id=self.peoplesoft_conn_id)
        pool = max(10, cfg.concurrency * 2)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if cfg.auth_mode == "basic":
            session.auth = (cfg.oprid, cfg.password)
        elif cfg.auth_mode == "oauth2":
            self._tokens = TokenSource(cfg, session, self.redactor)
            session.auth = BearerAuth(self._tokens)
        return session

    def get_conn(self) -> SoapPolicySession:
        return self.session

    def close(self) -> None:
        with self._lock:
            self._clients.clear()
            if self._session is not None:
                self._session.close()
                self._session = None

    @property
    def journal_service(self) -> str:
        return self.config.journal_service

    @property
    def customer_service(self) -> str:
        return self.config.customer_service

    def service(self, service: str) -> ServiceClient:
        """The loaded client for ``service`` (WSDL fetched once per hook, shared by threads)."""
        with self._lock:
            cached = self._clients.get(service)
        if cached is not None:
            return cached
        loaded = self._load(service)
        with self._lock:
            return self._clients.setdefault(service, loaded)

    def _load(self, service: str) -> ServiceClient:
        cfg = self.config
        session = self.session
        transport = GatewayTransport(cfg.gateway_url, session=session, timeout=(5, cfg.timeout), operation_timeout=(5, cfg.timeout))
        wsse = UsernameToken(cfg.oprid, cfg.password) if cfg.auth_mode == "wsse" else None
        url = cfg.wsdl_url(service)
        try:
            client = zeep.Client(url, transport=transport, settings=secure_settings(), wsse=wsse)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise NotFound(SYSTEM, f"unknown service {service!r} on node {cfg.node!r}: WSDL {url} answered HTTP 404", status=404) from exc
            raise ExternalError(SYSTEM, f"loading WSDL {url}: HTTP {status}", status=status) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(SYSTEM, f"loading WSDL {url}: {self.redactor.text(str(exc))}") from exc
        except (ZeepError, etree.XMLSyntaxError) as exc:
            raise ExternalError(SYSTEM, f"loading WSDL {url}: not a usable WSDL: {exc}") from exc
        return ServiceClient(client, service, cfg.soap_address)

    # -- operations -----------------------------------------------------------------------------
    def create(self, service: str, **buffer: Any) -> dict[str, Any]:
        """Create: never retried here (the caller decides, after a lookup)."""
        return self._invoke(service, "create", buffer, retry=False)

    def get(self, service: str, **keys: Any) -> dict[str, Any]:
        """Get: the full CI buffer; ``NotFound`` when no row has these keys."""
        return self._invoke(service, "get", keys, retry=True)

    def find(self, service: str, **keys: Any) -> list[dict[str, Any]]:
        """Find: key rows matching the (partial) keys; an empty list when none match."""
        self.service(service)  # a missing WSDL is NotFound too, and must not read as "no rows"
        try:
            result = self._invoke(service, "find", keys, retry=True)
        except NotFound:
            return []
        rows = next(iter(result.values()), []) if isinstance(result, dict) and len(result) == 1 else result
        if isinstance(rows, dict):
            rows = [rows]
        return list(rows or [])

    def update_data(self, service: str, **buffer: Any) -> dict[str, Any]:
        """Updatedata: keys plus the fields to change (idempotent, so retried like a read)."""
        return self._invoke(service, "update_data", buffer, retry=True)

    def _invoke(self, service: str, kind: str, payload: dict[str, Any], *, retry: bool) -> Any:
        def once() -> Any:
            client = self.service(service)  # a WSDL load that failed in transit is retried like the call
            return plain(self._call_once(client, client.operation(kind), payload))

        return self._retrying(f"{service} {kind}", READ_RETRY if retry else RetryPolicy(max_attempts=1), once)

    def _retrying(self, what: str, policy: RetryPolicy, call: Callable[[], T]) -> T:
        """Run ``call``: a rejected OAuth2 token is refreshed once, transient failures retried within ``policy``."""
        started = time.monotonic()
        attempt, token_refreshed = 0, False
        while True:
            attempt += 1
            try:
                return call()
            except AuthenticationError as exc:
                if token_refreshed or not self._token_rejected(exc):
                    raise
                token_refreshed = True
                attempt -= 1  # a refreshed token is a new credential, not a retry of a failure
            except TransientError:
                delay = policy.backoff(attempt, self._rng)
                if attempt >= policy.max_attempts or time.monotonic() - started + delay > policy.total_budget:
                    raise
                log.info("peoplesoft: %s transient failure, retry %d in %.2fs", what, attempt, delay)
                self._sleep(delay)

    def _token_rejected(self, exc: AuthenticationError) -> bool:
        """On an oauth2 rejection (158,46 or HTTP 401), refresh the token once and say so."""
        message = ib_message_of(exc)
        rejected = (message is not None and message.catalog == TOKEN_REJECTED) or exc.status == 401
        if not (rejected and self._tokens is not None and self._tokens.can_refresh):
            return False
        self._tokens.refresh(self._tokens.current())
        return True

    def _call_once(self, client: ServiceClient, operation: str, payload: dict[str, Any]) -> Any:
        try:
            return client.call(operation, payload)
        except Fault as exc:
            raise error_from_fault(exc.message, exc.detail, operation=operation) from None
        except TransportError as exc:
            cls = TransientError if exc.status_code in (0, 500, 502, 503, 504) else ExternalError
            raise cls(SYSTEM, f"{operation}: HTTP {exc.status_code}: {str(exc)[:300]}", status=exc.status_code) from None
        except XMLSyntaxError as exc:
            raise TransientError(SYSTEM, f"{operation}: unreadable reply (truncated?): {str(exc)[:300]}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(SYSTEM, f"{operation}: {self.redactor.text(str(exc))}") from None

    # -- Query Access Services ---------------------------------------------------------------------
    def execute_query(self, query: str, prompts: dict[str, str], maxrows: int = DEFAULT_MAXROWS) -> list[dict[str, Any]]:
        """Run a public PS Query (QAS ExecuteQuery, JSON): its rows, at most ``maxrows``."""
        cfg = self.config
        params = {"isconnectedquery": "N", "maxrows": str(maxrows), "json_resp": "true",
                  "prompt_uniquepromptname": ",".join(prompts), "prompt_fieldvalue": ",".join(str(v) for v in prompts.values())}
        auth = None if cfg.auth_mode == "oauth2" else (cfg.oprid, cfg.password)

        def once() -> requests.Response:
            try:
                return self.session.get(cfg.query_url(query), params=params, auth=auth)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(SYSTEM, f"query {query}: {self.redactor.text(str(exc))}") from exc

        # A query is a read: retried like Get (reconciliation must not fail on one dropped answer).
        return self._query_rows(query, self._retrying(f"query {query}", READ_RETRY, once))

    @staticmethod
    def _query_rows(query: str, response: requests.Response) -> list[dict[str, Any]]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        if response.status_code == 404:
            raise NotFound(SYSTEM, f"query {query}: {message or 'not found (HTTP 404)'}", status=404)
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise ExternalError(SYSTEM, f"query {query}: HTTP {response.status_code}: {message or response.text[:300]}",
                                status=response.status_code)
        rows = ((body.get("data") or {}).get("query") or {}).get("rows") or []
        return [dict(r) for r in rows]

    # -- ping -------------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """Load the journal WSDL and run one harmless Find; say precisely what failed."""
        try:
            cfg = self.config
            service = cfg.journal_service
            self.find(service, BUSINESS_UNIT="~~~~~", JOURNAL_ID="~NOSUCH~")
        except Exception as exc:  # turned into a message for the UI, never raised
            return False, self.redactor.text(describe_failure(exc, self._config)) or "failed"
        return True, f"PeopleSoft reachable: WSDL of {service} loaded on node {cfg.node}, Find answered as {cfg.oprid or 'OAuth2 client'}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_failure(exc: BaseException, config: PeopleSoftConfig | None) -> str:
    """One sentence for ``test_connection``: DNS, TLS, refused, auth, unknown service or other."""
    where = config.base_url if config else "the gateway"
    texts = " | ".join(f"{type(e).__name__}: {e}" for e in _causes(exc))
    if isinstance(exc, AuthenticationError):
        return f"authentication failed at {where}: {exc}"
    if isinstance(exc, NotFound):
        return str(exc)
    if isinstance(exc, ConfigError):
        return f"configuration: {exc}"
    if "NameResolutionError" in texts or "Name or service not known" in texts or "getaddrinfo" in texts:
        return f"DNS lookup failed for {where}: check the host name"
    if "SSLError" in texts or "CERTIFICATE" in texts.upper():
        return f"TLS handshake with {where} failed (certificate or CA bundle): {exc}"
    if "Connection refused" in texts or "ConnectionRefusedError" in texts:
        return f"connection refused at {where}: is the gateway running on that port?"
    if isinstance(exc, TransientError):
        return f"gateway unavailable at {where}: {exc}"
    return f"{type(exc).__name__}: {exc}"
