"""The ``peoplesoft`` Airflow connection type: its form (provider metadata) and its parsed settings.

``PeopleSoftConfig`` is the one place that reads a connection, so the hook, the CLI and the
tests (``PeopleSoftHook.from_params``) all see the same defaults and the same validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ml_connector.errors import ConfigError

AUTH_MODES = ("basic", "wsse", "oauth2")

DEFAULTS: dict[str, Any] = {
    "node": "PSFT_EP",
    "auth_mode": "wsse",
    "journal_service": "CI_JOURNAL_ENTRY_CI",
    "customer_service": "CI_CUSTOMER_CI",
    "readback_query": "ML_JRNL_LINES",
    "generic_customer_id": "GUEST",
    "setid": "SHARE",
    "journal_id_prefix": "EC",
    "concurrency": 4,
    "timeout": 60,
}


def _field(label: str, kind: str | list[str], default: Any = None, *, secret: bool = False, description: str = "",
           enum: list[str] | None = None, minimum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if default is not None:
        schema["default"] = default
    if secret:
        schema["format"] = "password"
    if enum:
        schema["enum"] = enum
    if minimum is not None:
        schema["minimum"] = minimum
    out: dict[str, Any] = {"label": label, "schema": schema}
    if description:
        out["description"] = description
    return out


CONNECTION_TYPE: dict[str, Any] = {
    "connection-type": "peoplesoft",
    "hook-class-name": "ml_connector.erps.peoplesoft.hook.PeopleSoftHook",
    "hook-name": "PeopleSoft (Integration Broker)",
    "ui-field-behaviour": {
        "hidden-fields": ["extra"],
        "relabeling": {"schema": "Scheme (http/https)", "login": "OPRID", "password": "Password", "host": "Gateway host"},
        "placeholders": {"schema": "https", "host": "psigw.example.com", "port": "443", "login": "ML_INTEGRATOR"},
    },
    "conn-fields": {
        "node": _field("Node", "string", DEFAULTS["node"], description="Remote node in the gateway URL (PSFT_EP for FSCM)"),
        "auth_mode": _field("Authentication", "string", DEFAULTS["auth_mode"], enum=list(AUTH_MODES),
                            description="wsse = UsernameToken in the SOAP header; basic = HTTP Basic; oauth2 = Bearer token"),
        "token_url": _field("OAuth2 token URL", ["string", "null"], description="Client-credentials token endpoint"),
        "oauth_client_id": _field("OAuth2 client id", ["string", "null"]),
        "oauth_client_secret": _field("OAuth2 client secret", ["string", "null"], secret=True),
        "oauth_token": _field("OAuth2 token (supplied)", ["string", "null"], secret=True,
                              description="A ready Bearer token; used when no token URL is configured"),
        "journal_service": _field("Journal CI service", "string", DEFAULTS["journal_service"]),
        "customer_service": _field("Customer CI service", "string", DEFAULTS["customer_service"]),
        "readback_query": _field("Read-back query (QAS)", "string", DEFAULTS["readback_query"],
                                 description="Public PS Query returning one row per journal line"),
        "generic_customer_id": _field("Generic customer for guests", "string", DEFAULTS["generic_customer_id"]),
        "setid": _field("SetID", "string", DEFAULTS["setid"]),
        "journal_id_prefix": _field("JOURNAL_ID prefix", "string", DEFAULTS["journal_id_prefix"],
                                    description="1-4 characters; give each pair sharing a business unit its own"),
        "ca_bundle": _field("CA bundle path", ["string", "null"], description="PEM file to verify the gateway's TLS certificate"),
        "concurrency": _field("Parallel calls", "integer", DEFAULTS["concurrency"], minimum=1),
        "timeout": _field("Read timeout (s)", "integer", DEFAULTS["timeout"], minimum=1),
    },
}


@dataclass(frozen=True)
class PeopleSoftConfig:
    """Everything the hook needs, with defaults applied and values checked."""

    base_url: str  # scheme://host:port, no trailing slash
    oprid: str
    password: str = field(repr=False, default="")
    node: str = DEFAULTS["node"]
    auth_mode: str = DEFAULTS["auth_mode"]
    token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(repr=False, default=None)
    oauth_token: str | None = field(repr=False, default=None)
    journal_service: str = DEFAULTS["journal_service"]
    customer_service: str = DEFAULTS["customer_service"]
    readback_query: str = DEFAULTS["readback_query"]
    generic_customer_id: str = DEFAULTS["generic_customer_id"]
    setid: str = DEFAULTS["setid"]
    journal_id_prefix: str = DEFAULTS["journal_id_prefix"]
    ca_bundle: str | None = None
    concurrency: int = DEFAULTS["concurrency"]
    timeout: float = DEFAULTS["timeout"]
    source: str = "peoplesoft connection"  # named in configuration errors

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ConfigError(self.source, "extra.auth_mode", f"one of {', '.join(AUTH_MODES)}", self.auth_mode)
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(self.source, "host", "a host name (scheme http or https)", self.base_url)
        if self.auth_mode == "oauth2" and not (self.oauth_token or (self.token_url and self.oauth_client_id)):
            raise ConfigError(self.source, "extra.token_url", "a token URL with client id/secret, or oauth_token")
        if self.auth_mode != "oauth2" and not self.oprid:
            raise ConfigError(self.source, "login", "the OPRID")
        if self.concurrency < 1:
            raise ConfigError(self.source, "extra.concurrency", "an integer >= 1", self.concurrency)

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url}/PSIGW/PeopleSoftServiceListeningConnector"

    def wsdl_url(self, service: str) -> str:
        return f"{self.gateway_url}/{self.node}/{service}.1.wsdl"

    @property
    def soap_address(self) -> str:
        return f"{self.gateway_url}/{self.node}"

    def query_url(self, query: str) -> str:
        return f"{self.base_url}/PSIGW/RESTListeningConnector/{self.node}/ExecuteQuery.v1/PUBLIC/{query}/JSON/NONFILE"

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or True

    @property
    def secrets(self) -> tuple[str | None, ...]:
        return (self.password, self.oauth_client_secret, self.oauth_token)

    @classmethod
    def from_connection(cls, conn: Any) -> PeopleSoftConfig:
        """Build from an Airflow ``Connection`` (``schema`` carries the scheme; extras are the conn-fields)."""
        extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
        scheme = (conn.schema or "https").strip().lower()
        source = f"connection {conn.conn_id!r}"
        if scheme not in ("http", "https"):
            raise ConfigError(source, "schema", "http or https", scheme)
        if not conn.host:
            raise ConfigError(source, "host", "the gateway host name")
        port = f":{conn.port}" if conn.port else ""
        options = {k: extra[k] for k in DEFAULTS if extra.get(k) not in (None, "")}
        secrets = {k: extra.get(k) or None for k in ("token_url", "oauth_client_id", "oauth_client_secret", "oauth_token", "ca_bundle")}
        try:
            options["concurrency"] = int(options.get("concurrency", DEFAULTS["concurrency"]))
            options["timeout"] = float(options.get("timeout", DEFAULTS["timeout"]))
        except (TypeError, ValueError) as exc:
            raise ConfigError(source, "extra.concurrency/timeout", "numbers", f"{extra.get('concurrency')}/{extra.get('timeout')}") from exc
        return cls(base_url=f"{scheme}://{conn.host}{port}", oprid=conn.login or "", password=conn.password or "",
                   source=source, **options, **secrets)
