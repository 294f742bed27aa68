"""Routing answers first: an unknown /api/v1 path is 404 and an undocumented method 405, whatever
headers come with them; every documented operation is reachable and nothing else is."""

from __future__ import annotations

import pytest

from bot.web.api.openapi import openapi_document
from models import AuditEvent
from models import IdempotencyRecord
from models import Order
from tests.web.api.conftest import create_order

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
UNKNOWN_PATHS = (
    "/api/v1/payout-batchez",
    "/api/v1/",
    "/api/v1",
    "/api/v1/orders/HP7K2Q9XAB",
    "/api/v1/payments",
    "/api/v1/payments/status",
    "/api/v1/payments/status/HP7K2Q9XAB/extra",
    "/api/v1/openapi.yaml",
)


def documented_headers(token: str) -> dict[str, str]:
    """Every request header the OpenAPI document names, with a valid value."""
    document = openapi_document()
    names = {
        parameter["name"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }
    assert names == {"Idempotency-Key"}  # a new header must be added to this test's values
    return {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": "routing-1",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
async def test_an_unknown_path_is_404_whatever_the_headers(api, path) -> None:
    headers = documented_headers(api.token)

    answers = {}
    for method in METHODS:
        response = await api.client.request(method, path, headers=headers, data=b'{"amount": 1}')
        body = await response.json() if method != "HEAD" else None
        answers[method] = (response.status, body["error"]["code"] if body else None)

    expected = {m: (404, None if m == "HEAD" else "not_found") for m in METHODS}
    assert answers == expected
    assert await IdempotencyRecord.all().count() == 0
    assert await Order.all().count() == 0


async def test_an_unknown_path_answers_404_without_any_key(api) -> None:
    response = await api.client.post(
        "/api/v1/payout-batchez", headers={"Idempotency-Key": "k"}, json={}
    )

    assert (response.status, (await response.json())["error"]["code"]) == (404, "not_found")
    assert await AuditEvent.filter(action__startswith="api.").count() == 0


async def test_every_method_on_every_route_is_its_operation_or_405(api) -> None:
    order = await create_order(api)
    headers = documented_headers(api.token)
    document = openapi_document()

    answers = {}
    for template, item in document["paths"].items():
        documented = {m.upper() for m in item if m in {x.lower() for x in METHODS}}
        path = "/api/v1" + template.replace("{orderId}", order["orderId"])
        path = path.replace("{batchId}", "1").replace("{scheduleId}", "1")
        for method in METHODS:
            headers["Idempotency-Key"] = f"routing-{method}-{template}"
            response = await api.client.request(method, path, headers=headers, json={})
            if method in documented:
                answers[(method, template)] = response.status < 500 and response.status != 405
            else:
                allow = set(response.headers.get("Allow", "").split(","))
                answers[(method, template)] = (response.status, allow) == (405, documented)

    assert [key for key, ok in answers.items() if not ok] == []
    assert len(answers) == len(document["paths"]) * len(METHODS)
