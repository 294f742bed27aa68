"""Property-based: requests generated from the OpenAPI document never make the API fail (5xx),
every answer matches the document, what the document allows is never refused as malformed (400)
and what it forbids is never accepted. Bounded (few examples, fixed seed) to keep `make test` fast.

Schemathesis sends with `requests` (blocking), so it runs in a thread while the event loop serves
the app on 127.0.0.1 over the test's real database; FakeDaraja answers every STK Push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import response_headers_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from bot.web.api.openapi import openapi_document
from tests.web.api.conftest import create_order

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # the document is exactly the server: valid data is never 400, invalid data never 2xx
    positive_data_acceptance,
    negative_data_rejection,
]


def fuzz(base_url: str, headers: dict[str, str], order_code: str) -> list[str]:
    """Run every operation, positive and negative inputs; return "method path mode" run."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {"orderId": order_code} if "{orderId}" in operation.path else None
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.path != "/openapi.json":  # no input at all: nothing to make invalid
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        checks = CHECKS
        if operation.definition.raw.get("operationId") in NO_POSITIVE_ACCEPTANCE:
            checks = [c for c in CHECKS if c is not positive_data_acceptance]
        for mode in modes:
            run_operation(operation.as_strategy(mode), base_url, headers, checks)
            if fixed is not None and mode is schemathesis.GenerationMode.POSITIVE:
                # also on a real order, so the handlers go past the 404
                run_operation(operation.as_strategy(mode, path_parameters=fixed), base_url, headers)
            ran.append(f"{operation.method.upper()} {operation.path} {mode.value}")
    return ran


# a schedule's validity also depends on the clock and the provider (a date already past, the
# B2C minimum of a payout): JSON Schema cannot say it, so valid-looking ones may be 400
NO_POSITIVE_ACCEPTANCE = {"createSchedule"}


def run_operation(
    strategy: Any, base_url: str, headers: dict[str, str], checks: list[Any] = CHECKS
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # the same inputs on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, checks=checks, headers=headers)

    check()


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_generated_requests_never_fail_and_match_the_document(api) -> None:
    order = await create_order(api, 150)
    base_url = str(api.client.server.make_url("/api/v1"))

    ran = await in_thread(fuzz, base_url, api.headers, order["orderId"])

    assert len(ran) == 23
