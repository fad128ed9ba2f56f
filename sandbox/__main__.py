"""``python -m sandbox NAME [options]``: run one simulator in the foreground.

Each simulator package exposes ``main(argv)``; this dispatcher only picks the package.
"""

from __future__ import annotations

import importlib
import sys

SIMULATORS = ("bigcommerce", "peoplesoft")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SIMULATORS:
        print(f"usage: python -m sandbox {{{','.join(SIMULATORS)}}} [options]  (--help per simulator)", file=sys.stderr)
        return 2
    module = importlib.import_module(f"sandbox.{args[0]}.cli")
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
