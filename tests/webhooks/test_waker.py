"""The waker coalesces a burst into few asset events, survives a failing emit, and restarts after idling.

Ordering is made deterministic with the recorder's gate (the first emit blocks until released),
never with sleeps.
"""

from __future__ import annotations

from ml_connector.webhooks.app import Waker

from tests.webhooks.conftest import EmitRecorder

ORDERS = "ml-connector://bigcommerce/store_a/events"
OTHER = "ml-connector://bigcommerce/store_b/events"


def test_burst_while_an_emit_is_running_becomes_one_event_per_asset() -> None:
    emitted = EmitRecorder()
    emitted.gate.clear()
    waker = Waker(emitted, interval=0.0, idle_timeout=5.0)

    waker.wake(ORDERS)
    assert emitted.started.wait(timeout=10)
    for _ in range(5):
        waker.wake(ORDERS)
    waker.wake(OTHER)
    waker.wake(OTHER)
    assert not waker.flush(timeout=0.05)  # the first emit is still held
    emitted.gate.set()

    assert waker.flush(timeout=10)
    assert emitted.calls == [(ORDERS, {"deliveries": 1}), (ORDERS, {"deliveries": 5}), (OTHER, {"deliveries": 2})]


def test_a_failing_emit_does_not_stop_later_wakes() -> None:
    emitted = EmitRecorder(fail_first=True)
    waker = Waker(emitted, interval=0.0, idle_timeout=5.0)

    waker.wake(ORDERS)
    assert waker.flush(timeout=10)
    waker.wake(ORDERS)
    assert waker.flush(timeout=10)

    assert emitted.calls == [(ORDERS, {"deliveries": 1}), (ORDERS, {"deliveries": 1})]


def test_worker_thread_ends_when_idle_and_starts_again_on_the_next_wake() -> None:
    emitted = EmitRecorder()
    waker = Waker(emitted, interval=0.0, idle_timeout=0.05)

    waker.wake(ORDERS)
    assert waker.flush(timeout=10)
    [first] = emitted.threads
    first.join(timeout=10)
    assert not first.is_alive()

    waker.wake(OTHER)
    assert waker.flush(timeout=10)
    assert emitted.calls == [(ORDERS, {"deliveries": 1}), (OTHER, {"deliveries": 1})]
    assert emitted.threads[1] is not first
