"""`run` as one process: polling or webhook on the callback server, jobs, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.main import StartupError
from bot.main import build_runtime
from bot.main import serve
from bot.main import webhook_secret
from bot.telegram.transport import ApiCall
from bot.telegram.transport import InProcessBotApi
from bot.telegram.transport import text_message
from bot.web.telegram_webhook import SECRET_HEADER
from models import Payment
from models import PaymentStatus
from models.db import DatabaseNotMigrated
from models.db import migrate
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SimulatorConfig
from tests.helpers.ports import free_port

ADMIN = 1001


@pytest.fixture
async def simulator(simulators) -> str:
    return (await simulators(SimulatorConfig())).url


def make_settings(tmp_path: Path, daraja_url: str, **overrides) -> Settings:
    values = {
        "telegram_bot_token": "7000000001:TEST",
        "admin_telegram_ids": [ADMIN],
        "mpesa_base_url": daraja_url,
        "mpesa_passkey": SANDBOX_PASSKEY,
        "web_host": "127.0.0.1",
        "web_port": free_port(),
        "data_dir": tmp_path / "data",
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)


class Watcher:
    """Sets an event when the fake Telegram sees a call matching a predicate."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[[ApiCall], bool], asyncio.Event]] = []

    def __call__(self, call: ApiCall) -> None:
        for predicate, event in self.waiting:
            if predicate(call):
                event.set()

    def expect(self, predicate: Callable[[ApiCall], bool]) -> asyncio.Event:
        event = asyncio.Event()
        self.waiting.append((predicate, event))
        return event


@contextlib.asynccontextmanager
async def running(settings: Settings, api: InProcessBotApi) -> AsyncIterator[str]:
    """Serve until the block ends; yields our base URL."""
    stop, ready = asyncio.Event(), asyncio.Event()
    urls: list[str] = []

    def on_ready(runtime, url: str) -> None:
        urls.append(url)
        ready.set()

    task = asyncio.create_task(serve(settings, stop=stop, telegram_request=api, on_ready=on_ready))
    ready_wait = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready_wait.cancel()
        task.result()  # raises what stopped the start-up
    try:
        yield urls[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def watched_api(wanted: Callable[[ApiCall], bool]) -> tuple[InProcessBotApi, asyncio.Event]:
    """An in-process Bot API, and an event set once the bot makes a ``wanted`` call."""
    watcher = Watcher()
    return InProcessBotApi(listener=watcher), watcher.expect(wanted)


def paid_edit(call: ApiCall) -> bool:
    # a callback that beats the status card makes the card go out already paid (the outbox's
    # edit is then "not modified"): either way the chat shows Paid
    return call.method in ("editMessageText", "sendMessage") and "✅ Paid" in str(
        call.params.get("text")
    )


async def test_polling_mode_takes_a_request_to_paid_and_shuts_down(tmp_path, simulator):
    settings = make_settings(tmp_path, simulator)
    await migrate(settings.resolved_database_url)
    api, paid = watched_api(paid_edit)

    async with running(settings, api) as url:
        api.push_update({"message": text_message(ADMIN, "Amina", "/request 0708374149 150 Cup")})
        await asyncio.wait_for(paid.wait(), timeout=30)
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{url}/healthz")
        payment = await Payment.get(msisdn="254708374149")

    assert health.json() == {"status": "ok", "database": "ok"}
    assert (payment.status, payment.amount) == (PaymentStatus.PAID, 150)
    methods = [call.method for call in api.calls]
    assert methods[0] == "getMe"
    assert "setMyCommands" in methods
    assert "getUpdates" in methods


async def test_serving_turns_the_collector_back_on_once_it_listens(tmp_path, simulator):
    """`mpesa-bot run` holds the cyclic collector off through start-up; ready turns it on."""
    settings = make_settings(tmp_path, simulator)
    await migrate(settings.resolved_database_url)
    gc.collect()
    gc.disable()
    try:
        async with running(settings, InProcessBotApi()):
            enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    finally:
        gc.unfreeze()
        gc.enable()

    assert enabled
    assert frozen > 0  # what start-up built is set aside, not walked by every collection


async def test_webhook_mode_checks_telegrams_secret_on_the_same_server(tmp_path, simulator):
    settings = make_settings(
        tmp_path, simulator, telegram_webhook_url="https://pay.example.co.ke/telegram/hook"
    )
    await migrate(settings.resolved_database_url)
    api, replied = watched_api(lambda call: call.method == "sendMessage")
    update = {"update_id": 1, "message": text_message(ADMIN, "Amina", "/help")}

    async with running(settings, api) as url, httpx.AsyncClient() as http:
        refused = await http.post(f"{url}/telegram/hook", json=update)
        forged = await http.post(
            f"{url}/telegram/hook", json=update, headers={SECRET_HEADER: "guess"}
        )
        accepted = await http.post(
            f"{url}/telegram/hook", json=update, headers={SECRET_HEADER: webhook_secret(settings)}
        )
        await asyncio.wait_for(replied.wait(), timeout=30)

    assert (refused.status_code, forged.status_code, accepted.status_code) == (403, 403, 200)
    set_webhook = [call for call in api.calls if call.method == "setWebhook"]
    assert set_webhook[0].params["url"] == "https://pay.example.co.ke/telegram/hook"
    assert set_webhook[0].params["secret_token"] == webhook_secret(settings)
    assert not [call for call in api.calls if call.method == "getUpdates"]


async def test_webhook_mode_runs_locally_over_plain_http_on_loopback(tmp_path, simulator):
    hook = "http://127.0.0.1:8443/telegram/local-hook"
    settings = make_settings(tmp_path, simulator, telegram_webhook_url=hook)
    await migrate(settings.resolved_database_url)
    api, replied = watched_api(lambda call: call.method == "sendMessage")
    update = {"update_id": 1, "message": text_message(ADMIN, "Amina", "/help")}

    async with running(settings, api) as url, httpx.AsyncClient() as http:
        accepted = await http.post(
            f"{url}/telegram/local-hook",
            json=update,
            headers={SECRET_HEADER: webhook_secret(settings)},
        )
        await asyncio.wait_for(replied.wait(), timeout=30)

    assert accepted.status_code == 200
    assert [c.params["url"] for c in api.calls if c.method == "setWebhook"] == [hook]
    assert not [call for call in api.calls if call.method == "getUpdates"]


async def test_run_refuses_an_unmigrated_database(tmp_path, simulator):
    settings = make_settings(tmp_path, simulator)

    with pytest.raises(DatabaseNotMigrated):
        async with running(settings, InProcessBotApi()):
            pass


async def test_run_never_pretends_to_reach_safaricom_without_credentials(tmp_path):
    settings = Settings(
        _env_file=None,
        telegram_bot_token="7000000001:TEST",
        public_base_url="https://pay.example.co.ke",
        data_dir=tmp_path,
    )

    with pytest.raises(StartupError) as caught:
        await build_runtime(settings)

    message = str(caught.value)
    assert "MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET, MPESA_PASSKEY not set" in message
    assert "mpesa-bot simulator" in message


async def test_run_needs_a_telegram_token(tmp_path, simulator):
    settings = make_settings(tmp_path, simulator, telegram_bot_token=None)

    with pytest.raises(StartupError, match="TELEGRAM_BOT_TOKEN is not set"):
        await build_runtime(settings)


async def test_simulator_credentials_are_used_only_with_an_explicit_base_url(tmp_path, simulator):
    runtime = await build_runtime(make_settings(tmp_path, simulator))

    assert runtime.daraja._config.consumer_key == "simulator-key"
    assert runtime.settings.public_base_url.startswith("http://127.0.0.1:")
    await runtime.daraja.aclose()
