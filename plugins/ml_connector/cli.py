"""``ml-connector`` command line: operator tools that need no Airflow scheduler.

Subcommands register themselves on the argparse tree; each handler returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ml_connector.core.mapping import MappingErrors
from ml_connector.mappings import load_mapping


def _check_mappings(args: argparse.Namespace) -> int:
    """Validate each mapping file; print every error (stderr) or an ok line (stdout)."""
    failed = False
    for path in args.files:
        try:
            mapping = load_mapping(path)
        except MappingErrors as exc:
            failed = True
            for error in exc.errors:
                print(error, file=sys.stderr)
            continue
        print(f"ok: {path} ({len(mapping.roles)} roles)")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-connector", description="ml-connector operator tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mappings = commands.add_parser("mappings", help="work with pair mapping files (include/mappings)")
    mapping_commands = mappings.add_subparsers(dest="mappings_command", required=True, metavar="ACTION")
    check = mapping_commands.add_parser("check", help="validate mapping files and list every error")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(handler=_check_mappings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ml-connector`` console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
