"""``python -m sandbox peoplesoft [options]``: run the PeopleSoft simulator in the foreground."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sandbox.peoplesoft.auth import MODES
from sandbox.peoplesoft.server import PeopleSoftSim


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox peoplesoft", description="PeopleSoft Integration Broker simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8010)
    p.add_argument("--node", default="PSFT_EP", help="Integration Broker node in the gateway URLs")
    p.add_argument("--oprid", default="ML_INTEGRATOR")
    p.add_argument("--password", default="ps-sandbox-pass")
    p.add_argument("--auth", choices=MODES, default="wsse")
    p.add_argument("--oauth-client-id", default="ml-connector")
    p.add_argument("--oauth-client-secret", default="ps-oauth-secret")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="OAuth2 token lifetime, seconds")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0, help="drives the random message numbers (M######)")
    p.add_argument("--journal-service", default="CI_JOURNAL_ENTRY_CI")
    p.add_argument("--customer-service", default="CI_CUSTOMER_CI")
    p.add_argument("--combinations", type=Path, help='JSON: {"US001": [rules]} or [{"business_unit", "rules"}]')
    return p


def load_combinations_file(path: Path) -> dict[str, list[dict[str, str]]]:
    """Accept ``{"BU": [rules...]}`` or the control API's ``[{"business_unit": .., "rules": [..]}]``."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        return {str(bu): list(rules) for bu, rules in data.items()}
    if isinstance(data, list):
        return {str(item["business_unit"]): list(item["rules"]) for item in data}
    raise ValueError(f"{path}: expected an object keyed by business unit or a list of {{business_unit, rules}}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        combinations = load_combinations_file(args.combinations) if args.combinations else None
        sim = PeopleSoftSim(
            args.host,
            args.port,
            node=args.node,
            oprid=args.oprid,
            password=args.password,
            auth=args.auth,
            oauth_client_id=args.oauth_client_id,
            oauth_client_secret=args.oauth_client_secret,
            token_ttl=args.token_ttl,
            latency_ms=args.latency_ms,
            seed=args.seed,
            journal_service=args.journal_service,
            customer_service=args.customer_service,
            combinations=combinations,
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        print(f"peoplesoft simulator: {exc}", file=sys.stderr)
        return 2
    sim.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
