"""The receiver end to end in-process: HTTP status, what the inbox holds, and whether the DAG was woken.

Every case asserts all three, because a receiver that answers right but stores wrong (or wakes
the DAG for a forgery) is the bug that matters.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ml_connector.settings import specs_dir
from ml_connector.storefronts.bigcommerce.adapter import ADAPTER
from ml_connector.webhooks.app import MAX_BODY_BYTES
from standardwebhooks.webhooks import Webhook

from tests.webhooks.conftest import (
    ASSET_URI,
    CLIENT_SECRET,
    HEADER_SECRET,
    SECRET_HEADER,
    STORE_HASH,
    URL,
    Receiver,
    encode,
    payload,
    signed_headers,
)

BODY = encode(payload())
EXAMPLES = specs_dir() / "bigcommerce" / "webhook-payload-examples"


def assert_rejected(receiver: Receiver, response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert receiver.inbox() == []
    assert receiver.wakes() == []


# -- accepted ---------------------------------------------------------------------------------


def test_valid_signature_is_stored_once_and_wakes_the_dag(receiver: Receiver) -> None:
    response = receiver.post(BODY, signed_headers(BODY, delivery_id="msg_valid"))

    assert response.status_code == 200
    assert response.json() == {"accepted": True, "duplicate": False, "delivery_id": "msg_valid"}
    [row] = receiver.inbox()
    assert (row.delivery_id, row.topic, row.object_type, row.object_id) == (
        "msg_valid", "store/order/created", "order", "250")
    assert row.payload == json.loads(BODY)
    assert receiver.wakes() == [(ASSET_URI, {"deliveries": 1})]


def test_signature_made_by_the_standardwebhooks_library_is_accepted(receiver: Receiver) -> None:
    """Cross-check: the reference implementation keyed by the client secret's UTF-8 bytes."""
    sent_at = dt.datetime.now(dt.UTC)
    library = Webhook(base64.b64encode(CLIENT_SECRET.encode()).decode())
    headers = {"webhook-id": "msg_lib", "webhook-timestamp": str(int(sent_at.timestamp())),
               "webhook-signature": library.sign("msg_lib", sent_at, BODY.decode()), SECRET_HEADER: HEADER_SECRET}

    assert headers["webhook-signature"] == signed_headers(
        BODY, delivery_id="msg_lib", timestamp=int(sent_at.timestamp()))["webhook-signature"]
    assert receiver.post(BODY, headers).status_code == 200
    assert [r.delivery_id for r in receiver.inbox()] == ["msg_lib"]


def test_custom_header_alone_is_accepted_and_keyed_by_the_payload_hash(receiver: Receiver) -> None:
    """BigCommerce's documented mechanism; without webhook-id the payload's hash identifies the event."""
    body = encode(payload(event_hash="b" * 40))
    response = receiver.post(body, {SECRET_HEADER: HEADER_SECRET, "Content-Type": "application/json"})

    assert response.status_code == 200
    assert [r.delivery_id for r in receiver.inbox()] == ["b" * 40]
    assert receiver.wakes() == [(ASSET_URI, {"deliveries": 1})]


# -- rejected: nothing stored, nothing woken ---------------------------------------------------------


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"id":250', b'"id":251'), signed_headers(body)


def _without(*names: str) -> Callable[[bytes], tuple[bytes, dict[str, str]]]:
    def build(body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = signed_headers(body)
        return body, {k: v for k, v in headers.items() if k not in names}
    return build


REJECTIONS: dict[str, Callable[[bytes], tuple[bytes, dict[str, str]]]] = {
    "tampered body": _tampered,
    "wrong secret": lambda b: (b, signed_headers(b, secret="not-the-client-secret")),
    "stale timestamp": lambda b: (b, signed_headers(b, timestamp=int(time.time()) - 301)),
    "timestamp from the future": lambda b: (b, signed_headers(b, timestamp=int(time.time()) + 360)),
    "missing signature and custom header": _without("webhook-signature", SECRET_HEADER),
    "signature without the required custom header": _without(SECRET_HEADER),
    "bad custom header": lambda b: (b, signed_headers(b, header_secret="guessed-header-secret")),
    "custom header alone but wrong": lambda b: (b, {SECRET_HEADER: "guessed-header-secret"}),
    "signature without webhook-id": _without("webhook-id"),
    "signature not base64": lambda b: (b, {**signed_headers(b), "webhook-signature": "v1,@@not-base64@@"}),
    "no credentials at all": lambda b: (b, {"Content-Type": "application/json"}),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_unverified_delivery_is_401_and_leaves_nothing(receiver: Receiver, case: str) -> None:
    body, headers = REJECTIONS[case](BODY)
    assert_rejected(receiver, receiver.post(body, headers), 401)


def test_event_from_another_store_is_401(receiver: Receiver) -> None:
    """Signed with our secret (a shared app), but produced by a store this connection is not for."""
    body = encode(payload(store_hash="someotherstore"))
    assert_rejected(receiver, receiver.post(body, signed_headers(body)), 401)


@pytest.mark.parametrize("conn_id", ["no_such_connection", "bad%20id%0A", "a" * 251])
def test_unknown_or_impossible_connection_is_401_not_500(receiver: Receiver, conn_id: str) -> None:
    response = receiver.post(BODY, signed_headers(BODY), url=f"/webhooks/bigcommerce/{conn_id}")
    assert_rejected(receiver, response, 401)


def test_unknown_storefront_is_404(receiver: Receiver) -> None:
    response = receiver.post(BODY, signed_headers(BODY), url="/webhooks/shopify/bigcommerce_default")
    assert_rejected(receiver, response, 404)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"\xff\xfe binary", encode([1, 2, 3]), encode({"data": {"id": 1}}),
     encode(payload(data={"type": "order"})), encode(payload("store/order/refund/created", {"type": "order", "id": 9}))],
    ids=["not json", "not utf-8", "array", "no scope", "no object id", "refund without refund id"],
)
def test_malformed_body_with_valid_signature_is_400(receiver: Receiver, body: bytes) -> None:
    assert_rejected(receiver, receiver.post(body, signed_headers(body)), 400)


def _oversize_body() -> bytes:
    return encode(payload(data={"type": "order", "id": 250, "padding": "x" * MAX_BODY_BYTES}))


def test_oversize_body_with_content_length_is_413(receiver: Receiver) -> None:
    body = _oversize_body()
    assert_rejected(receiver, receiver.post(body, signed_headers(body)), 413)


def test_oversize_chunked_body_without_content_length_is_413(receiver: Receiver) -> None:
    body = _oversize_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start:start + 16 * 1024]

    request = receiver.client.build_request("POST", URL, content=chunks(), headers=signed_headers(body))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_rejected(receiver, receiver.client.send(request), 413)


def test_body_just_under_the_limit_is_accepted(receiver: Receiver) -> None:
    body = encode(payload(data={"type": "order", "id": 250, "padding": ""}))
    body = encode(payload(data={"type": "order", "id": 250, "padding": "x" * (MAX_BODY_BYTES - len(body))}))
    assert len(body) == MAX_BODY_BYTES
    assert receiver.post(body, signed_headers(body)).status_code == 200
    assert len(receiver.inbox()) == 1


def test_inbox_failure_is_503_and_wakes_nothing(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform retries a non-2xx, so a state store outage loses no delivery."""
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", "sqlite:////proc/no-such-dir/state.db")
    response = receiver.post(BODY, signed_headers(BODY))
    assert response.status_code == 503
    assert receiver.wakes() == []


# -- replays and concurrency ------------------------------------------------------------------------


def test_replayed_delivery_is_200_duplicate_stored_once_woken_once(receiver: Receiver) -> None:
    first = receiver.post(BODY, signed_headers(BODY, delivery_id="msg_replay"))
    assert receiver.wakes() == [(ASSET_URI, {"deliveries": 1})]
    replay = receiver.post(BODY, signed_headers(BODY, delivery_id="msg_replay"))

    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (replay.status_code, replay.json()["duplicate"]) == (200, True)
    assert [r.delivery_id for r in receiver.inbox()] == ["msg_replay"]
    assert receiver.wakes() == [(ASSET_URI, {"deliveries": 1})]


def test_concurrent_duplicate_deliveries_are_stored_exactly_once(receiver: Receiver) -> None:
    threads_count = 8
    start = threading.Barrier(threads_count)
    results: list[Any] = []
    lock = threading.Lock()

    def deliver() -> None:
        headers = signed_headers(BODY, delivery_id="msg_race")
        start.wait(timeout=30)
        response = receiver.post(BODY, headers)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=deliver) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.status_code for r in results] == [200] * threads_count
    assert sorted(r.json()["duplicate"] for r in results) == [False] + [True] * (threads_count - 1)
    assert [r.delivery_id for r in receiver.inbox()] == ["msg_race"]
    assert sum(extra["deliveries"] for _, extra in receiver.wakes()) == 1


# -- what the inbox is told about ----------------------------------------------------------------


def _example(name: str) -> dict[str, Any]:
    body = json.loads((EXAMPLES / f"{name}.json").read_text())
    body["producer"] = f"stores/{STORE_HASH}"
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_example("store_order_created"), ("store/order/created", "order", "250")),
        (_example("store_order_refund_created"), ("store/order/refund/created", "refund", "3")),
        (_example("store_customer_updated"), ("store/customer/created", "customer", "32")),
        (payload("store/customer/updated", {"type": "customer", "id": 77}), ("store/customer/updated", "customer", "77")),
        (payload("store/customer/address/updated", {"type": "customer", "id": 901, "address": {"customer_id": 77}}),
         ("store/customer/address/updated", "customer", "77")),
        (payload("store/order/transaction/created", {"type": "transaction", "order_id": "250", "transaction_id": 5}),
         ("store/order/transaction/created", "order", "250")),
    ],
    ids=["order", "refund", "customer example", "customer", "customer address", "transaction"],
)
def test_scopes_map_to_object_type_and_id(receiver: Receiver, body: dict[str, Any], expected: tuple[str, ...]) -> None:
    raw = encode(body)
    assert receiver.post(raw, signed_headers(raw, delivery_id="msg_scope")).status_code == 200
    [row] = receiver.inbox()
    assert (row.topic, row.object_type, row.object_id) == expected


# -- logs ----------------------------------------------------------------------------------------


def test_logs_never_carry_secrets_or_signatures(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    wrong = signed_headers(BODY, secret="not-the-client-secret", header_secret=HEADER_SECRET + "x")
    good = signed_headers(BODY, delivery_id="msg_logged")
    with caplog.at_level(logging.DEBUG, logger="ml_connector"):
        for case in REJECTIONS.values():
            receiver.post(*case(BODY))
        receiver.post(BODY, wrong)
        receiver.post(BODY, good)
        receiver.post(b"not json", signed_headers(b"not json"))
    assert "rejected" in caplog.text  # the rejections were logged, so the check below means something
    for secret in (CLIENT_SECRET, HEADER_SECRET, wrong[SECRET_HEADER], wrong["webhook-signature"],
                   good["webhook-signature"], good["webhook-signature"].split(",", 1)[1]):
        assert secret not in caplog.text


def test_a_crash_in_verification_is_500_and_its_message_is_not_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = signed_headers(BODY)

    def crash(conn_id: str, given: dict[str, str], body: bytes) -> None:
        raise ValueError(f"cannot parse {given['webhook-signature']}")

    monkeypatch.setattr(ADAPTER, "verify_webhook", crash)
    with caplog.at_level(logging.DEBUG, logger="ml_connector"):
        response = receiver.post(BODY, headers)
    assert_rejected(receiver, response, 500)
    assert "ValueError at test_receiver.py" in caplog.text
    assert headers["webhook-signature"] not in caplog.text
