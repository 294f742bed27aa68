"""The `mpesa-bot` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="mpesa-bot", description="M-Pesa payments from a Telegram chat."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="apply database migrations", description="Apply migrations.")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mpesa-bot` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "migrate":
        from models.db import migrate

        applied = asyncio.run(migrate(settings.resolved_database_url))
        print(f"applied {len(applied)} migration(s)" if applied else "database is up to date")
