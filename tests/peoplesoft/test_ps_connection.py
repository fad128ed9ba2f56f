"""The ``peoplesoft`` connection type: provider form, parsing of an Airflow connection, the hook reading it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from ml_connector.erps.peoplesoft.connection import CONNECTION_TYPE, PeopleSoftConfig
from ml_connector.erps.peoplesoft.hook import PeopleSoftHook
from ml_connector.errors import ConfigError


def conn(**changes: object) -> SimpleNamespace:
    base = dict(conn_id="ps", conn_type="peoplesoft", schema="https", host="psigw.example.com", port=8443,
                login="ML_INTEGRATOR", password="s3cret-pass", extra=json.dumps({"node": "PSFT_XX", "concurrency": "6"}))
    base.update(changes)
    return SimpleNamespace(**base)


def test_connection_type_is_registered_with_its_form() -> None:
    from ml_connector.systems import connection_types

    assert CONNECTION_TYPE in connection_types()
    fields = CONNECTION_TYPE["conn-fields"]
    assert fields["auth_mode"]["schema"]["enum"] == ["basic", "wsse", "oauth2"]
    assert fields["oauth_client_secret"]["schema"]["format"] == "password"
    assert fields["oauth_token"]["schema"]["format"] == "password"
    assert CONNECTION_TYPE["hook-class-name"].endswith(PeopleSoftHook.__name__)


def test_config_from_connection_applies_defaults_and_builds_urls() -> None:
    cfg = PeopleSoftConfig.from_connection(conn())
    assert cfg.base_url == "https://psigw.example.com:8443" and cfg.node == "PSFT_XX" and cfg.concurrency == 6
    assert cfg.auth_mode == "wsse" and cfg.journal_service == "CI_JOURNAL_ENTRY_CI" and cfg.setid == "SHARE"
    assert cfg.wsdl_url("CI_X") == "https://psigw.example.com:8443/PSIGW/PeopleSoftServiceListeningConnector/PSFT_XX/CI_X.1.wsdl"
    assert cfg.query_url("Q").endswith("/PSIGW/RESTListeningConnector/PSFT_XX/ExecuteQuery.v1/PUBLIC/Q/JSON/NONFILE")
    assert "s3cret-pass" not in repr(cfg)


@pytest.mark.parametrize(
    ("changes", "where"),
    [({"schema": "ftp"}, "schema"), ({"host": ""}, "host"),
     ({"extra": json.dumps({"auth_mode": "kerberos"})}, "auth_mode"),
     ({"extra": json.dumps({"auth_mode": "oauth2"})}, "token_url")],
)
def test_bad_connections_say_which_field(changes: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        PeopleSoftConfig.from_connection(conn(**changes))


def test_hook_reads_the_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = {"conn_type": "peoplesoft", "host": "psigw.example.com", "schema": "http", "login": "OPR", "password": "pw-123456",
               "extra": {"auth_mode": "basic", "journal_id_prefix": "WC"}}
    monkeypatch.setenv("AIRFLOW_CONN_PEOPLESOFT_DEFAULT", json.dumps(payload))
    hook = PeopleSoftHook()
    assert hook.config.base_url == "http://psigw.example.com" and hook.config.auth_mode == "basic"
    assert hook.config.journal_id_prefix == "WC" and hook.journal_service == "CI_JOURNAL_ENTRY_CI"
