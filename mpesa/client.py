"""Async Daraja client: one shared httpx.AsyncClient, a cached token, one method per API call."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from types import TracebackType
from typing import Any
from typing import Self
from typing import TypeVar

import httpx

from mpesa.errors import AuthFailed
from mpesa.errors import ConfigurationError
from mpesa.errors import DarajaUnreachable
from mpesa.errors import OutcomeUnknown
from mpesa.errors import ServerError
from mpesa.faults import DEFAULT_RETRY_AFTER_S
from mpesa.faults import Fault
from mpesa.faults import error_for
from mpesa.faults import json_object
from mpesa.faults import parse_answer
from mpesa.faults import read_fault
from mpesa.models import AccountBalanceRequest
from mpesa.models import AsyncAccepted
from mpesa.models import B2CRequest
from mpesa.models import C2BRegisterRequest
from mpesa.models import C2BRegisterResponse
from mpesa.models import C2BSimulateRequest
from mpesa.models import CallbackUrls
from mpesa.models import DarajaResponse
from mpesa.models import OAuthToken
from mpesa.models import ReversalRequest
from mpesa.models import StkPushRequest
from mpesa.models import StkPushResponse
from mpesa.models import StkQueryRequest
from mpesa.models import StkQueryResponse
from mpesa.models import TransactionStatusRequest
from mpesa.phone import mask_id
from mpesa.phone import mask_msisdn
from mpesa.security import daraja_timestamp
from mpesa.security import nairobi_now
from mpesa.security import stk_password

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)

OAUTH_PATH = "/oauth/v1/generate"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
BALANCE_PATH = "/mpesa/accountbalance/v1/query"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
C2B_REGISTER_PATH = "/mpesa/c2b/v2/registerurl"
C2B_SIMULATE_PATH = "/mpesa/c2b/v2/simulate"

# the request never left this machine, so sending it again cannot move money twice
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_PENDING_RESULT_CODE = "4999"

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
_R = TypeVar("_R", bound=DarajaResponse)  # the answer model a product call is read into


@dataclass(frozen=True)
class DarajaConfig:
    """Everything the client needs to talk to one Daraja environment for one business."""

    base_url: str  # e.g. https://sandbox.safaricom.co.ke or http://127.0.0.1:8765
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    shortcode: str  # BusinessShortCode (paybill, or store number for a till)
    passkey: str = field(repr=False)
    callbacks: CallbackUrls = field(repr=False)  # their paths carry a secret token
    transaction_type: str = "CustomerPayBillOnline"  # or CustomerBuyGoodsOnline for a till
    party_b: str | None = None  # till number for CustomerBuyGoodsOnline; defaults to shortcode
    b2c_shortcode: str | None = None  # PartyA for B2C, status and balance; defaults to shortcode
    initiator_name: str = ""
    security_credential: str = field(default="", repr=False)  # already encrypted (security.py)


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: datetime


class DarajaClient:
    """Async client for the Daraja APIs this project uses; share one per process."""

    def __init__(
        self,
        config: DarajaConfig,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        token_refresh_margin_s: float = 120.0,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._owns_http = http is None
        # ``verify``: a TLS context shared by the process's clients (each new one reads the CAs)
        self._http = http or httpx.AsyncClient(timeout=timeout or DEFAULT_TIMEOUT, verify=verify)
        # a passed-in client keeps its own timeout unless one is given explicitly
        self._timeout = timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._refresh_margin = timedelta(seconds=token_refresh_margin_s)
        self._clock = clock or nairobi_now
        self._sleep = sleep
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it (a passed-in one stays open)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- OAuth ------------------------------------------------------------------------------

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """Return a valid access token, fetching one only when the cached one is due for refresh."""
        seen = self._token
        if seen is not None and not force_refresh and self._clock() < seen.refresh_at:
            return seen.value
        async with self._token_lock:
            current = self._token
            # single flight: whoever held the lock before us may already have fetched a new one
            if current is not None and current is not seen and self._clock() < current.refresh_at:
                return current.value
            self._token = await self._fetch_token()
            return self._token.value

    async def _renew_token(self, rejected: str) -> str:
        """Replace a token Daraja refused, unless a concurrent caller already replaced it."""
        async with self._token_lock:
            current = self._token
            if current is not None and current.value != rejected:
                return current.value
            self._token = None
        return await self.access_token()

    async def _fetch_token(self) -> _Token:
        config = self._config
        send = functools.partial(
            self._http.get,
            f"{self._base_url}{OAUTH_PATH}",
            params={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(config.consumer_key, config.consumer_secret),
            timeout=self._timeout,
        )
        response = await self._exchange("oauth", send, money=False)
        if not response.is_success:
            fault = _fault_of(response)
            if response.status_code in (400, 401, 403):
                # wrong key/secret often comes back as HTTP 400 with an empty body
                raise AuthFailed(
                    f"Daraja refused the consumer key/secret: {fault.message}",
                    code=fault.code,
                    request_id=fault.request_id,
                    http_status=fault.http_status,
                )
            raise error_for("oauth", fault, money=False)
        body = json_object(response.status_code, response.content, "oauth", money=False)
        token = OAuthToken.model_validate(body)
        value = token.access_token
        if not isinstance(value, str) or not value:
            raise ServerError("Daraja's OAuth answer has no access_token", http_status=200)
        lifetime = _seconds(token.expires_in, default=3599.0)
        ttl = timedelta(seconds=lifetime) - self._refresh_margin
        if ttl <= timedelta(0):
            ttl = timedelta(seconds=lifetime / 2)
        log.info("daraja.oauth.ok expires_in_s=%s", int(lifetime))
        return _Token(value=value, refresh_at=self._clock() + ttl)

    # -- M-Pesa Express ---------------------------------------------------------------------

    async def stk_push(
        self, *, msisdn: str, amount: int, reference: str, description: str
    ) -> StkPushResponse:
        """Ask the customer's phone to pay ``amount`` shillings; money POST, sent at most once."""
        config = self._config
        timestamp = daraja_timestamp(self._clock())  # once: Password and Timestamp must agree
        body = StkPushRequest(
            business_short_code=config.shortcode,
            password=stk_password(config.shortcode, config.passkey, timestamp),
            timestamp=timestamp,
            transaction_type=config.transaction_type,
            amount=amount,
            party_a=msisdn,
            party_b=config.party_b or config.shortcode,
            phone_number=msisdn,
            callback_url=config.callbacks.stk,
            account_reference=reference,
            transaction_desc=description,
        ).to_body()
        log.info(
            "daraja.stk_push.send msisdn=%s amount=%s reference=%s",
            mask_msisdn(msisdn),
            amount,
            reference,
        )
        result = await self._post_for(StkPushResponse, "stk_push", STK_PUSH_PATH, body, money=True)
        log.info(
            "daraja.stk_push.accepted checkout_request_id=%s merchant_request_id=%s",
            mask_id(result.checkout_request_id),
            result.merchant_request_id,
        )
        return result

    async def stk_query(self, checkout_request_id: str) -> StkQueryResponse:
        """Ask Daraja how an STK Push ended; ``pending`` is True while it is still processing."""
        config = self._config
        timestamp = daraja_timestamp(self._clock())
        body = StkQueryRequest(
            business_short_code=config.shortcode,
            password=stk_password(config.shortcode, config.passkey, timestamp),
            timestamp=timestamp,
            checkout_request_id=checkout_request_id,
        ).to_body()
        answer = await self._post(
            "stk_query", STK_QUERY_PATH, body, money=False, still_processing_ok=True
        )
        if isinstance(answer, Fault):
            # HTTP 500 "The transaction is being processed" means wait, not failed
            result = StkQueryResponse(
                checkout_request_id=checkout_request_id, result_desc=answer.message, pending=True
            )
        else:
            # pending answers may carry only ResultCode/ResultDesc
            merged = {
                StkQueryResponse.alias_of("checkout_request_id"): checkout_request_id,
                **answer,
            }
            result = parse_answer(StkQueryResponse, merged, "stk_query", money=False)
            if result.result_code == _PENDING_RESULT_CODE:
                result = result.model_copy(update={"pending": True})
        log.info(
            "daraja.stk_query.ok checkout_request_id=%s result_code=%s pending=%s",
            mask_id(checkout_request_id),
            result.result_code,
            result.pending,
        )
        return result

    # -- B2C, status, balance, reversal -----------------------------------------------------

    async def b2c_payment(
        self,
        *,
        originator_conversation_id: str,
        msisdn: str,
        amount: int,
        remarks: str,
        occasion: str = "",
        command_id: str = "BusinessPayment",
    ) -> AsyncAccepted:
        """Pay ``amount`` shillings to a customer (B2C v3); money POST, sent at most once."""
        config = self._config
        self._require_initiator("b2c_payment")
        body = B2CRequest(
            originator_conversation_id=originator_conversation_id,
            initiator_name=config.initiator_name,
            security_credential=config.security_credential,
            command_id=command_id,
            amount=amount,
            party_a=config.b2c_shortcode or config.shortcode,
            party_b=msisdn,
            remarks=remarks,
            queue_timeout_url=config.callbacks.b2c_timeout,
            result_url=config.callbacks.b2c_result,
            occasion=occasion,
        ).to_body()
        log.info(
            "daraja.b2c.send originator_conversation_id=%s msisdn=%s amount=%s",
            originator_conversation_id,
            mask_msisdn(msisdn),
            amount,
        )
        result = await self._post_for(AsyncAccepted, "b2c_payment", B2C_PATH, body, money=True)
        log.info(
            "daraja.b2c.accepted originator_conversation_id=%s conversation_id=%s",
            result.originator_conversation_id,
            result.conversation_id,
        )
        return result

    async def transaction_status(
        self,
        *,
        originator_conversation_id: str | None = None,
        transaction_id: str | None = None,
        remarks: str = "Status check",
        occasion: str = "",
        party_a: str | None = None,
        identifier_type: str = "4",
    ) -> AsyncAccepted:
        """Query a transaction by our conversation id and/or its receipt; result by callback."""
        if not originator_conversation_id and not transaction_id:
            raise ValueError(
                "transaction_status needs originator_conversation_id or transaction_id"
            )
        config = self._config
        self._require_initiator("transaction_status")
        body = TransactionStatusRequest(
            initiator=config.initiator_name,
            security_credential=config.security_credential,
            # unconfirmed whether Daraja accepts it missing; a fake value would be worse
            transaction_id=transaction_id or None,
            original_conversation_id=originator_conversation_id or None,
            party_a=party_a or config.b2c_shortcode or config.shortcode,
            identifier_type=identifier_type,
            result_url=config.callbacks.status_result,
            queue_timeout_url=config.callbacks.status_timeout,
            remarks=remarks,
            occasion=occasion,
        ).to_body()
        result = await self._post_for(
            AsyncAccepted, "transaction_status", STATUS_PATH, body, money=False
        )
        log.info(
            "daraja.status.accepted originator_conversation_id=%s transaction_id=%s "
            "conversation_id=%s",
            originator_conversation_id,
            transaction_id,
            result.conversation_id,
        )
        return result

    async def account_balance(self, *, remarks: str = "Balance check") -> AsyncAccepted:
        """Ask for the B2C shortcode's account balances; the result comes by callback."""
        config = self._config
        self._require_initiator("account_balance")
        body = AccountBalanceRequest(
            initiator=config.initiator_name,
            security_credential=config.security_credential,
            party_a=config.b2c_shortcode or config.shortcode,
            remarks=remarks,
            queue_timeout_url=config.callbacks.balance_timeout,
            result_url=config.callbacks.balance_result,
        ).to_body()
        result = await self._post_for(
            AsyncAccepted, "account_balance", BALANCE_PATH, body, money=False
        )
        log.info("daraja.balance.accepted conversation_id=%s", result.conversation_id)
        return result

    async def reversal(
        self, *, transaction_id: str, amount: int, remarks: str, occasion: str = ""
    ) -> AsyncAccepted:
        """Reverse a payment of ``amount`` shillings we received; money POST, sent at most once."""
        config = self._config
        self._require_initiator("reversal")
        body = ReversalRequest(
            initiator=config.initiator_name,
            security_credential=config.security_credential,
            transaction_id=transaction_id,
            amount=amount,
            receiver_party=config.shortcode,
            result_url=config.callbacks.reversal_result,
            queue_timeout_url=config.callbacks.reversal_timeout,
            remarks=remarks,
            occasion=occasion,
        ).to_body()
        log.info("daraja.reversal.send transaction_id=%s amount=%s", transaction_id, amount)
        result = await self._post_for(AsyncAccepted, "reversal", REVERSAL_PATH, body, money=True)
        log.info(
            "daraja.reversal.accepted transaction_id=%s conversation_id=%s",
            transaction_id,
            result.conversation_id,
        )
        return result

    # -- C2B --------------------------------------------------------------------------------

    async def c2b_register_urls(self, *, response_type: str = "Completed") -> C2BRegisterResponse:
        """Register our C2B confirmation and validation URLs; sent at most once."""
        config = self._config
        body = C2BRegisterRequest(
            short_code=config.shortcode,
            response_type=response_type,
            confirmation_url=config.callbacks.c2b_confirmation,
            validation_url=config.callbacks.c2b_validation,
        ).to_body()
        # not money, but production refuses a second registration: never blind-resend
        result = await self._post_for(
            C2BRegisterResponse, "c2b_register_urls", C2B_REGISTER_PATH, body, money=True
        )
        log.info("daraja.c2b_register.ok response_code=%s", result.response_code)
        return result

    async def c2b_simulate(
        self,
        *,
        msisdn: str,
        amount: int,
        bill_ref_number: str,
        command_id: str = "CustomerPayBillOnline",
    ) -> C2BRegisterResponse:
        """Make the sandbox pay ``amount`` shillings to our shortcode; sent at most once."""
        body = C2BSimulateRequest(
            short_code=self._config.shortcode,
            command_id=command_id,
            amount=amount,
            msisdn=msisdn,
            bill_ref_number=bill_ref_number,
        ).to_body()
        log.info(
            "daraja.c2b_simulate.send msisdn=%s amount=%s bill_ref_number=%s",
            mask_msisdn(msisdn),
            amount,
            bill_ref_number,
        )
        # a resend would simulate a second payment, so it is treated like a money POST
        return await self._post_for(
            C2BRegisterResponse, "c2b_simulate", C2B_SIMULATE_PATH, body, money=True
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _require_initiator(self, op: str) -> None:
        if not self._config.initiator_name or not self._config.security_credential:
            raise ConfigurationError(f"{op} needs an initiator name and security credential")

    async def _post_for(
        self, model: type[_R], op: str, path: str, body: dict[str, Any], *, money: bool
    ) -> _R:
        """POST a product call and read its 2xx answer as ``model``."""
        answer = await self._post(op, path, body, money=money)
        return parse_answer(model, answer, op, money=money)

    async def _post(
        self,
        op: str,
        path: str,
        body: dict[str, Any],
        *,
        money: bool,
        still_processing_ok: bool = False,
    ) -> Any:
        """POST a product call with a bearer token; refresh the token once if Daraja refuses it."""
        token = await self.access_token()
        for token_retry_left in (True, False):
            send = functools.partial(
                self._http.post,
                f"{self._base_url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            response = await self._exchange(op, send, money=money, token=token)
            if response.is_success:
                return json_object(response.status_code, response.content, op, money=money)
            fault = _fault_of(response, token=token)
            if fault.invalid_token:
                if token_retry_left:
                    # refused at the gateway, so nothing happened: safe even for money POSTs
                    log.warning("daraja.token.rejected op=%s code=%s", op, fault.code)
                    token = await self._renew_token(token)
                    continue
                raise AuthFailed(
                    f"Daraja refused a fresh access token for {op}: {fault.message}",
                    code=fault.code,
                    request_id=fault.request_id,
                    http_status=fault.http_status,
                )
            if still_processing_ok and fault.still_processing:
                return fault
            error = error_for(op, fault, money=money)
            log.warning(
                "daraja.refused op=%s error=%s code=%s http_status=%s request_id=%s",
                op,
                type(error).__name__,
                fault.code,
                fault.http_status,
                fault.request_id,
            )
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self,
        op: str,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        money: bool,
        token: str | None = None,
    ) -> httpx.Response:
        """Send with the retry rules; return a 2xx or the answer the caller has to map."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await send()
            except _NEVER_SENT as exc:
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, type(exc).__name__)
                    continue
                raise DarajaUnreachable(
                    f"Daraja unreachable for {op} after {attempt} attempts "
                    f"({type(exc).__name__}); nothing was sent"
                ) from exc
            except httpx.UnsupportedProtocol as exc:
                raise ConfigurationError(f"bad Daraja base URL {self._base_url!r}") from exc
            except httpx.TransportError as exc:
                if money:
                    log.error("daraja.outcome_unknown op=%s error=%s", op, type(exc).__name__)
                    raise OutcomeUnknown(
                        f"{op} was sent but its answer was lost ({type(exc).__name__}); "
                        "reconcile by status, never resend"
                    ) from exc
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, type(exc).__name__)
                    continue
                raise ServerError(
                    f"Daraja did not answer {op} after {attempt} attempts ({type(exc).__name__})"
                ) from exc
            if response.is_success:
                return response
            fault = _fault_of(response, token=token)
            if fault.rate_limited:
                delay = fault.retry_after_s or DEFAULT_RETRY_AFTER_S
                # throttled at the gateway: fine to ask again; money POSTs stay the caller's call
                if not money and attempt < self._max_attempts and delay <= self._backoff_max_s:
                    log.warning(
                        "daraja.rate_limited op=%s attempt=%s delay_s=%s", op, attempt, delay
                    )
                    await self._sleep(delay)
                    continue
                return response
            if response.status_code >= 500 and not fault.definite:
                if money:
                    log.error(
                        "daraja.outcome_unknown op=%s http_status=%s code=%s",
                        op,
                        fault.http_status,
                        fault.code,
                    )
                    raise OutcomeUnknown(
                        f"{op} got HTTP {fault.http_status} ({fault.message}); it may have "
                        "landed: reconcile by status, never resend",
                        code=fault.code,
                        request_id=fault.request_id,
                        http_status=fault.http_status,
                    )
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, f"http_{fault.http_status}")
                    continue
            return response

    async def _backoff(self, op: str, attempt: int, reason: str) -> None:
        # full jitter: spreads retries of many callers instead of bunching them
        cap = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
        delay = random.uniform(0.0, cap)
        log.warning(
            "daraja.retry op=%s attempt=%s reason=%s delay_s=%.3f", op, attempt, reason, delay
        )
        await self._sleep(delay)


def _seconds(value: object, *, default: float) -> float:
    """``expires_in`` arrives as "3599" or 3599 depending on the doc generation."""
    if isinstance(value, bool):
        return default
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


def _fault_of(response: httpx.Response, *, token: str | None = None) -> Fault:
    """Read a non-2xx answer (the refused token, if echoed, is blanked out)."""
    return read_fault(
        response.status_code,
        response.content,
        retry_after=response.headers.get("Retry-After"),
        token=token,
    )
