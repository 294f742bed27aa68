"""The real Daraja client pointed at the simulator, with callbacks to our own server."""

from __future__ import annotations

import httpx

from bot.callback_paths import callback_urls
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SANDBOX_SHORTCODE
from tests.helpers.simulator import RunningSimulator

SIMULATOR_B2C_SHORTCODE = "600996"


def simulator_daraja(
    sim: RunningSimulator, our_url: str, secret: str, *, http: httpx.AsyncClient | None = None
) -> DarajaClient:
    """A DarajaClient for ``sim`` whose callbacks reach ``our_url`` (over ``http`` when given).

    The SecurityCredential is the sandbox initiator password encrypted by ``mpesa.security`` with
    the certificate the simulator served, so the simulator's decryption proves it end to end.
    """
    return DarajaClient(
        DarajaConfig(
            base_url=sim.url,
            consumer_key="simulator-key",
            consumer_secret="simulator-secret",
            shortcode=SANDBOX_SHORTCODE,
            passkey=SANDBOX_PASSKEY,
            callbacks=callback_urls(our_url, secret),
            b2c_shortcode=SIMULATOR_B2C_SHORTCODE,
            initiator_name="testapi",
            security_credential=sim.credential(),
        ),
        http=http,
    )
