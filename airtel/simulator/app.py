"""The Airtel simulator's aiohttp application: OAuth, the gateway middleware, control endpoints."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from aiohttp import web

from airtel.security import KEY_HEADER
from airtel.security import SIGNATURE_HEADER
from airtel.security import aes_signature
from airtel.security import hashes_match
from airtel.security import public_key_pem
from airtel.simulator import account
from airtel.simulator import collection
from airtel.simulator import disbursement
from airtel.simulator import validation as v
from airtel.simulator.config import SimulatorConfig
from airtel.simulator.delivery import Deliverer
from airtel.simulator.keys import decrypt
from airtel.simulator.state import Call
from airtel.simulator.state import SimulatorState

log = logging.getLogger(__name__)

SIM_STATE = web.AppKey("airtel_sim_state", SimulatorState)
SIM_DELIVERER = web.AppKey("airtel_sim_deliverer", Deliverer)
SIM_RELEASE = web.AppKey("airtel_sim_release", asyncio.Event)

TOKEN_PATH = "/auth/oauth2/token"  # noqa: S105 - a path, not a secret
TOKEN_SCHEMA = {"client_id": None, "client_secret": None, "grant_type": None}
_KEY_PAIR = re.compile(r"([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)")
_MONEY_POST = re.compile(
    r"^/(merchant/v[12]/payments/|standard/v[12]/(payments/refund|disbursements/))$"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_simulator(config: SimulatorConfig | None = None) -> web.Application:
    """Build the Airtel Money simulator as an aiohttp application (serve it on loopback)."""
    state = SimulatorState(config or SimulatorConfig())
    deliverer = Deliverer(state)
    release = asyncio.Event()
    app = web.Application(middlewares=[_gateway(state, release)])
    app[SIM_STATE] = state
    app[SIM_DELIVERER] = deliverer
    app[SIM_RELEASE] = release

    async def delivery_ctx(_: web.Application) -> AsyncIterator[None]:
        await deliverer.start()
        yield
        await deliverer.close()

    async def release_held(_: web.Application) -> None:
        release.set()  # answers held by slow_response_s go out at once on shutdown

    app.cleanup_ctx.append(delivery_ctx)
    app.on_shutdown.append(release_held)
    app.router.add_post(TOKEN_PATH, OAuthHandler(state).token)
    collection.register(app, state, deliverer)
    disbursement.register(app, state)
    account.register(app, state)
    control = ControlHandlers(state, deliverer)
    app.router.add_get("/simulator/state", control.snapshot)
    app.router.add_post("/simulator/faults", control.faults)
    app.router.add_post("/simulator/portal", control.portal)
    app.router.add_post("/simulator/reset", control.reset)
    app.router.add_post("/simulator/drain", control.drain)
    app.router.add_post("/simulator/expire-tokens", control.expire_tokens)
    app.router.add_get("/simulator/public-key", control.public_key)
    return app


def family_for(path: str) -> v.Family:
    """The product family whose codes a path's refusals use."""
    if "/disbursements" in path:
        return v.DISBURSEMENT
    if path == "/standard/v1/users/balance":
        return v.ACCOUNT
    if path.startswith("/standard/v1/users/"):
        return v.KYC
    if path.startswith("/v1/rsa/"):
        return v.KEYS
    return v.COLLECTION


def _gateway(
    state: SimulatorState, release: asyncio.Event
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Airtel's gateway in front of every product call: faults, token, headers, signature."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        state.settle_due()
        if request.path.startswith("/simulator/"):
            return await handler(request)
        call = Call(request.method, request.path)
        state.calls.append(call)  # at once: a held-back answer still counts as a request
        response = await answer(request, handler)
        call.dropped = request.transport is None or request.transport.is_closing()
        call.status = None if call.dropped else response.status
        return response

    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults = state.faults
        try:
            _route_exists(request)
            _allowed_ip(request, state)
            if request.path == TOKEN_PATH:
                return await handler(request)
            family = family_for(request.path)
            # gateway refusals happen before anything is applied: the request has no effect
            if faults.take("rate_limit_next_n"):
                raise v.gateway(429, "Too Many Requests", headers={"Retry-After": "1"})
            if faults.take("fail_next_n"):
                raise v.refused(
                    family,
                    "Something went wrong",
                    result_code="ESB000001",
                    code="500",
                    http_status=500,
                )
            _check_token(request, state)
            _check_headers(request, state, family)
            if request.method == "POST" and _MONEY_POST.match(request.path):
                await _check_signature(request, state, family)
            response = await handler(request)
        except v.Refusal as refusal:
            log.info("sim.refused path=%s code=%s", request.path, refusal.code)
            return refusal.response()
        if request.get(v.APPLIED):
            if faults.take("drop_connection_next_n"):
                # the request took effect; the answer never reaches the client
                log.info("sim.fault.drop_connection path=%s", request.path)
                if request.transport is not None:
                    request.transport.abort()
                return response
            if faults.slow_response_s > 0:
                # the request took effect; only the answer is late (read time-outs)
                try:
                    async with asyncio.timeout(faults.slow_response_s):
                        await release.wait()
                except TimeoutError:
                    pass
        return response

    return middleware


def _route_exists(request: web.Request) -> None:
    """Unknown paths and methods answer in Airtel's envelope, never aiohttp's plain text."""
    problem = request.match_info.http_exception
    if isinstance(problem, web.HTTPMethodNotAllowed):
        raise v.method_not_allowed(request.method, request.path)
    if problem is not None:
        raise v.not_found(request.method, request.path)


def _allowed_ip(request: web.Request, state: SimulatorState) -> None:
    allowed = state.config.allowed_ips
    if allowed is not None and request.remote not in allowed:
        raise v.gateway(403, "Forbidden: the server IP is not on the app's allow-list")


def _check_token(request: web.Request, state: SimulatorState) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not state.token_valid(token.strip()):
        raise v.oauth(403, "invalid_token", "The access token is invalid or has expired")


def _check_headers(request: web.Request, state: SimulatorState, family: v.Family) -> None:
    config = state.config
    country = request.headers.get("X-Country")
    if not country:
        partner = hashlib.sha256(config.client_id.encode()).hexdigest()[:32]
        raise v.router(400, "ROUTER110", f"Partner {partner} not found")
    if country != config.country:
        raise v.refused(family, "Invalid Country Code", result_code="ESB000034")
    currency = request.headers.get("X-Currency")
    if not currency:
        raise v.refused(
            family, "Missing request header 'x-wallet-id' for method parameter of type String"
        )
    if currency != config.currency:
        raise v.refused(family, "Invalid/Missing Currency", result_code="ESB000035")


async def _check_signature(request: web.Request, state: SimulatorState, family: v.Family) -> None:
    """Verify x-signature/x-key over the raw body when sent, and demand them when required."""
    signature = request.headers.get(SIGNATURE_HEADER)
    encrypted_key = request.headers.get(KEY_HEADER)
    if not signature and not encrypted_key and not state.portal.require_signing:
        return
    mismatch = v.refused(
        family, "Forbidden. X-signature and payload did not match", response_code=family.signature
    )
    if not signature or not encrypted_key:
        raise mismatch
    decrypted = decrypt(state.private_key, encrypted_key, state.config.pin_paddings)
    pair = _KEY_PAIR.fullmatch(decrypted[0].decode("ascii", "replace")) if decrypted else None
    if pair is None:
        raise mismatch
    try:
        aes_key = base64.b64decode(pair.group(1), validate=True)
        iv = base64.b64decode(pair.group(2), validate=True)
        expected = aes_signature(await request.read(), aes_key, iv)
    except (binascii.Error, ValueError):
        raise mismatch from None
    if not hashes_match(expected, signature):
        raise mismatch


class OAuthHandler:
    """Issues access tokens for the configured client id and secret (credentials in the body)."""

    def __init__(self, state: SimulatorState) -> None:
        self._state = state

    async def token(self, request: web.Request) -> web.Response:
        """POST /auth/oauth2/token with {client_id, client_secret, grant_type}."""
        state = self._state
        if request.content_type != "application/json":
            raise v.oauth(400, "invalid_request", "Content-Type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            raise v.oauth(400, "invalid_request", "The request body is not JSON") from None
        if not isinstance(body, dict):
            raise v.oauth(400, "invalid_request", "The request body is not a JSON object")
        check = state.checker(body, path=request.path, family=v.COLLECTION)
        check.unknown_fields(TOKEN_SCHEMA)
        if body.get("grant_type") != "client_credentials":
            raise v.oauth(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if not self._credentials_ok(body.get("client_id"), body.get("client_secret")):
            log.info("sim.oauth.refused")
            raise v.oauth(400, "invalid_client", "Invalid client authentication")
        return web.json_response(
            {
                "access_token": state.issue_token(),
                "expires_in": str(state.config.token_ttl_s),
                "token_type": "bearer",
            }
        )

    def _credentials_ok(self, client_id: object, client_secret: object) -> bool:
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            return False
        config = self._state.config
        id_ok = hmac.compare_digest(client_id.encode(), config.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), config.client_secret.encode())
        return id_ok and secret_ok


# reset and drain are twins of mpesa/simulator/app.py's; kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
class ControlHandlers:
    """Endpoints for tests and the demo: state, faults, portal, reset, drain, tokens, key."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def snapshot(self, _: web.Request) -> web.Response:
        """GET /simulator/state: transactions, wallets, deliveries, warnings, faults, portal."""
        return web.json_response(self._snapshot())

    async def faults(self, request: web.Request) -> web.Response:
        """POST /simulator/faults: change fault switches (partial JSON object)."""
        return await self._update(request, self._state.faults.update, self._state.faults.snapshot)

    async def portal(self, request: web.Request) -> web.Response:
        """POST /simulator/portal: change the portal settings (callback URL, hash key...)."""
        return await self._update(request, self._state.portal.update, self._state.portal.snapshot)

    async def reset(self, _: web.Request) -> web.Response:
        """POST /simulator/reset: cancel pending callbacks and forget all but tokens and portal."""
        await self._deliverer.cancel_all()
        self._state.reset()
        return web.json_response(self._snapshot())

    async def drain(self, _: web.Request) -> web.Response:
        """POST /simulator/drain: wait until every pending callback has been delivered."""
        await self._deliverer.drain()
        return web.json_response(self._snapshot())

    async def expire_tokens(self, _: web.Request) -> web.Response:
        """POST /simulator/expire-tokens: every issued token becomes invalid."""
        return web.json_response({"expired": self._state.expire_tokens()})

    async def public_key(self, _: web.Request) -> web.Response:
        """GET /simulator/public-key: the simulator's RSA public key as PEM."""
        pem = public_key_pem(self._state.private_key.public_key())
        return web.Response(text=pem, content_type="application/x-pem-file")

    async def _update(
        self,
        request: web.Request,
        apply: Callable[[dict[str, object]], None],
        show: Callable[[], dict[str, object]],
    ) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            apply(changes)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        log.info("sim.control path=%s %s", request.path, _for_log(show()))
        return web.json_response(show())

    def _snapshot(self) -> dict[str, object]:
        return self._state.snapshot() | {"busy_jobs": self._deliverer.busy}


SECRET_SEGMENT_LEN = 16  # our callback paths carry an unguessable segment at least this long


def _for_log(settings: dict[str, object]) -> dict[str, object]:
    """Control settings as logged: a callback URL's long (secret) path segments and the hash
    key blanked out (the answer to the caller still shows them)."""
    shown = dict(settings)
    url = shown.get("callback_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        path = "/".join(
            "***" if len(segment) >= SECRET_SEGMENT_LEN else segment
            for segment in parts.path.split("/")
        )
        shown["callback_url"] = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if shown.get("callback_hash_key"):
        shown["callback_hash_key"] = "***"
    return shown
