"""``python -m mpesa.simulator``: serve the Daraja simulator on loopback for the offline demo."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from mpesa.simulator import SimulatorConfig, create_simulator, outcome_table


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, print the base URL and outcome table, and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m mpesa.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--callback-delay", type=float, default=1.0, help="seconds before callbacks are POSTed"
    )
    parser.add_argument(
        "--query-pending",
        type=float,
        default=30.0,
        help="seconds the no-callback number queries as pending (4999)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SimulatorConfig(
        callback_delay_s=args.callback_delay, query_pending_s=args.query_pending
    )
    print(f"Daraja simulator on http://{args.host}:{args.port}", flush=True)
    print(f"consumer key={config.consumer_key} secret={config.consumer_secret}", flush=True)
    print(outcome_table(), flush=True)
    web.run_app(create_simulator(config), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
