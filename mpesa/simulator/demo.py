"""A one-minute look at the Daraja client: STK Push against the simulator, callback parsed.

``python -m mpesa.simulator.demo`` starts the simulator and a callback receiver on loopback, sends
one successful and one cancelled STK Push with the real client, waits for each callback, and prints
what was parsed. Exits 0 only if both outcomes are the expected ones.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from mpesa.callbacks import ACK
from mpesa.callbacks import StkCallback
from mpesa.callbacks import parse_stk_callback
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.codes import describe_result
from mpesa.models import CallbackUrls
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def run_demo() -> int:
    """Run the scenario; return the process exit code."""
    callbacks: asyncio.Queue[StkCallback] = asyncio.Queue()

    async def on_stk(request: web.Request) -> web.Response:
        await callbacks.put(parse_stk_callback(await request.read()))
        return web.json_response(ACK)

    receiver_app = web.Application()
    receiver_app.router.add_post("/hooks/stk", on_stk)
    sim_runner, sim_url = await _serve(create_simulator(SimulatorConfig(callback_delay_s=0.5)))
    rec_runner, rec_url = await _serve(receiver_app)
    config = DarajaConfig(
        base_url=sim_url,
        consumer_key="simulator-key",
        consumer_secret="simulator-secret",  # noqa: S106 - the simulator's public demo secret
        shortcode="174379",
        passkey=SANDBOX_PASSKEY,
        callbacks=CallbackUrls(*([f"{rec_url}/hooks/stk"] * 11)),
    )
    failures = 0
    print(f"Daraja simulator at {sim_url}; callbacks to {rec_url}/hooks/stk")
    try:
        async with DarajaClient(config) as daraja:
            for phone, expected in (("254708374149", "0"), ("254722000032", "1032")):
                push = await daraja.stk_push(
                    msisdn=phone, amount=150, reference="HP7K2Q9X", description="Order"
                )
                print(f"-> STK Push to {phone}: KES 150, checkout {push.checkout_request_id}")
                result = await asyncio.wait_for(callbacks.get(), timeout=10)
                info = describe_result(result.result_code, result.result_desc)
                print(
                    f"<- callback {result.checkout_request_id}: {info.category} "
                    f"(code {result.result_code}) receipt={result.receipt} amount={result.amount}"
                )
                print(f"   {info.meaning} {info.next_step}")
                if result.result_code != expected:
                    failures += 1
    finally:
        await rec_runner.cleanup()
        await sim_runner.cleanup()
    print("demo OK" if not failures else f"demo FAILED: {failures} unexpected outcome(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run_demo()))
