"""Every log line captured as the service writes it, and a search for phones and secrets in them.

Phones are logged masked (``2547****149``), and so are ids that embed one: a CheckoutRequestID
ends in the customer's last 9 digits. Secrets are never logged at all.
"""

from __future__ import annotations

import logging
import re

import pytest
from pydantic import SecretStr

import bot.demo
import bot.main
from bot.config import Settings
from mpesa.phone import mask_id
from mpesa.simulator import SANDBOX_PASSKEY

MSISDN = re.compile(r"(?<![0-9])254[17][0-9]{8}(?![0-9])")
PHONE_BEARING_ID = re.compile(r"ws_CO_[0-9]{23,}")
BOT_TOKEN = "7000000001:AAH-bot-token-never-logged-0123"
CALLBACK_SECRET = "cb-secret-never-logged-4567"
SMTP_PASSWORD = "smtp-password-never-logged"
AT_API_KEY = "at-api-key-never-logged-89ab"
WEBHOOK_SECRET = "shop-webhook-secret-never-logged"


class LogCapture(logging.Handler):
    """Keeps every record as the service would write it, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def capture_logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """Capture every line at DEBUG from now on, with the service's own quieting of libraries."""
    capture = LogCapture()
    real_configure = bot.main.configure_logging
    root = logging.getLogger()
    # undone after the test: pytest's own handlers and the root level come back
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    def configure(_level: str) -> None:
        # the most an operator can ask for: LOG_LEVEL=DEBUG
        real_configure("DEBUG")
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(capture)

    monkeypatch.setattr(bot.main, "configure_logging", configure)
    monkeypatch.setattr(bot.demo, "configure_logging", configure)
    configure("DEBUG")
    return capture


def leaks(lines: list[str], secrets: dict[str, str], phones: list[str]) -> list[str]:
    """Every line that shows a phone number, a phone-bearing id or a secret, with the reason."""
    found = []
    for line in lines:
        if MSISDN.search(line):
            found.append(f"phone number: {line}")
        if PHONE_BEARING_ID.search(line):
            found.append(f"unmasked CheckoutRequestID: {line}")
        for phone in phones:
            if phone[3:] in line:  # its 9 digits, in any form: 0708374149, ws_CO_…708374149
                found.append(f"digits of {mask_id(phone)}: {line}")
        found += [f"{name}: {line}" for name, value in secrets.items() if value in line]
    return found


def secrets_of(settings: Settings) -> dict[str, str]:
    """Every secret value the settings hold, and the secret half of the bot token."""
    token = _value(settings.telegram_bot_token)
    values = {
        "bot token": token,
        "bot token secret part": token.split(":")[1],
        "consumer secret": _value(settings.mpesa_consumer_secret) or "simulator-secret",
        "passkey": _value(settings.mpesa_passkey) or SANDBOX_PASSKEY,
        "initiator password": _value(settings.mpesa_initiator_password),
        "security credential": _value(settings.mpesa_security_credential),
        "callback secret": settings.resolved_callback_secret(),
        "SMTP password": _value(settings.smtp_password),
        "Africa's Talking API key": _value(settings.at_api_key),
        "shop webhook secret": _value(settings.shop_webhook_secret),
        "Airtel client secret": _value(settings.airtel_client_secret),
        "Airtel callback hash key": _value(settings.airtel_callback_hash_key),
    }
    return {name: value for name, value in values.items() if value}


def with_secrets(settings: Settings) -> Settings:
    """The same settings holding a distinctive value for every secret (to search the logs for)."""
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(BOT_TOKEN),
            "callback_secret": SecretStr(CALLBACK_SECRET),
            "smtp_username": "shop",
            "smtp_password": SecretStr(SMTP_PASSWORD),
            "at_api_key": SecretStr(AT_API_KEY),
            "log_level": "DEBUG",
        }
    )


def _value(secret: SecretStr | str | None) -> str:
    if secret is None:
        return ""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret
