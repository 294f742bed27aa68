"""The Airtel simulator's command line: ``python -m airtel.simulator`` and
``mpesa-bot simulator --provider airtel``.

Only argparse is imported at the top: ``mpesa-bot`` builds its parser on every start, and the
simulator (aiohttp, cryptography) is loaded only when it is really served.

Its serving loop is a twin of ``mpesa/simulator/cli.py``: ``airtel/`` and ``mpesa/`` stand alone
and import nothing from each other, so the shared shape is kept twice on purpose rather than in a
third package.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airtel.simulator.config import SimulatorConfig

DEFAULT_PORT = 8766
DESCRIPTION = (
    "Serve a local Airtel Money simulator that answers, validates and calls back like Airtel."
)
CREDENTIALS = """credentials it accepts:
  OAuth client id / secret   simulator-client-id / simulator-client-secret (JSON body)
  headers                    X-Country: KE, X-Currency: KES
  disbursement PIN           1234, RSA-encrypted with the simulator's public key (PKCS#1 v1.5,
                             OAEP-SHA1 or OAEP-SHA256): GET /v1/rsa/encryption-keys (as Airtel),
                             GET /simulator/public-key (PEM), or --key-out PATH
  collection callbacks       POSTed to --callback-url (the portal's setting), with a hash
                             when --callback-hash-key is given

Control: GET /simulator/state (warnings included), POST /simulator/faults, /simulator/portal,
/simulator/reset, /simulator/drain, /simulator/expire-tokens. Every check: docs/airtel.md."""

# the options only the Airtel simulator has (mpesa-bot refuses them without --provider airtel)
AIRTEL_ONLY = (
    "enquiry_pending",
    "callback_url",
    "callback_hash_key",
    "hash_input",
    "require_signing",
    "key_out",
)
HASH_INPUTS = ("transaction", "body", "body-without-hash")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``python -m airtel.simulator``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = CREDENTIALS
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--callback-delay",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how long the payer 'thinks' before the callback is sent (default 1.0)",
    )
    parser.add_argument(
        "--level",
        choices=("strict", "lenient"),
        default="strict",
        help="strict (default) refuses what the reference only guesses Airtel refuses "
        "(reference 4-64 letters and digits, transaction ids of letters and digits); "
        "lenient accepts them with a warning",
    )
    add_airtel_arguments(parser)


def add_airtel_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The Airtel-only options (``mpesa-bot simulator`` shows them in their own group)."""
    parser.add_argument(
        "--enquiry-pending",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long the no-callback and ambiguous numbers enquire as TIP/TA (default 30)",
    )
    parser.add_argument(
        "--callback-url", metavar="URL", help="the portal's collection callback URL"
    )
    parser.add_argument(
        "--callback-hash-key",
        metavar="KEY",
        help="turn the portal's callback authentication on: callbacks carry a hash",
    )
    parser.add_argument(
        "--hash-input",
        choices=HASH_INPUTS,
        default="transaction",
        help="which bytes the callback hash covers (default: compact JSON of transaction)",
    )
    parser.add_argument(
        "--require-signing",
        action="store_true",
        help="money POSTs must carry a valid x-signature and x-key",
    )
    parser.add_argument(
        "--key-out",
        type=Path,
        metavar="PATH",
        help="write the simulator's RSA public key (PEM) here, for AIRTEL_PUBLIC_KEY_PATH",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator's configuration from parsed options."""
    from airtel.security import HashInput
    from airtel.simulator.config import Level
    from airtel.simulator.config import Portal
    from airtel.simulator.config import SimulatorConfig

    return SimulatorConfig(
        callback_delay_s=args.callback_delay,
        enquiry_pending_s=args.enquiry_pending,
        level=Level(args.level),
        portal=Portal(
            callback_url=args.callback_url,
            callback_hash_key=args.callback_hash_key,
            hash_input=HashInput(args.hash_input),
            require_signing=args.require_signing,
        ),
    )


def serve(args: argparse.Namespace) -> None:
    """Print where it listens and what it accepts, write the key if asked, serve until Ctrl-C."""
    import logging

    from aiohttp import web

    from airtel.security import public_key_pem
    from airtel.simulator.app import create_simulator
    from airtel.simulator.keys import default_private_key
    from airtel.simulator.scenarios import outcome_table

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = config_from_args(args)
    portal = config.portal
    print(f"Airtel Money simulator on http://{args.host}:{args.port}", flush=True)
    print(
        f"level={config.level} callback_url={portal.callback_url or '-'} "
        f"callback_hash={'on' if portal.callback_hash_key else 'off'} "
        f"require_signing={portal.require_signing}",
        flush=True,
    )
    print(f"client id={config.client_id} secret={config.client_secret} pin=1234", flush=True)
    if args.key_out is not None:
        args.key_out.parent.mkdir(parents=True, exist_ok=True)
        args.key_out.write_text(public_key_pem(default_private_key().public_key()))
        print(f"public key written to {args.key_out}", flush=True)
    print(outcome_table(), flush=True)
    web.run_app(create_simulator(config), host=args.host, port=args.port, print=None)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value
