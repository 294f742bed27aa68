"""The simulator's command line, one for ``python -m mpesa.simulator`` and ``mpesa-bot simulator``.

Only argparse is imported at the top: ``mpesa-bot`` builds its parser on every start, and the
simulator (aiohttp, cryptography) is loaded only when it is really served.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mpesa.simulator import defaults as d

if TYPE_CHECKING:
    from mpesa.simulator.config import SimulatorConfig

DESCRIPTION = "Serve a local Daraja simulator that answers, validates and calls back like Daraja."
CREDENTIALS = f"""credentials it accepts:
  OAuth consumer key / secret   {d.CONSUMER_KEY} / {d.CONSUMER_SECRET}
  STK BusinessShortCode         {d.SANDBOX_SHORTCODE} and {d.SECOND_SHORTCODE}, passkey
                                {d.SANDBOX_PASSKEY}
                                (Safaricom's public sandbox passkey)
  initiator                     {d.INITIATOR_NAME}; SecurityCredential = the initiator password
                                (default {d.SANDBOX_INITIATOR_PASSWORD}, see --initiator-password)
                                encrypted with the simulator's certificate (RSA, PKCS#1 v1.5):
                                GET /simulator/certificate, or --cert-out PATH
  B2C/status/balance PartyA     any 5-7 digit shortcode, e.g. {d.EXAMPLE_B2C_SHORTCODE}

Control: GET /simulator/state (warnings included), GET /simulator/certificate,
POST /simulator/faults, /simulator/reset, /simulator/drain. Every check: docs/simulator.md."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every simulator option to ``parser`` (both command lines share this one list)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = CREDENTIALS
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on")
    parser.add_argument(
        "--callback-delay",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="how long the customer 'thinks' before a callback is sent (default 1.0)",
    )
    parser.add_argument(
        "--query-pending",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long the no-callback number 254722000000 queries as pending, 4999 (default 30)",
    )
    parser.add_argument(
        "--level",
        choices=("strict", "lenient"),
        default="strict",
        help="strict (default) refuses what the documentation refuses; lenient accepts an "
        "over-long AccountReference (12) or TransactionDesc (13) with a warning",
    )
    parser.add_argument(
        "--timestamp-skew",
        type=_skew,
        default=d.TIMESTAMP_SKEW_S,
        metavar="SECONDS|off",
        help="refuse an STK Timestamp further than this from Nairobi time (default "
        f"{d.TIMESTAMP_SKEW_S:g}; Daraja's own tolerance is unconfirmed)",
    )
    parser.add_argument(
        "--mask-phones",
        nargs="?",
        const="masked",
        default="plain",
        choices=("plain", "masked", "absent"),
        help="phone numbers in callbacks: masked 2547*****149 (the default of this flag) or "
        "absent; C2B MSISDNs are always hashed (v1) or masked (v2)",
    )
    parser.add_argument(
        "--rule-limited",
        nargs="?",
        type=_seconds,
        const=d.RULE_LIMITED_WINDOW_S,
        default=0.0,
        metavar="SECONDS",
        help="opt in: the same amount to the same phone within this window (default "
        f"{d.RULE_LIMITED_WINDOW_S:g}) ends in ResultCode 17 Rule limited",
    )
    parser.add_argument(
        "--initiator-password",
        default=d.SANDBOX_INITIATOR_PASSWORD,
        metavar="PASSWORD",
        help="the password every SecurityCredential must decrypt to "
        f"(default {d.SANDBOX_INITIATOR_PASSWORD})",
    )
    parser.add_argument(
        "--cert-out",
        type=Path,
        metavar="PATH",
        help="write the simulator's certificate (PEM) here, for MPESA_CERT_PATH",
    )
    parser.add_argument(
        "--key",
        type=Path,
        metavar="PATH",
        help="keep the simulator's key pair in this file (created if missing), so the "
        "certificate, and credentials made with it, survive restarts",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator's configuration from parsed options."""
    from mpesa.simulator.config import Level
    from mpesa.simulator.config import PhoneForm
    from mpesa.simulator.config import SimulatorConfig
    from mpesa.simulator.credentials import load_or_create_keys

    return SimulatorConfig(
        callback_delay_s=args.callback_delay,
        query_pending_s=args.query_pending,
        level=Level(args.level),
        timestamp_skew_s=args.timestamp_skew,
        callback_phone=PhoneForm(args.mask_phones),
        rule_limited_window_s=args.rule_limited,
        initiator_password=args.initiator_password,
        keys=load_or_create_keys(args.key) if args.key else None,
    )


def serve(args: argparse.Namespace) -> None:
    """Print where it listens and what it accepts, write the certificate, serve until Ctrl-C."""
    import logging

    from aiohttp import web

    from mpesa.simulator.app import create_simulator
    from mpesa.simulator.credentials import default_keys
    from mpesa.simulator.scenarios import outcome_table

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = config_from_args(args)
    print(f"Daraja simulator on http://{args.host}:{args.port}", flush=True)
    print(
        f"level={config.level} timestamp_skew_s={config.timestamp_skew_s} "
        f"phones={config.callback_phone} rule_limited_window_s={config.rule_limited_window_s:g}",
        flush=True,
    )
    print(f"consumer key={config.consumer_key} secret={config.consumer_secret}", flush=True)
    if args.cert_out is not None:
        keys = config.keys or default_keys()
        args.cert_out.parent.mkdir(parents=True, exist_ok=True)
        args.cert_out.write_bytes(keys.certificate_pem)
        print(f"certificate written to {args.cert_out}", flush=True)
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


def _skew(text: str) -> float | None:
    return None if text.strip().lower() == "off" else _seconds(text)
