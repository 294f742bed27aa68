"""`mpesa-bot simulator --provider airtel` and `python -m airtel.simulator`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.cli
from airtel.callbacks import parse_collection_callback
from airtel.client import AirtelClient
from airtel.client import AirtelConfig
from airtel.security import HashInput
from airtel.security import load_public_key_file
from airtel.simulator import cli as airtel_cli
from airtel.simulator.__main__ import build_parser
from tests.helpers.processes import simulator_process
from tests.helpers.receiver import CallbackReceiver

HOOK = "/airtel/collection"


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver() as rec:
        yield rec


@pytest.fixture
def airtel_process(receiver: CallbackReceiver, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`mpesa-bot simulator --provider airtel` in a child process: (base URL, key file)."""
    key_file = tmp_path / "keys" / "airtel.pem"
    options = [
        "--provider", "airtel", "--callback-delay", "0", "--key-out", str(key_file),
        "--callback-url", receiver.url(HOOK), "--callback-hash-key", "cli-key",
    ]  # fmt: skip
    with simulator_process(*options, banner="Airtel Money simulator on http://") as base:
        yield base, key_file


async def test_mpesa_bot_serves_the_airtel_simulator(airtel_process, receiver):
    base, key_file = airtel_process
    config = AirtelConfig(
        base_url=base,
        client_id="simulator-client-id",
        client_secret="simulator-client-secret",
        disbursement_pin="1234",
        public_key=key_file.read_text(),
    )
    load_public_key_file(key_file)  # AIRTEL_PUBLIC_KEY_PATH can point at it

    async with AirtelClient(config) as client:
        await client.ussd_push(
            msisdn="254733123456", amount=150, transaction_id="COL1", reference="ORDER1"
        )
        callback = parse_collection_callback(
            (await receiver.next_received(HOOK)).raw, hash_key="cli-key"
        )
        paid = await client.disburse(
            msisdn="254733123456", amount=500, transaction_id="DSB1", reference="PAYOUT1"
        )

    assert (callback.succeeded, callback.verified) == (True, True)
    assert paid.balance_cents == 9_950_000


def test_python_m_airtel_simulator_help_lists_the_credentials():
    text = build_parser().format_help()

    for expected in ("simulator-client-id", "1234", "--key-out", "--require-signing", "8766"):
        assert expected in text


def test_hash_input_choices_are_the_librarys():
    assert tuple(str(choice) for choice in HashInput) == airtel_cli.HASH_INPUTS


@pytest.mark.parametrize(
    ("argv", "provider", "port"),
    [
        (["simulator"], "mpesa", 8765),
        (["simulator", "--provider", "airtel"], "airtel", 8766),
        (["simulator", "--provider", "airtel", "--port", "9000"], "airtel", 9000),
    ],
)
def test_mpesa_bot_simulator_picks_the_provider_and_its_port(monkeypatch, argv, provider, port):
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(bot.cli.simulator_cli, "serve", lambda a: served.append(("mpesa", a.port)))
    monkeypatch.setattr(
        bot.cli.airtel_simulator_cli, "serve", lambda a: served.append(("airtel", a.port))
    )

    bot.cli.main(argv)

    assert served == [(provider, port)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--callback-url", "http://127.0.0.1:1/x"],
            "--callback-url is an option of --provider airtel",
        ),
        (
            ["--provider", "airtel", "--mask-phones"],
            "--mask-phones is an option of --provider mpesa",
        ),
        (
            ["--provider", "airtel", "--cert-out", "x.pem"],
            "--cert-out is an option of --provider mpesa",
        ),
        (["--provider", "tkash"], "invalid choice: 'tkash'"),
    ],
)
def test_options_of_the_other_provider_are_refused(capsys, argv, message):
    with pytest.raises(SystemExit) as caught:
        bot.cli.main(["simulator", *argv])

    assert caught.value.code == 2
    assert message in capsys.readouterr().err
