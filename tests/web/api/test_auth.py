"""Bearer keys, the per-key rate limit, and the audit of every call."""

from __future__ import annotations

import pytest

from bot.services.container import build_services
from bot.web.api.ratelimit import RateLimiter, retry_after_header
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
