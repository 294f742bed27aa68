"""The OpenAPI document tells the truth: every route is in it, and nothing else is."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import schemathesis

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.services.errors import UpstreamError
from bot.web.api import API_PREFIX
from bot.web.api.errors import from_service_error
from bot.web.api.openapi import openapi_document
from bot.web.app import create_app
from models import Order

METHODS = {"get", "post", "put", "patch", "delete"}


def api_routes(settings) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves under /api/v1, in OpenAPI's path syntax."""
    app = create_app(SimpleNamespace(), settings=settings)
    found = set()
    for resource in app.router.resources():
        app_routes = getattr(resource, "_app", None)
        if app_routes is None:
            continue
        for route in app_routes.router.routes():
            # a mounted sub-application's resources already carry its prefix
            found.add((route.method.lower(), route.resource.canonical))
    return found


def documented(document: dict) -> set[tuple[str, str]]:
    server = document["servers"][0]["url"]
    return {
        (method, f"{server}{path}")
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_documented_and_every_documented_route_exists(settings) -> None:
    routes = api_routes(settings)

    assert routes == documented(openapi_document())
    assert all(path.startswith(API_PREFIX) for _, path in routes)
    assert len(routes) == 12


def test_path_parameters_match_the_routes() -> None:
    document = openapi_document()
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        params = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert names == params, path


def test_every_protected_operation_documents_401_and_429_and_the_error_shape() -> None:
    document = openapi_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS or operation.get("security") == []:
                continue
            assert {"400", "401", "429", "default"} <= set(operation["responses"]), (method, path)
            if method == "post":
                headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
                assert headers == ["Idempotency-Key"], path


def test_the_document_loads_as_openapi() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())

    operations = [result.ok() for result in schema.get_all_operations()]

    assert len(operations) == 12


async def test_the_served_document_is_the_same(api) -> None:
    response = await api.client.get("/api/v1/openapi.json")

    assert await response.json() == openapi_document()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput("bad", field="phone"), 400, "invalid_input"),
        (NotAllowed("no"), 403, "not_allowed"),
        (NotFound("none"), 404, "not_found"),
        (Conflict("busy"), 409, "conflict"),
        (LimitExceeded("too much"), 422, "limit_exceeded"),
        (UpstreamError("down"), 502, "upstream_error"),
        (ServiceError("other"), 400, "error"),
    ],
)
def test_service_refusals_map_to_http_statuses(error, status, code) -> None:
    mapped = from_service_error(error)

    assert (mapped.status, mapped.code, mapped.message) == (status, code, error.message)


def test_service_field_names_are_renamed_to_the_api_names() -> None:
    assert from_service_error(InvalidInput("bad", field="phone")).field == "phoneNumber"
    assert from_service_error(InvalidInput("bad", field="amount")).field == "amount"


async def test_a_crash_is_500_in_the_same_shape_without_details(api, monkeypatch) -> None:
    async def explode(*args, **kwargs) -> Order:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.services.orders, "create_order", explode)

    response = await api.client.post(
        "/api/v1/orders", json={"amount": 10, "description": "x"}, headers=api.headers
    )

    assert response.status == 500
    error = (await response.json())["error"]
    assert error["code"] == "internal_error"
    assert "secret internals" not in error["message"]
