"""The seams of the services: a Daraja Protocol, and composition instead of mixins."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bot.callback_paths import callback_urls
from bot.services.accounts import AccountService
from bot.services.daraja import Daraja
from bot.services.payout_results import PayoutResults
from bot.services.payouts import PayoutService
from bot.services.reversals import ReversalService
from mpesa.client import DarajaClient
from mpesa.client import DarajaConfig
from tests.helpers.fakes import FakeDaraja

PROTOCOL_METHODS = [
    name for name, _ in inspect.getmembers(Daraja, inspect.isfunction) if not name.startswith("_")
]


def test_the_protocol_names_every_call_the_services_make():
    assert PROTOCOL_METHODS == [
        "account_balance",
        "b2c_payment",
        "reversal",
        "stk_push",
        "stk_query",
        "transaction_status",
    ]


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
async def test_the_real_client_satisfies_the_protocol_call_for_call(name):
    urls = callback_urls("http://127.0.0.1:9", "test-secret-0123456789")
    config = DarajaConfig(
        base_url="http://127.0.0.1:9",
        consumer_key="key",
        consumer_secret="secret",
        shortcode="174379",
        passkey="passkey",
        callbacks=urls,
    )
    client = DarajaClient(config)
    try:
        assert isinstance(client, Daraja)
        wanted = inspect.signature(getattr(Daraja, name))
        actual = inspect.signature(getattr(type(client), name))
        assert list(actual.parameters) == list(wanted.parameters)
        assert [p.kind for p in actual.parameters.values()] == [
            p.kind for p in wanted.parameters.values()
        ]
    finally:
        await client.aclose()


def test_the_tests_fake_satisfies_the_protocol():
    assert isinstance(FakeDaraja(), Daraja)


@pytest.mark.parametrize("service", [PayoutService, AccountService, ReversalService, PayoutResults])
def test_services_are_composed_not_mixed_in(service):
    assert service.__mro__ == (service, object)


def test_no_service_borrows_attributes_it_does_not_own():
    services = Path(__file__).resolve().parents[2] / "bot" / "services"
    borrowed = [
        path.name
        for path in services.glob("*.py")
        if "type: ignore[attr-defined]" in path.read_text()
    ]
    assert borrowed == []
