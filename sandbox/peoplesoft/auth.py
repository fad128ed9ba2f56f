"""Who may call: WS-Security UsernameToken, HTTP Basic, or OAuth2 bearer tokens the sim also issues.

Modes (``--auth``): ``wsse`` accepts a UsernameToken (PasswordText or PasswordDigest) or HTTP
Basic; ``basic`` accepts HTTP Basic only; ``oauth2`` accepts only ``Bearer`` tokens from
``POST /oauth2/token``. Every comparison is constant-time; secrets are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import Enum

from sandbox.peoplesoft.soap import UsernameToken

MODES = ("wsse", "basic", "oauth2")


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no usable credential: 158,46 / HTTP 401
    REFUSED = "refused"  # credential present but wrong: 158,45 / HTTP 401


@dataclass
class AuthSettings:
    mode: str = "wsse"
    oprid: str = "ML_INTEGRATOR"
    password: str = "ps-sandbox-pass"
    client_id: str = "ml-connector"
    client_secret: str = "ps-oauth-secret"
    token_ttl: float = 3600.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"auth mode must be one of {', '.join(MODES)}, got {self.mode!r}")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def parse_bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


class Authenticator:
    """Checks credentials for SOAP and REST calls and plays the OAuth2 token endpoint."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._lock = threading.Lock()

    # -- configuration --------------------------------------------------------------------------
    def rotate(self, *, password: str | None = None, client_secret: str | None = None) -> None:
        with self._lock:
            if password is not None:
                self.settings.password = password
            if client_secret is not None:
                self.settings.client_secret = client_secret

    # -- OAuth2 ---------------------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> dict[str, object] | None:
        s = self.settings
        if not (_same(client_id, s.client_id) and _same(client_secret, s.client_secret)):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + s.token_ttl
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(s.token_ttl)}

    def expire_tokens(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    def _bearer_ok(self, token: str | None) -> bool:
        if token is None:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    # -- checks ---------------------------------------------------------------------------------
    def _password_ok(self, user: str, password: str) -> bool:
        return _same(user, self.settings.oprid) & _same(password, self.settings.password)

    def _token_ok(self, token: UsernameToken) -> bool:
        if token.password is None:
            return False
        if token.password_type == "PasswordDigest":
            nonce = base64.b64decode(token.nonce or "", validate=False)
            raw = nonce + (token.created or "").encode() + self.settings.password.encode()
            expected = base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324 - WSS digest is SHA-1
            return _same(token.username, self.settings.oprid) & _same(token.password, expected)
        return self._password_ok(token.username, token.password)

    def check_soap(self, token: UsernameToken | None, authorization: str | None) -> Verdict:
        mode = self.settings.mode
        if mode == "oauth2":
            return Verdict.OK if self._bearer_ok(parse_bearer(authorization)) else Verdict.MISSING
        basic = parse_basic(authorization)
        if mode == "wsse" and token is not None:
            return Verdict.OK if self._token_ok(token) else Verdict.REFUSED
        if basic is not None:
            return Verdict.OK if self._password_ok(*basic) else Verdict.REFUSED
        return Verdict.MISSING

    def check_rest(self, authorization: str | None) -> Verdict:
        if self.settings.mode == "oauth2":
            return Verdict.OK if self._bearer_ok(parse_bearer(authorization)) else Verdict.MISSING
        basic = parse_basic(authorization)
        if basic is None:
            return Verdict.MISSING
        return Verdict.OK if self._password_ok(*basic) else Verdict.REFUSED

    @property
    def challenge(self) -> str:
        return 'Bearer realm="PeopleSoft"' if self.settings.mode == "oauth2" else 'Basic realm="PeopleSoft"'
