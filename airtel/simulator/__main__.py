"""``python -m airtel.simulator``: serve the Airtel Money simulator on loopback."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from airtel.security import HashInput, public_key_pem
from airtel.simulator import Level, Portal, SimulatorConfig, create_simulator, outcome_table
from airtel.simulator.keys import default_private_key

DEFAULT_PORT = 8766


def build_parser(prog: str = "python -m airtel.simulator") -> argparse.ArgumentParser:
    """The simulator's options (``mpesa-bot simulator --provider airtel`` forwards them)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the Airtel Money simulator. Credentials: client id "
        "simulator-client-id, secret simulator-client-secret, PIN 1234, country KE, currency KES.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    add_options(parser)
    return parser


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the Airtel-specific options (shared with ``mpesa-bot simulator``)."""
    parser.add_argument(
        "--callback-delay", type=float, default=1.0, help="seconds before callbacks are POSTed"
    )
    parser.add_argument(
        "--enquiry-pending",
        type=float,
        default=30.0,
        help="seconds the no-callback and ambiguous numbers stay TIP/TA",
    )
    parser.add_argument("--callback-url", help="the portal's collection callback URL")
    parser.add_argument(
        "--callback-hash-key", help="turn on callback authentication with this key (adds hash)"
    )
    parser.add_argument(
        "--hash-input",
        choices=[str(choice) for choice in HashInput],
        default=str(HashInput.TRANSACTION_JSON),
        help="which bytes the callback hash covers",
    )
    parser.add_argument(
        "--require-signing", action="store_true", help="money POSTs need x-signature and x-key"
    )
    parser.add_argument(
        "--level",
        choices=[str(choice) for choice in Level],
        default=str(Level.STRICT),
        help="strict refuses what the reference only guesses Airtel refuses; lenient warns",
    )
    parser.add_argument(
        "--key-out", type=Path, help="write the simulator's RSA public key (PEM) to this file"
    )


def config_from(args: argparse.Namespace) -> SimulatorConfig:
    """The simulator configuration the parsed options describe."""
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
    """Print the base URL and outcome table, write the key if asked, and serve until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = config_from(args)
    key = default_private_key()
    if args.key_out is not None:
        args.key_out.write_text(public_key_pem(key.public_key()))
    print(f"Airtel Money simulator on http://{args.host}:{args.port}", flush=True)
    print(f"client id={config.client_id} secret={config.client_secret} pin=1234", flush=True)
    if args.key_out is not None:
        print(f"public key written to {args.key_out}", flush=True)
    print(outcome_table(), flush=True)
    web.run_app(create_simulator(config), host=args.host, port=args.port, print=None)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    serve(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
