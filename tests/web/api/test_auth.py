"""Bearer keys, the per-key rate limit, and the audit of every call."""

from __future__ import annotations

import aiohttp
import pytest

from bot.services.container import build_services
from bot.web.api.ratelimit import RateLimiter
from bot.web.api.ratelimit import retry_after_header
from bot.web.app import create_app
from models import AuditEvent
from tests.helpers.fakes import FakeDaraja
from tests.web.api.conftest import SQLITE_ONLY

HISTORY = "/api/v1/payments/history"
UNAUTHORIZED = "unauthorized"


@SQLITE_ONLY
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer mpb_0123456789ab_" + "x" * 43,
    ],
)
async def test_a_missing_or_wrong_key_is_401_json(api, header) -> None:
    headers = {} if header is None else {"Authorization": header}

    response = await api.client.get(HISTORY, headers=headers)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["error"]["code"] == UNAUTHORIZED
    assert set(body["error"]) == {"code", "message"}


async def test_a_revoked_key_is_401(api) -> None:
    await api.services.api_keys.revoke("shop")

    response = await api.client.get(HISTORY, headers=api.headers)

    assert response.status == 401


async def test_the_scheme_is_case_insensitive(api) -> None:
    response = await api.client.get(HISTORY, headers={"Authorization": f"bearer {api.token}"})

    assert response.status == 200


async def test_every_call_is_audited_with_the_key_name(api) -> None:
    await api.client.get(HISTORY, headers=api.headers)
    await api.client.get(f"{HISTORY}?status=bogus", headers=api.headers)
    await api.client.get("/api/v1/payments/status/HPNOSUCH22", headers=api.headers)

    events = await AuditEvent.filter(actor="api:shop").order_by("id")
    assert [(e.action, e.outcome, e.detail["status"]) for e in events] == [
        ("api.payments.history", "ok", 200),
        ("api.payments.history", "http_400", 400),
        ("api.payments.status", "http_404", 404),
    ]


async def test_head_is_not_a_way_around_the_key(api) -> None:
    response = await api.client.head("/api/v1/payments/status/HPNOSUCH22")

    assert response.status == 405


async def test_the_openapi_document_needs_no_key(api) -> None:
    response = await api.client.get("/api/v1/openapi.json")

    assert response.status == 200
    assert (await response.json())["openapi"].startswith("3.")


async def test_unknown_paths_and_methods_answer_the_json_shape(api) -> None:
    missing = await api.client.get("/api/v1/nothing-here", headers=api.headers)
    wrong_method = await api.client.get("/api/v1/orders", headers=api.headers)

    assert (missing.status, (await missing.json())["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status, wrong_method.headers["Allow"]) == (405, "POST")
    assert (await wrong_method.json())["error"]["code"] == "method_not_allowed"


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    db, aiohttp_client, settings
) -> None:
    limited = settings.model_copy(update={"api_rate_limit_per_minute": 2})
    services = build_services(limited, daraja=FakeDaraja(), channels={})
    _, first = await services.api_keys.create("first")
    _, second = await services.api_keys.create("second")
    client = await aiohttp_client(create_app(services, settings=limited))

    statuses = [
        (await client.get(HISTORY, headers={"Authorization": f"Bearer {first}"})).status
        for _ in range(3)
    ]
    refused = await client.get(HISTORY, headers={"Authorization": f"Bearer {first}"})
    other = await client.get(HISTORY, headers={"Authorization": f"Bearer {second}"})

    assert statuses == [200, 200, 429]
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "30"
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert other.status == 200  # the limit is per key


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_refills_evenly_up_to_its_size() -> None:
    ticks = Ticks()
    limiter = RateLimiter(60, clock=ticks)  # one a second, bursts of 60

    burst = [limiter.acquire(1) for _ in range(60)]
    assert burst == [0.0] * 60
    assert limiter.acquire(1) == pytest.approx(1.0)
    ticks.now += 0.5
    assert limiter.acquire(1) == pytest.approx(0.5)
    ticks.now += 0.5
    assert limiter.acquire(1) == 0.0
    ticks.now += 3600
    assert [limiter.acquire(1) for _ in range(61)].count(0.0) == 60


@pytest.mark.parametrize(("wait_s", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_rounded_up(wait_s, header) -> None:
    assert retry_after_header(wait_s) == header


@pytest.fixture
async def guarded(db, aiohttp_client, settings):
    """An app allowing 3 failed authentications a minute, behind a trusted proxy (XFF read)."""
    strict = settings.model_copy(
        update={"api_auth_failures_per_minute": 3, "trusted_proxies": ["127.0.0.1"]}
    )
    services = build_services(strict, daraja=FakeDaraja(), channels={})
    _, token = await services.api_keys.create("shop")
    client = await aiohttp_client(create_app(services, settings=strict))
    return client, services, token


def wrong_secret(token: str) -> str:
    return token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")


async def call(client, key: str, address: str) -> int:
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": address}
    return (await client.get(HISTORY, headers=headers)).status


async def test_failures_from_one_address_are_throttled_even_with_the_right_key(guarded) -> None:
    client, _, token = guarded
    strangers = [f"mpb_{n:012x}_" + "x" * 43 for n in range(4)]

    statuses = [await call(client, key, "203.0.113.5") for key in strangers]
    right_key = await client.get(
        HISTORY, headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.5"}
    )
    elsewhere = await call(client, token, "198.51.100.9")

    assert statuses == [401, 401, 401, 429]
    assert right_key.status == 429
    assert right_key.headers["Retry-After"] == "20"
    assert (await right_key.json())["error"]["code"] == "rate_limited"
    assert elsewhere == 200


async def test_failures_for_one_key_prefix_are_throttled_from_any_address(guarded) -> None:
    client, _, token = guarded
    forged = wrong_secret(token)

    statuses = [await call(client, forged, f"203.0.113.{n}") for n in range(4)]
    other_prefix = await call(client, "mpb_0123456789ab_" + "x" * 43, "203.0.113.99")

    assert statuses == [401, 401, 401, 429]
    assert other_prefix == 401


async def test_missing_keys_count_against_the_address_too(guarded) -> None:
    client, _, _ = guarded

    statuses = [
        (await client.get(HISTORY, headers={"X-Forwarded-For": "203.0.113.5"})).status
        for _ in range(4)
    ]

    assert statuses == [401, 401, 401, 429]


async def test_a_flood_of_failures_writes_nothing_until_one_row_per_window(guarded) -> None:
    client, services, token = guarded
    forged = wrong_secret(token)

    statuses = [await call(client, forged, "203.0.113.5") for _ in range(20)]
    during = await AuditEvent.filter(action="api.auth").count()
    await services.api_keys.flush_failures(everything=True)

    rows = await AuditEvent.filter(action="api.auth").order_by("actor")
    assert (statuses.count(401), statuses.count(429), during) == (3, 17, 0)
    assert [(r.actor, r.detail["failures"], r.detail["reasons"]) for r in rows] == [
        ("api:shop", 3, {"wrong secret": 3}),
        ("api:unknown", 17, {"throttled": 17}),
    ]


async def test_failures_still_counted_are_audited_at_shutdown(db, aiohttp_server, settings) -> None:
    services = build_services(settings, daraja=FakeDaraja(), channels={})
    server = await aiohttp_server(create_app(services, settings=settings))
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            server.make_url(HISTORY),
            headers={"Authorization": "Bearer mpb_0123456789ab_" + "x" * 43},
        ) as response,
    ):
        assert response.status == 401

    await server.close()

    row = await AuditEvent.get(action="api.auth")
    assert (row.actor, row.detail["failures"]) == ("api:unknown", 1)
