"""What the service needs before it can start: credentials, the Airtel client, our own address.

Shared by the composition root (bot/main.py) and `mpesa-bot check` (bot/checks.py), which must
not import each other.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from airtel.client import AirtelClient
from bot.config import Settings
from bot.services.container import airtel_config

log = logging.getLogger(__name__)

# the simulator's public credentials, used only when MPESA_BASE_URL is set and none are given
SIMULATOR_KEY = "simulator-key"
SIMULATOR_SECRET = "simulator-secret"  # noqa: S105 - public, documented simulator credential
# the Airtel simulator's, used the same way when AIRTEL_BASE_URL is set and none are given
AIRTEL_SIMULATOR_ID = "simulator-client-id"
AIRTEL_SIMULATOR_SECRET = "simulator-client-secret"  # noqa: S105 - public simulator credential


class StartupError(Exception):
    """The service cannot start as configured; str() says why and what to do."""


def daraja_credentials(settings: Settings) -> tuple[str, str, str]:
    """Consumer key, secret and passkey; the simulator's only when MPESA_BASE_URL is explicit."""
    key = settings.mpesa_consumer_key.get_secret_value() if settings.mpesa_consumer_key else ""
    secret = (
        settings.mpesa_consumer_secret.get_secret_value() if settings.mpesa_consumer_secret else ""
    )
    passkey = settings.mpesa_passkey.get_secret_value() if settings.mpesa_passkey else ""
    if key and secret and passkey:
        return key, secret, passkey
    if not settings.mpesa_base_url:
        missing = [
            name
            for name, value in (
                ("MPESA_CONSUMER_KEY", key),
                ("MPESA_CONSUMER_SECRET", secret),
                ("MPESA_PASSKEY", passkey),
            )
            if not value
        ]
        raise StartupError(
            f"{', '.join(missing)} not set: the bot will not pretend to talk to Safaricom's "
            f"{settings.mpesa_environment.value}. Set them, or run the offline simulator "
            "(`mpesa-bot simulator`) and point MPESA_BASE_URL at it."
        )
    log.warning(
        "daraja.simulator_credentials base_url=%s: no Daraja credentials given, using the "
        "simulator's public ones",
        settings.mpesa_base_url,
    )
    # imported here: the simulator package is only needed when it stands in for Daraja
    from mpesa.simulator import SANDBOX_PASSKEY

    return key or SIMULATOR_KEY, secret or SIMULATOR_SECRET, passkey or SANDBOX_PASSKEY


def airtel_credentials(settings: Settings) -> tuple[str, str]:
    """Airtel's client id and secret; the simulator's only when AIRTEL_BASE_URL is explicit."""
    client_id = settings.airtel_client_id.get_secret_value() if settings.airtel_client_id else ""
    secret = (
        settings.airtel_client_secret.get_secret_value() if settings.airtel_client_secret else ""
    )
    if client_id and secret:
        return client_id, secret
    if not settings.airtel_base_url:
        missing = [
            name
            for name, value in (("AIRTEL_CLIENT_ID", client_id), ("AIRTEL_CLIENT_SECRET", secret))
            if not value
        ]
        raise StartupError(
            f"{', '.join(missing)} not set, but AIRTEL_ENABLED is true: the bot will not pretend "
            f"to talk to Airtel's {settings.airtel_environment.value}. Set them, or run the "
            "offline simulator (`mpesa-bot simulator --provider airtel`) and point "
            "AIRTEL_BASE_URL at it."
        )
    log.warning(
        "airtel.simulator_credentials base_url=%s: no Airtel credentials given, using the "
        "simulator's public ones",
        settings.airtel_base_url,
    )
    return client_id or AIRTEL_SIMULATOR_ID, secret or AIRTEL_SIMULATOR_SECRET


def build_airtel(
    settings: Settings, *, http: httpx.AsyncClient | None = None
) -> AirtelClient | None:
    """The Airtel client when AIRTEL_ENABLED (explicit time-outs), else None."""
    if not settings.airtel_enabled:
        return None
    client_id, secret = airtel_credentials(settings)
    config = airtel_config(settings, client_id=client_id, client_secret=secret)
    timeout = httpx.Timeout(settings.airtel_timeout_s, connect=5.0, pool=5.0)
    return AirtelClient(config, http=http, timeout=timeout)


def resolve_public_base_url(settings: Settings) -> Settings:
    """PUBLIC_BASE_URL, or our own loopback address when Daraja itself is on this machine."""
    if settings.public_base_url:
        return settings
    host = urlsplit(settings.daraja_base_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        url = f"http://127.0.0.1:{settings.web_port}"
        log.warning("web.public_url_defaulted url=%s (Daraja is on loopback)", url)
        return settings.model_copy(update={"public_base_url": url})
    raise StartupError(
        "PUBLIC_BASE_URL is not set: Safaricom must reach our callbacks at a public https URL"
    )
