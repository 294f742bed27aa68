"""`mpesa-bot check`: what an operator runs before going live, one pass/fail line per thing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from airtel.errors import AirtelError
from bot.config import Settings
from bot.services.container import daraja_config
from bot.startup import StartupError
from bot.startup import build_airtel
from bot.startup import daraja_credentials
from bot.startup import resolve_public_base_url
from models.db import DatabaseNotMigrated
from models.db import close_db
from models.db import init_db
from models.db import pending_migrations
from mpesa.client import DarajaClient
from mpesa.errors import DarajaError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


async def run_checks(settings: Settings, *, database_open: bool = False) -> list[CheckResult]:
    """Check settings, Daraja OAuth, Airtel, Telegram getMe, the database, SMS and the SMTP
    login; move no money, send nothing.

    ``database_open``: the running service asks (the dashboard), so its open database is
    checked instead of opening and closing one.
    """
    results = [_settings_result(settings)]
    try:
        key, secret, passkey = daraja_credentials(settings)
        settings = resolve_public_base_url(settings)
        config = daraja_config(settings, consumer_key=key, consumer_secret=secret, passkey=passkey)
    except (StartupError, DarajaError, ValueError) as exc:
        results.append(CheckResult("daraja", False, str(exc)))
    else:
        results.append(await _daraja(config))
    results.append(await _airtel(settings))
    results.append(await _telegram(settings))
    results.append(await (_open_database(settings) if database_open else _database(settings)))
    results.append(_sms(settings))
    results.append(await _email(settings))
    return results


def _settings_result(settings: Settings) -> CheckResult:
    warnings = settings.warnings()
    if not warnings:
        return CheckResult("settings", True, "all settings valid")
    return CheckResult(
        "settings", True, f"valid, {len(warnings)} warning(s): " + " | ".join(warnings)
    )


async def _daraja(config) -> CheckResult:
    async with DarajaClient(config) as daraja:
        try:
            await daraja.access_token()
        except DarajaError as exc:
            return CheckResult("daraja", False, f"OAuth at {config.base_url} failed: {exc}")
    return CheckResult("daraja", True, f"OAuth token received from {config.base_url}")


async def _airtel(settings: Settings) -> CheckResult:
    """Airtel's token with our client id and secret, and the key the PIN is encrypted with."""
    if not settings.airtel_enabled:
        return CheckResult("airtel", True, "off (AIRTEL_ENABLED=false): Airtel numbers are refused")
    try:
        airtel = build_airtel(settings)
    except (StartupError, AirtelError, ValueError, OSError) as exc:
        return CheckResult("airtel", False, str(exc))
    assert airtel is not None
    base = settings.airtel_api_base_url
    async with airtel:
        try:
            await airtel.access_token()
        except AirtelError as exc:
            return CheckResult("airtel", False, f"token at {base} failed: {exc}")
        try:
            await airtel.public_key()
        except AirtelError as exc:
            return CheckResult("airtel", False, f"token ok, but no RSA key for the PIN: {exc}")
    notes = [f"token received from {base}, PIN key ready"]
    if settings.airtel_disbursement_pin is None:
        notes.append("AIRTEL_DISBURSEMENT_PIN is not set: Airtel payouts are refused")
    try:
        public = resolve_public_base_url(settings).public_base_url or "PUBLIC_BASE_URL"
    except StartupError:
        public = "PUBLIC_BASE_URL"
    # the secret segment is not printed: it is what keeps the URL unguessable
    url = f"{public.rstrip('/')}/hooks/<CALLBACK_SECRET>/airtel/collection"
    notes.append(f"set the app's callback URL in the Airtel portal to {url}")
    return CheckResult("airtel", True, "; ".join(notes))


async def _telegram(settings: Settings) -> CheckResult:
    if settings.telegram_bot_token is None:
        return CheckResult("telegram", False, "TELEGRAM_BOT_TOKEN is not set")
    root = settings.telegram_api_base_url.rstrip("/")
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
    )
    try:
        async with bot:
            me = bot.bot
    except TelegramError as exc:
        return CheckResult("telegram", False, f"getMe at {root} failed: {exc}")
    return CheckResult("telegram", True, f"bot @{me.username} (id {me.id}) answers at {root}")


async def _database(settings: Settings) -> CheckResult:
    url = settings.resolved_database_url
    where = url.split("@")[-1]  # never print a password
    try:
        await init_db(url)
    except DatabaseNotMigrated as exc:
        return CheckResult("database", False, str(exc))
    except Exception as exc:
        return CheckResult("database", False, f"cannot open {where}: {exc}")
    await close_db()
    return CheckResult("database", True, f"{where} is reachable and migrated")


async def _open_database(settings: Settings) -> CheckResult:
    where = settings.resolved_database_url.split("@")[-1]
    try:
        missing = await pending_migrations()
    except Exception as exc:
        return CheckResult("database", False, f"{where} does not answer: {exc}")
    if missing:
        return CheckResult("database", False, f"{where} lacks migrations: {', '.join(missing)}")
    return CheckResult("database", True, f"{where} is reachable and migrated")


def _sms(settings: Settings) -> CheckResult:
    if settings.at_username and settings.at_api_key is not None:
        mode = "sandbox" if settings.at_username == "sandbox" else "live"
        return CheckResult("sms", True, f"Africa's Talking ({mode}) as {settings.at_username}")
    return CheckResult("sms", True, "no Africa's Talking credentials: SMS receipts are only logged")


async def _email(settings: Settings) -> CheckResult:
    """Connect to SMTP_HOST and log in as configured (no e-mail is sent)."""
    from bot.notify.smtp import EmailDeliveryError
    from bot.notify.smtp import check_login

    if not settings.smtp_host:
        return CheckResult("email", True, "SMTP_HOST is not set: e-mails are only logged")
    try:
        detail = await check_login(settings)
    except EmailDeliveryError as exc:
        return CheckResult("email", False, str(exc))
    who = ", ".join(settings.admin_emails) or "nobody (ADMIN_EMAILS is empty)"
    when = settings.daily_summary_time or "never (off)"
    return CheckResult("email", True, f"{detail}; alerts and the {when} summary go to {who}")
