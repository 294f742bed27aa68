"""The real Daraja client pointed at the simulator, with callbacks to our own server."""

from __future__ import annotations

from bot.callback_paths import callback_urls
from mpesa.client import DarajaClient, DarajaConfig
from mpesa.simulator import SANDBOX_PASSKEY, SANDBOX_SHORTCODE

SIMULATOR_B2C_SHORTCODE = "600996"


def simulator_daraja(sim_url: str, our_url: str, secret: str) -> DarajaClient:
    """A DarajaClient for the simulator at ``sim_url`` whose callbacks reach ``our_url``."""
    return DarajaClient(
        DarajaConfig(
            base_url=sim_url,
            consumer_key="simulator-key",
            consumer_secret="simulator-secret",
            shortcode=SANDBOX_SHORTCODE,
            passkey=SANDBOX_PASSKEY,
            callbacks=callback_urls(our_url, secret),
            b2c_shortcode=SIMULATOR_B2C_SHORTCODE,
            initiator_name="testapi",
            security_credential="c2VjcmV0",
        )
    )
