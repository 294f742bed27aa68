"""The callback server: routes, answers, allow-list, proxies, size limit, health and metrics."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from bot.callback_paths import CALLBACK_ROUTES
from bot.notify.outbox import OutboxWorker
from bot.services.callbacks import CallbackService
from bot.services.outcome import ApplyOutcome
from bot.services.reports import ReportService
from bot.web.app import MAX_BODY_BYTES
from bot.web.app import create_app
from models import CallbackInbox
from models import CallbackKind
from models import InboxStatus
from models import Payment
from models import PaymentStatus
from mpesa.callbacks import ACK
from mpesa.callbacks import C2B_CONFIRMATION_ACK
from mpesa.callbacks import c2b_accept
from tests.helpers.stub_services import StubDomain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "daraja"
SECRET = "test-callback-secret-0123"
SAFARICOM_IP = "196.201.214.200"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hook(kind: CallbackKind) -> str:
    return f"/hooks/{SECRET}/{CALLBACK_ROUTES[kind]}"


class BrokenReports(ReportService):
    async def check_database(self) -> None:
        raise ConnectionError("database is gone")


def make_services(domain: StubDomain, *, reports: ReportService | None = None) -> Any:
    callbacks = CallbackService(
        payments=domain.payments,
        c2b=domain.c2b,
        payouts=domain.payouts,
        accounts=domain.accounts,
        reversals=domain.reversals,
    )
    outbox = OutboxWorker({})
    outbox.failures["sms"] = 2
    return SimpleNamespace(
        callbacks=callbacks,
        reports=reports or ReportService(),
        reconciler=SimpleNamespace(outbox=outbox),
    )


@pytest.fixture
def domain() -> StubDomain:
    return StubDomain()


@pytest.fixture
def make_client(db, aiohttp_client, settings, domain):
    async def make(**overrides: Any):
        reports = overrides.pop("reports", None)
        app = create_app(
            make_services(domain, reports=reports), settings=settings.model_copy(update=overrides)
        )
        return await aiohttp_client(app)

    return make


ROUTES = [
    (CallbackKind.STK, "stk_callback_success.json", ACK),
    (CallbackKind.B2C_RESULT, "b2c_result_success.json", ACK),
    (CallbackKind.B2C_TIMEOUT, "b2c_queue_timeout.json", ACK),
    (CallbackKind.STATUS_RESULT, "transaction_status_result.json", ACK),
    (CallbackKind.STATUS_TIMEOUT, "b2c_queue_timeout.json", ACK),
    (CallbackKind.BALANCE_RESULT, "account_balance_result.json", ACK),
    (CallbackKind.BALANCE_TIMEOUT, "b2c_queue_timeout.json", ACK),
    (CallbackKind.REVERSAL_RESULT, "reversal_result.json", ACK),
    (CallbackKind.REVERSAL_TIMEOUT, "b2c_queue_timeout.json", ACK),
    (CallbackKind.C2B_VALIDATION, "c2b_validation.json", c2b_accept()),
    (CallbackKind.C2B_CONFIRMATION, "c2b_confirmation.json", C2B_CONFIRMATION_ACK),
]


@pytest.mark.parametrize(("kind", "name", "answer"), ROUTES)
async def test_every_route_answers_what_daraja_expects(make_client, kind, name, answer) -> None:
    client = await make_client()

    response = await client.post(hook(kind), data=fixture(name))

    assert response.status == 200
    assert await response.json() == answer
    # byte for byte and header for header what web.json_response(answer) sends
    expected = web.json_response(answer)
    assert await response.read() == expected.body
    assert response.headers["Content-Type"] == expected.headers["Content-Type"]
    row = await CallbackInbox.get()
    assert (row.kind, row.status, row.body) == (kind, InboxStatus.PROCESSED, fixture(name).decode())


def test_routes_cover_every_callback_kind() -> None:
    assert set(CALLBACK_ROUTES) == set(CallbackKind)


async def test_wrong_secret_is_not_found_and_stores_nothing(make_client) -> None:
    client = await make_client()

    response = await client.post("/hooks/guessed-secret-0000000/stk", data=b"{}")

    assert response.status == 404
    assert await CallbackInbox.all().count() == 0


async def test_malformed_json_is_400_and_kept(make_client, domain) -> None:
    client = await make_client()

    response = await client.post(hook(CallbackKind.STK), data=b'{"Body": {"stkCallback": ')

    assert response.status == 400
    assert (await response.json())["ResultCode"] == 1
    row = await CallbackInbox.get()
    assert (row.status, row.body) == (InboxStatus.REJECTED, '{"Body": {"stkCallback": ')
    assert row.error
    assert domain.payments.applied == []


async def test_duplicate_callback_is_acknowledged_and_marked(make_client, domain) -> None:
    client = await make_client()
    body = fixture("stk_callback_success.json")
    await client.post(hook(CallbackKind.STK), data=body)
    domain.payments.outcomes["ws_CO_20112026143005812708374149"] = ApplyOutcome.DUPLICATE

    response = await client.post(hook(CallbackKind.STK), data=body)

    assert (response.status, await response.json()) == (200, ACK)
    statuses = [r.status for r in await CallbackInbox.all().order_by("id")]
    assert statuses == [InboxStatus.PROCESSED, InboxStatus.DUPLICATE]


async def test_source_outside_the_allow_list_is_refused_but_kept(make_client, domain) -> None:
    client = await make_client(callback_allowed_networks=[f"{SAFARICOM_IP}/32"])
    body = fixture("stk_callback_success.json")

    response = await client.post(hook(CallbackKind.STK), data=body)

    assert response.status == 403
    row = await CallbackInbox.get()
    assert (row.status, row.body, row.remote_addr) == (
        InboxStatus.REJECTED,
        body.decode(),
        "127.0.0.1",
    )
    assert "allow-list" in row.error
    assert domain.payments.applied == []


async def test_forwarded_address_counts_only_from_a_trusted_proxy(make_client) -> None:
    client = await make_client(
        callback_allowed_networks=[SAFARICOM_IP], trusted_proxies=["127.0.0.1/32", "10.0.0.0/8"]
    )

    response = await client.post(
        hook(CallbackKind.STK),
        data=fixture("stk_callback_success.json"),
        # a spoofed first hop, the real client, then our own load balancer
        headers={"X-Forwarded-For": f"6.6.6.6, {SAFARICOM_IP}, 10.1.2.3"},
    )

    assert response.status == 200
    assert (await CallbackInbox.get()).remote_addr == SAFARICOM_IP


@pytest.mark.parametrize("forwarded", [SAFARICOM_IP, f"{SAFARICOM_IP}, 6.6.6.6", "not-an-address"])
async def test_forwarded_address_from_an_untrusted_peer_is_ignored(make_client, forwarded) -> None:
    client = await make_client(callback_allowed_networks=[SAFARICOM_IP], trusted_proxies=[])

    response = await client.post(
        hook(CallbackKind.STK),
        data=fixture("stk_callback_success.json"),
        headers={"X-Forwarded-For": forwarded},
    )

    assert response.status == 403
    assert (await CallbackInbox.get()).remote_addr == "127.0.0.1"


async def test_last_untrusted_hop_that_is_garbage_is_refused(make_client) -> None:
    client = await make_client(
        callback_allowed_networks=[SAFARICOM_IP], trusted_proxies=["127.0.0.1"]
    )

    response = await client.post(
        hook(CallbackKind.STK),
        data=fixture("stk_callback_success.json"),
        headers={"X-Forwarded-For": f"{SAFARICOM_IP}, garbage"},
    )

    assert response.status == 403


async def test_oversized_body_is_413_and_noted(make_client) -> None:
    client = await make_client()

    response = await client.post(hook(CallbackKind.STK), data=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status == 413
    row = await CallbackInbox.get()
    assert row.status == InboxStatus.REJECTED
    assert str(MAX_BODY_BYTES) in row.error


async def test_get_on_a_callback_route_is_not_allowed(make_client) -> None:
    client = await make_client()

    response = await client.get(hook(CallbackKind.STK))

    assert response.status == 405


async def test_healthz_ok_when_the_database_answers(make_client) -> None:
    client = await make_client()

    response = await client.get("/healthz")

    assert (response.status, await response.json()) == (200, {"status": "ok", "database": "ok"})


async def test_healthz_503_when_the_database_fails(make_client) -> None:
    client = await make_client(reports=BrokenReports())

    response = await client.get("/healthz")

    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "error"}


SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\d+)$')


def parse_exposition(text: str) -> dict[str, int]:
    """Every sample line as 'name{labels}' -> value; fails on a line that is not valid."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = int(match.group(4))
    return samples


async def test_metrics_count_callbacks_records_and_failures(make_client, domain) -> None:
    client = await make_client()
    await Payment.create(msisdn="254708374149", amount=150, account_reference="X")
    await Payment.create(
        msisdn="254708374150", amount=10, account_reference="X", status=PaymentStatus.PAID
    )
    await client.post(hook(CallbackKind.STK), data=fixture("stk_callback_success.json"))
    await client.post(hook(CallbackKind.STK), data=b"nope")

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    samples = parse_exposition(text)
    assert samples['paybot_callbacks_total{kind="stk",outcome="applied"}'] == 1
    assert samples['paybot_callbacks_total{kind="stk",outcome="rejected"}'] == 1
    assert samples['paybot_payments{status="created"}'] == 1
    assert samples['paybot_payments{status="paid"}'] == 1
    assert samples['paybot_notification_failures_total{channel="sms"}'] == 2
    assert "# TYPE paybot_callbacks_total counter" in text
    assert "# TYPE paybot_payments gauge" in text


async def test_answers_are_not_cached(make_client) -> None:
    client = await make_client()

    response = await client.get("/healthz")

    assert response.headers["Cache-Control"] == "no-store"


def test_create_app_refuses_a_secret_safaricom_would_refuse(settings, domain) -> None:
    bad = settings.model_copy(update={"callback_secret": None, "data_dir": settings.data_dir})
    (bad.data_dir).mkdir(parents=True, exist_ok=True)
    (bad.data_dir / "callback_secret").write_text("abcSQLdefghijklmnop\n")

    with pytest.raises(ValueError, match="'sql'"):
        create_app(make_services(domain), settings=bad)


def test_app_is_an_aiohttp_application(settings, domain) -> None:
    app = create_app(make_services(domain), settings=settings)

    assert isinstance(app, web.Application)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert f"/hooks/{SECRET}/c2b/validate" in paths
