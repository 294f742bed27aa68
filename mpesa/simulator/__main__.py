"""``python -m mpesa.simulator``: serve the Daraja simulator on loopback (see ``--help``)."""

from __future__ import annotations

import argparse

from mpesa.simulator.cli import DESCRIPTION
from mpesa.simulator.cli import add_arguments
from mpesa.simulator.cli import serve


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``python -m mpesa.simulator`` (``mpesa-bot simulator``'s options)."""
    parser = argparse.ArgumentParser(prog="python -m mpesa.simulator", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, print the base URL and outcome table, and serve until Ctrl-C."""
    serve(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
