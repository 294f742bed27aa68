"""The simulator's aiohttp application: OAuth, the product middleware, control endpoints."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable

from aiohttp import web

from mpesa.simulator import b2c
from mpesa.simulator import c2b
from mpesa.simulator import express
from mpesa.simulator import ledger
from mpesa.simulator.config import SimulatorConfig
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.state import SimulatorState
from mpesa.simulator.validation import Refusal

log = logging.getLogger(__name__)

SIM_STATE = web.AppKey("sim_state", SimulatorState)
SIM_DELIVERER = web.AppKey("sim_deliverer", Deliverer)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_simulator(config: SimulatorConfig | None = None) -> web.Application:
    """Build the Daraja simulator as an aiohttp application (serve it on loopback)."""
    state = SimulatorState(config or SimulatorConfig())
    deliverer = Deliverer(state)
    app = web.Application(middlewares=[_error_middleware(state), _product_middleware(state)])
    app[SIM_STATE] = state
    app[SIM_DELIVERER] = deliverer

    async def delivery_ctx(_: web.Application) -> AsyncIterator[None]:
        await deliverer.start()
        yield
        await deliverer.close()

    app.cleanup_ctx.append(delivery_ctx)
    app.router.add_get("/oauth/v1/generate", OAuthHandler(state).generate)
    express.register(app, state, deliverer)
    b2c.register(app, state, deliverer)
    ledger.register(app, state, deliverer)
    c2b.register(app, state, deliverer)
    control = ControlHandlers(state, deliverer)
    app.router.add_get("/simulator/certificate", control.certificate)
    app.router.add_get("/simulator/state", control.snapshot)
    app.router.add_post("/simulator/faults", control.faults)
    app.router.add_post("/simulator/reset", control.reset)
    app.router.add_post("/simulator/drain", control.drain)
    return app


def _error_middleware(state: SimulatorState) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Answer every error in Daraja's envelope: unknown paths, wrong methods, our own bugs."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            refusal = _refusal_for(exc.status)
        except Exception:
            log.exception("sim.internal_error path=%s", request.path)
            refusal = Refusal(500, "500.003.1001", "Internal Server Error")
        log.info("sim.refused path=%s code=%s", request.path, refusal.code)
        return refusal.response(state.ids.request_id())

    return middleware


def _refusal_for(status: int) -> Refusal:
    """Daraja's answer for an HTTP error raised outside the product handlers."""
    if status == 404:
        return Refusal(404, "404.001.01", "Resource not found")
    if status == 405:
        return Refusal(405, "405.001", "Method Not Allowed")
    if status < 500:
        return Refusal(status, "400.002.05", "Invalid Request Payload")
    return Refusal(status, "500.003.1001", "Internal Server Error")


def _product_middleware(state: SimulatorState) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Apply faults and the Bearer token check to /mpesa/ calls; render Refusals as Daraja does."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.settle_due()
        routing_error = request.match_info.http_exception
        if routing_error is not None:
            # an unknown path or method is refused before the token is even looked at
            raise routing_error
        if not request.path.startswith("/mpesa/"):
            return await handler(request)
        faults = state.faults
        try:
            # gateway refusals happen before anything is applied: the request has no effect
            if faults.rate_limit_next_n > 0:
                faults.rate_limit_next_n -= 1
                raise _spike_arrest(state)
            if faults.fail_next_n > 0:
                faults.fail_next_n -= 1
                raise Refusal(500, "500.003.1001", "Internal Server Error")
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not state.token_valid(token.strip()):
                raise Refusal(404, "404.001.03", "Invalid Access Token")
            response = await handler(request)
        except Refusal as refusal:
            log.info("sim.refused path=%s code=%s", request.path, refusal.code)
            response = refusal.response(state.ids.request_id())
        if faults.slow_response_s > 0:
            # the request has taken effect; only the answer is late (read time-outs)
            await asyncio.sleep(faults.slow_response_s)
        return response

    return middleware


def _spike_arrest(state: SimulatorState) -> Refusal:
    faults = state.faults
    headers = {}
    if faults.rate_limit_retry_after_s is not None:
        headers["Retry-After"] = str(faults.rate_limit_retry_after_s)
    return Refusal(
        faults.rate_limit_status,
        "500.003.02",
        "Error Occurred: Spike Arrest Violation",
        headers=headers,
    )


class OAuthHandler:
    """Issues access tokens for the configured consumer key and secret."""

    def __init__(self, state: SimulatorState) -> None:
        self._state = state

    async def generate(self, request: web.Request) -> web.Response:
        """GET /oauth/v1/generate?grant_type=client_credentials with Basic auth."""
        if request.query.get("grant_type") != "client_credentials":
            return Refusal(400, "400.008.02", "Invalid grant type passed").response(
                self._state.ids.request_id()
            )
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if header and scheme.lower() != "basic":
            return Refusal(400, "400.008.01", "Invalid Authentication passed").response(
                self._state.ids.request_id()
            )
        if not self._credentials_ok(encoded.strip()):
            # the real endpoint answers bad credentials with an empty 400
            log.info("sim.oauth.refused")
            return web.Response(status=400)
        return web.json_response(
            {
                "access_token": self._state.issue_token(),
                "expires_in": str(self._state.config.token_ttl_s),
            }
        )

    def _credentials_ok(self, encoded: str) -> bool:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        key, sep, secret = decoded.partition(":")
        config = self._state.config
        key_ok = hmac.compare_digest(key.encode(), config.consumer_key.encode())
        secret_ok = hmac.compare_digest(secret.encode(), config.consumer_secret.encode())
        return bool(encoded) and bool(sep) and key_ok and secret_ok


class ControlHandlers:
    """Endpoints for tests and the demo: state snapshot, fault switches, reset, drain."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def certificate(self, _: web.Request) -> web.Response:
        """GET /simulator/certificate: the PEM certificate to encrypt SecurityCredentials with."""
        return web.Response(
            body=self._state.keys.certificate_pem,
            content_type="application/x-pem-file",
            headers={"Content-Disposition": 'attachment; filename="simulator-cert.pem"'},
        )

    async def snapshot(self, _: web.Request) -> web.Response:
        """GET /simulator/state: prompts, payouts, payments, balances, deliveries, faults."""
        return web.json_response(self._snapshot())

    async def faults(self, request: web.Request) -> web.Response:
        """POST /simulator/faults: change fault switches (partial JSON object); answer them all."""
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            self._state.faults.update(changes)
        except ValueError as exc:
            # the same envelope as every other refusal of this server
            return Refusal(400, "400.002.02", f"Bad Request - {exc}").response(
                self._state.ids.request_id()
            )
        log.info("sim.faults %s", self._state.faults.snapshot())
        return web.json_response(self._state.faults.snapshot())

    async def reset(self, _: web.Request) -> web.Response:
        """POST /simulator/reset: cancel pending callbacks and forget everything but tokens."""
        await self._deliverer.cancel_all()
        self._state.reset()
        return web.json_response(self._snapshot())

    async def drain(self, _: web.Request) -> web.Response:
        """POST /simulator/drain: wait until every pending callback has been delivered."""
        await self._deliverer.drain()
        return web.json_response(self._snapshot())

    def _snapshot(self) -> dict[str, object]:
        return self._state.snapshot() | {"busy_jobs": self._deliverer.busy}
