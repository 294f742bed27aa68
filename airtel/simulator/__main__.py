"""``python -m airtel.simulator``: serve the Airtel Money simulator on loopback (see ``--help``).

This module is a twin of ``mpesa/simulator/__main__.py``: ``airtel/`` and ``mpesa/`` stand alone
and import nothing from each other, so the shared shape is kept twice on purpose rather than in a
third package.
"""

from __future__ import annotations

import argparse

from airtel.simulator.cli import DESCRIPTION
from airtel.simulator.cli import add_arguments
from airtel.simulator.cli import serve


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m airtel.simulator``."""
    parser = argparse.ArgumentParser(prog="python -m airtel.simulator", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, print the base URL and outcome table, and serve until Ctrl-C."""
    serve(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
