"""The load step in a process of its own, SIGKILLed right after PeopleSoft accepted a Create.

``python tests/chaos/killed_load.py PAIR N``: runs ``run_load`` like the Airflow task does
(connections, state and include/ from the environment) and kills itself with SIGKILL as soon
as the N-th journal has been created in PeopleSoft, before ``state`` records it. That is the
crash the idempotency keys exist for (DESIGN §5). Exit status 3 means the kill never came.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from ml_connector.config import pipeline
from ml_connector.tasks.load import run_load
from ml_connector.tasks.runtime import Params, Runtime

NEVER_KILLED = 3


def die_after_accepted_creates(rt: Runtime, kill_after: int) -> None:
    """Wrap the ERP adapter's ``post_journal``: after the real call returns ``posted`` N times, SIGKILL."""
    adapter = rt.erp
    real_post = adapter.post_journal
    lock = threading.Lock()
    accepted = 0

    def post_then_die(hook: Any, journal: Any, **kwargs: Any) -> Any:
        nonlocal accepted
        outcome = real_post(hook, journal, **kwargs)
        with lock:
            accepted += outcome.status == "posted"
            if accepted >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    adapter.post_journal = post_then_die  # type: ignore[method-assign]


def main(pair: str, kill_after: int) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    rt = Runtime.open(pipeline(pair), run_id="chaos__killed_load")
    die_after_accepted_creates(rt, kill_after)
    run_load(rt, Params(), worker=f"{pair}/chaos__killed_load/1")
    return NEVER_KILLED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
