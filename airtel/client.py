"""Async Airtel Money client: one shared httpx.AsyncClient, a cached token, one method per call.

Money requests (USSD push, refund, disbursement) are sent at most once: an answer we cannot read,
a time-out after sending, a 5xx, 408 or 429, or an ambiguous code (TA, TIP, DP...1000, ESB000001,
a duplicate id) raises ``OutcomeUnknown``, and the caller settles it with the enquiry by the same
transaction id. Only ``AirtelUnreachable`` (the request never left) may be sent again.

The token cache (single flight), the retry loop and the client's lifetime are twins of
``mpesa/client.py``: ``airtel/`` and ``mpesa/`` stand alone and import nothing from each other,
so the shared shape is kept twice on purpose rather than in a third package.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import random
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import TracebackType
from typing import Any
from typing import Literal
from typing import Self
from typing import TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from airtel.codes import Api
from airtel.codes import Outcome
from airtel.codes import ResultInfo
from airtel.codes import TransactionStatus
from airtel.errors import AirtelError
from airtel.errors import AirtelUnreachable
from airtel.errors import AuthFailed
from airtel.errors import ConfigurationError
from airtel.errors import Declined
from airtel.errors import DuplicateTransaction
from airtel.errors import InvalidRequest
from airtel.errors import OutcomeUnknown
from airtel.errors import RateLimited
from airtel.errors import ServerError
from airtel.models import AirtelRequest
from airtel.models import Balance
from airtel.models import CollectionStatus
from airtel.models import CollectionTransaction
from airtel.models import DisbursementRequest
from airtel.models import DisbursementResult
from airtel.models import DisbursementStatus
from airtel.models import DisbursementTransaction
from airtel.models import EncryptionKey
from airtel.models import Envelope
from airtel.models import KycUser
from airtel.models import Payee
from airtel.models import PushAccepted
from airtel.models import RefundRequest
from airtel.models import RefundResult
from airtel.models import RefundTransaction
from airtel.models import Subscriber
from airtel.models import TokenRequest
from airtel.models import TokenResponse
from airtel.models import UssdPushRequest
from airtel.models import balance
from airtel.models import disbursement_result
from airtel.models import encryption_key
from airtel.models import enquiry
from airtel.models import kyc_user
from airtel.models import push_accepted
from airtel.models import read_envelope
from airtel.models import refund_result
from airtel.phone import airtel_msisdn
from airtel.phone import international_msisdn
from airtel.phone import mask_msisdn
from airtel.security import RsaPadding
from airtel.security import encrypt_pin
from airtel.security import load_public_key
from airtel.security import sign_message

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
DEFAULT_RETRY_AFTER_S = 5.0
DEFAULT_TOKEN_LIFETIME_S = 180.0  # airtel.md §3: "180" in the docs and two independent notes
KEY_CACHE_MAX = timedelta(hours=24)

# airtel.md §1: no Kenyan host is known; the pan-African hosts serve KE with X-Country: KE
BASE_URLS = {
    "uat": "https://openapiuat.airtel.africa",
    "production": "https://openapi.airtel.africa",
}

TOKEN_PATH = "/auth/oauth2/token"  # noqa: S105 - a path, not a secret
PUSH_PATH = "/merchant/{version}/payments/"  # the trailing slash: every source sends it
COLLECTION_ENQUIRY_PATH = "/standard/v1/payments/{id}"
REFUND_PATH = "/standard/{version}/payments/refund"
DISBURSEMENT_PATH = "/standard/{version}/disbursements/"
DISBURSEMENT_ENQUIRY_PATH = "/standard/{version}/disbursements/{id}"
KYC_PATH = "/standard/v1/users/{msisdn}"
BALANCE_PATH = "/standard/v1/users/balance"
KEYS_PATH = "/v1/rsa/encryption-keys"

Version = Literal["v1", "v2"]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")  # what an account call's answer is read into

# the request never left this machine, so sending it again cannot move money twice
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_INVALID_TOKEN = "invalid_token"  # noqa: S105 - an OAuth error code


def base_url_for(environment: str) -> str:
    """The base URL of an Airtel environment: "uat" or "production"."""
    try:
        return BASE_URLS[environment.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown Airtel environment {environment!r}; use uat or production"
        ) from None


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AirtelConfig:
    """Everything the client needs for one Airtel Money app in one country.

    Where Airtel's sources disagree the choice is a field (see docs/airtel.md, "Unconfirmed for
    Kenya"): ``pin_padding``, ``signing``/``signing_padding``, and the API versions.
    """

    base_url: str  # https://openapiuat.airtel.africa, https://openapi.airtel.africa, a simulator
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    country: str = "KE"
    currency: str = "KES"
    disbursement_pin: str = field(default="", repr=False)  # 4 digits, encrypted per request
    public_key: str | bytes | None = field(default=None, repr=False)  # None: fetched from Airtel
    pin_padding: RsaPadding = RsaPadding.PKCS1V15
    signing: bool = False  # send x-signature/x-key on money POSTs (not known to be needed in KE)
    signing_padding: RsaPadding = RsaPadding.PKCS1V15
    collection_version: Version = "v1"
    refund_version: Version = "v1"
    disbursement_version: Version = "v1"
    wallet_type: Literal["B2C", "B2B"] = "B2C"  # v2 disbursements: B2C to people, B2B to businesses


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: datetime


@dataclass(frozen=True)
class _Answer:
    """A product call's answer: HTTP status and the body read as an Airtel envelope."""

    http_status: int
    envelope: Envelope


@dataclass(frozen=True)
class _CachedKey:
    key: rsa.RSAPublicKey
    refresh_at: datetime | None  # None: configured, never refreshed


class AirtelClient:
    """Async client for the Airtel Money APIs this project uses; share one per process."""

    def __init__(
        self,
        config: AirtelConfig,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        token_refresh_margin_s: float = 30.0,
        clock: Clock = _utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._config = config
        self._base_url = config.base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout or DEFAULT_TIMEOUT)
        # a passed-in client keeps its own timeout unless one is given explicitly
        self._timeout = timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._refresh_margin = timedelta(seconds=token_refresh_margin_s)
        self._clock = clock
        self._sleep = sleep
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._key: _CachedKey | None = None
        self._key_lock = asyncio.Lock()
        if config.public_key is not None:
            self._key = _CachedKey(load_public_key(config.public_key), refresh_at=None)

    @property
    def config(self) -> AirtelConfig:
        """The configuration this client was built with."""
        return self._config

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
        """Return a valid access token; concurrent callers share one token request."""
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
        """Replace a token Airtel refused, unless a concurrent caller already replaced it."""
        async with self._token_lock:
            current = self._token
            if current is not None and current.value != rejected:
                return current.value
            self._token = None
        return await self.access_token()

    async def _fetch_token(self) -> _Token:
        config = self._config
        body = _serialise(
            TokenRequest(client_id=config.client_id, client_secret=config.client_secret)
        )
        send = functools.partial(
            self._http.post,
            f"{self._base_url}{TOKEN_PATH}",
            content=body,
            headers={"Content-Type": "application/json", "Accept": "*/*"},
            timeout=self._timeout,
        )
        response = await self._exchange("oauth", send, money=False)
        envelope = _envelope(response)
        if not response.is_success:
            reason = (
                envelope.error_description or envelope.message or f"HTTP {response.status_code}"
            )
            if response.status_code in (400, 401, 403):
                raise AuthFailed(
                    f"Airtel refused the client id/secret: {reason}",
                    code=envelope.error,
                    http_status=response.status_code,
                )
            raise ServerError(
                f"Airtel's token endpoint failed: {reason}", http_status=response.status_code
            )
        try:
            token = TokenResponse.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise ServerError("Airtel's token answer has no access_token", http_status=200) from exc
        lifetime = _seconds(token.expires_in, default=DEFAULT_TOKEN_LIFETIME_S)
        ttl = timedelta(seconds=lifetime) - self._refresh_margin
        if ttl <= timedelta(0):
            ttl = timedelta(seconds=lifetime / 2)
        log.info("airtel.oauth.ok expires_in_s=%s", int(lifetime))
        return _Token(value=token.access_token, refresh_at=self._clock() + ttl)

    # -- RSA key ----------------------------------------------------------------------------

    async def encryption_key(self) -> EncryptionKey:
        """Fetch Airtel's RSA public key (``GET /v1/rsa/encryption-keys``); not cached here."""
        return await self._read("encryption_key", KEYS_PATH, Api.KEYS, encryption_key)

    async def public_key(self) -> rsa.RSAPublicKey:
        """The configured public key, or Airtel's, fetched once and kept until ``valid_upto``."""
        cached = self._key
        if cached is not None and (cached.refresh_at is None or self._clock() < cached.refresh_at):
            return cached.key
        async with self._key_lock:
            cached = self._key
            if cached is not None and (
                cached.refresh_at is None or self._clock() < cached.refresh_at
            ):
                return cached.key
            fetched = await self.encryption_key()
            key = load_public_key(fetched.key)
            refresh_at = self._clock() + KEY_CACHE_MAX
            if fetched.valid_upto is not None:
                # the zone of valid_upto is not documented: read it as UTC, and cap the wait
                until = fetched.valid_upto.replace(tzinfo=fetched.valid_upto.tzinfo or UTC)
                refresh_at = min(refresh_at, max(until, self._clock() + timedelta(minutes=5)))
            self._key = _CachedKey(key, refresh_at=refresh_at)
            log.info("airtel.key.fetched key_id=%s", fetched.key_id)
            return key

    # -- collections ------------------------------------------------------------------------

    async def ussd_push(
        self, *, msisdn: str, amount: int, transaction_id: str, reference: str
    ) -> PushAccepted:
        """Send the customer's phone a prompt to pay ``amount`` shillings; money POST, sent once.

        Returns when Airtel has sent the prompt (not paid: the result comes by callback or
        ``collection_status``). Raises ``Declined`` when the prompt was not sent.
        """
        config = self._config
        request = UssdPushRequest(
            reference=reference,
            subscriber=Subscriber(country=config.country, currency=config.currency, msisdn=msisdn),
            transaction=CollectionTransaction(
                amount=amount,
                country=config.country,
                currency=config.currency,
                id=transaction_id,
            ),
        )
        log.info(
            "airtel.push.send transaction_id=%s msisdn=%s amount=%s",
            transaction_id,
            mask_msisdn(msisdn),
            amount,
        )
        path = PUSH_PATH.format(version=config.collection_version)
        answer = await self._call("ussd_push", "POST", path, request, money=True)
        info = answer.envelope.describe(Api.COLLECTION, http_status=answer.http_status)
        if info.outcome in (Outcome.SUCCESS, Outcome.PENDING):
            result = push_accepted(answer.envelope, transaction_id)
            log.info(
                "airtel.push.accepted transaction_id=%s response_code=%s",
                transaction_id,
                result.response_code,
            )
            return result
        raise self._money_error("ussd_push", transaction_id, answer, info)

    async def collection_status(self, transaction_id: str) -> CollectionStatus:
        """Ask how a USSD push payment stands (TS, TF, TA, TIP, TE, or not found)."""
        path = COLLECTION_ENQUIRY_PATH.format(id=_path_id(transaction_id))
        answer = await self._call("collection_status", "GET", path, money=False)
        return self._enquiry_result(
            "collection_status", CollectionStatus, transaction_id, answer, Api.COLLECTION
        )

    async def refund(self, *, airtel_money_id: str) -> RefundResult:
        """Refund a collection in full by Airtel's receipt; money POST, sent at most once."""
        request = RefundRequest(transaction=RefundTransaction(airtel_money_id=airtel_money_id))
        log.info("airtel.refund.send airtel_money_id=%s", airtel_money_id)
        path = REFUND_PATH.format(version=self._config.refund_version)
        answer = await self._call("refund", "POST", path, request, money=True)
        info = answer.envelope.describe(Api.REFUND, http_status=answer.http_status)
        status = (answer.envelope.transaction.get("status") or "").strip().upper()
        # the doc's own sample pairs "SUCCESS" with success:false and DP00800001006: the
        # transaction's status decides (airtel.md §5.4)
        if status in ("SUCCESS", TransactionStatus.SUCCESS) or (
            not status and info.outcome is Outcome.SUCCESS
        ):
            log.info("airtel.refund.ok airtel_money_id=%s", airtel_money_id)
            return refund_result(answer.envelope, airtel_money_id)
        if info.outcome is Outcome.NOT_FOUND:
            # no collection with that receipt: nothing was refunded
            info = dataclasses.replace(info, outcome=Outcome.FAILED)
        elif info.outcome is Outcome.PENDING:
            info = _unconfirmed(
                info,
                meaning="Airtel is still processing the refund.",
                next_step="Check the payment's status later; do not refund again.",
            )
        raise self._money_error("refund", None, answer, info)

    # -- disbursements ----------------------------------------------------------------------

    async def disburse(
        self, *, msisdn: str, amount: int, transaction_id: str, reference: str
    ) -> DisbursementResult:
        """Pay ``amount`` shillings to an Airtel Money number; money POST, sent at most once.

        Returns only when Airtel reports the money moved (TS). ``Declined`` means it did not;
        ``OutcomeUnknown`` (TA, TIP, time-outs, duplicates) means ask ``disbursement_status``.
        """
        config = self._config
        if not config.disbursement_pin:
            raise ConfigurationError("disburse needs the disbursement PIN")
        key = await self.public_key()
        v2 = config.disbursement_version == "v2"
        request = DisbursementRequest(
            payee=Payee(msisdn=msisdn, currency=config.currency if v2 else None),
            reference=reference,
            pin=encrypt_pin(config.disbursement_pin, key, scheme=config.pin_padding),
            transaction=DisbursementTransaction(
                amount=amount, id=transaction_id, type=config.wallet_type if v2 else None
            ),
        )
        log.info(
            "airtel.disburse.send transaction_id=%s msisdn=%s amount=%s",
            transaction_id,
            mask_msisdn(msisdn),
            amount,
        )
        path = DISBURSEMENT_PATH.format(version=config.disbursement_version)
        answer = await self._call("disburse", "POST", path, request, money=True)
        envelope = answer.envelope
        info = envelope.describe(Api.DISBURSEMENT, http_status=answer.http_status)
        status = envelope.status
        decided_by_code = not envelope.transaction.get("status") and (
            status is not None and status.response_code == "DP00900001001"
        )
        if info.outcome is Outcome.SUCCESS and (info.code == "TS" or decided_by_code):
            result = disbursement_result(envelope, transaction_id)
            log.info(
                "airtel.disburse.ok transaction_id=%s airtel_money_id=%s",
                transaction_id,
                result.airtel_money_id,
            )
            return result
        if info.outcome in (Outcome.SUCCESS, Outcome.PENDING):
            # accepted without saying the money moved: only the enquiry can tell
            info = _unconfirmed(
                info,
                meaning="Airtel accepted the payout but has not confirmed it.",
                next_step="Check the payout's status later; do not send it again.",
            )
        raise self._money_error("disburse", transaction_id, answer, info)

    async def disbursement_status(self, transaction_id: str) -> DisbursementStatus:
        """Ask how a disbursement stands (TS, TF, TA, TIP, or not found)."""
        config = self._config
        path = DISBURSEMENT_ENQUIRY_PATH.format(
            version=config.disbursement_version, id=_path_id(transaction_id)
        )
        params = (
            {"transactionType": config.wallet_type} if config.disbursement_version == "v2" else None
        )
        answer = await self._call("disbursement_status", "GET", path, money=False, params=params)
        return self._enquiry_result(
            "disbursement_status", DisbursementStatus, transaction_id, answer, Api.DISBURSEMENT
        )

    # -- account ----------------------------------------------------------------------------

    async def lookup_user(self, msisdn: str) -> KycUser | None:
        """KYC: who holds the Airtel Money account of ``msisdn``; None when nobody does."""
        wire = airtel_msisdn(msisdn)
        answer = await self._call("lookup_user", "GET", KYC_PATH.format(msisdn=wire), money=False)
        info = answer.envelope.describe(Api.KYC, http_status=answer.http_status)
        if info.outcome is Outcome.NOT_FOUND:
            log.info("airtel.kyc.not_found msisdn=%s", mask_msisdn(wire))
            return None
        if info.outcome is Outcome.SUCCESS and answer.envelope.data:
            return kyc_user(answer.envelope, international_msisdn(wire))
        raise self._not_answered("lookup_user", answer, info)

    async def balance(self) -> Balance:
        """The wallet balance Airtel reports (v1: which wallet is not documented), in cents."""
        return await self._read("balance", BALANCE_PATH, Api.BALANCE, balance)

    # -- results ----------------------------------------------------------------------------

    async def _read(
        self, op: str, path: str, api: Api, read: Callable[[Envelope], _T | None]
    ) -> _T:
        """GET ``path`` and ``read`` its answer; a refusal or an unreadable answer raises."""
        answer = await self._call(op, "GET", path, money=False)
        info = answer.envelope.describe(api, http_status=answer.http_status)
        found = read(answer.envelope)
        if found is None or info.outcome is not Outcome.SUCCESS:
            raise self._not_answered(op, answer, info)
        return found

    def _enquiry_result(
        self,
        op: str,
        model: type[CollectionStatus] | type[DisbursementStatus],
        transaction_id: str,
        answer: _Answer,
        api: Api,
    ) -> Any:
        envelope = answer.envelope
        info = envelope.describe(api, http_status=answer.http_status)
        if envelope.transaction.get("status") is not None:
            result = enquiry(model, envelope, transaction_id, found=True)
        elif info.outcome is Outcome.NOT_FOUND:
            # soon after the push this can mean "not registered yet" (airtel.md §5.3)
            result = enquiry(model, envelope, transaction_id, found=False)
        else:
            raise self._not_answered(op, answer, info)
        log.info(
            "airtel.%s transaction_id=%s status=%s found=%s",
            op,
            transaction_id,
            result.status_text,
            result.found,
        )
        return result

    def _money_error(
        self, op: str, transaction_id: str | None, answer: _Answer, info: ResultInfo
    ) -> AirtelError:
        """The error for a money POST that did not succeed, by the outcome class of its code."""
        details = _details(answer, transaction_id)
        text = info.description or info.meaning
        if info.outcome is Outcome.FAILED:
            error: AirtelError = Declined(f"Airtel declined {op}: {text}", info=info, **details)
        elif info.outcome is Outcome.REFUSED:
            error = InvalidRequest(
                f"Airtel refused {op}: {text} ({info.next_step})", info=info, **details
            )
        elif info.duplicate:
            error = DuplicateTransaction(
                f"Airtel already has transaction {transaction_id} ({text}); "
                "enquire its status, never resend with a new id",
                **details,
            )
        else:
            error = OutcomeUnknown(
                f"{op} outcome unknown ({info.code}: {text}); enquire, never resend", **details
            )
        log.warning(
            "airtel.refused op=%s error=%s code=%s transaction_id=%s http_status=%s",
            op,
            type(error).__name__,
            info.code,
            transaction_id,
            answer.http_status,
        )
        return error

    def _not_answered(self, op: str, answer: _Answer, info: ResultInfo) -> AirtelError:
        """The error for a request that moves no money and got no usable answer."""
        details = _details(answer, None)
        text = info.description or info.meaning
        if info.outcome is Outcome.REFUSED or answer.http_status == 404:
            return InvalidRequest(
                f"Airtel refused {op}: {text} ({info.next_step})", info=info, **details
            )
        return ServerError(f"Airtel could not answer {op}: {text}", **details)

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        request: AirtelRequest | None = None,
        *,
        money: bool,
        params: dict[str, str] | None = None,
    ) -> _Answer:
        """Send a product call with the Airtel headers; refresh the token once if it is refused."""
        body = _serialise(request) if request is not None else None
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "X-Country": self._config.country,
            "X-Currency": self._config.currency,
        }
        if body is not None and money and self._config.signing:
            # sign the exact bytes that are sent (airtel.md §11.9)
            signed = sign_message(
                body, await self.public_key(), scheme=self._config.signing_padding
            )
            headers.update(signed.headers)
        token = await self.access_token()
        for token_retry_left in (True, False):
            send = functools.partial(
                self._http.request,
                method,
                f"{self._base_url}{path}",
                content=body,
                params=params,
                headers={**headers, "Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            response = await self._exchange(op, send, money=money)
            envelope = _envelope(response, money=money, op=op)
            if response.status_code in (401, 403):
                if envelope.error == _INVALID_TOKEN or response.status_code == 401:
                    if token_retry_left:
                        # refused at the gateway, so nothing happened: safe even for money POSTs
                        log.warning("airtel.token.rejected op=%s", op)
                        token = await self._renew_token(token)
                        continue
                    raise AuthFailed(
                        f"Airtel refused a fresh access token for {op}",
                        code=envelope.error,
                        http_status=response.status_code,
                    )
                raise AuthFailed(
                    f"Airtel refused {op} (HTTP 403: {envelope.message or 'forbidden'}); "
                    "check the app's products and the server IP allow-list",
                    code=envelope.error or envelope.status_code,
                    http_status=response.status_code,
                )
            return _Answer(http_status=response.status_code, envelope=envelope)
        raise AssertionError("unreachable")  # pragma: no cover

    # Twin of mpesa/client.py's retry loop (_exchange, _backoff); kept apart:
    # airtel/ imports nothing from mpesa/ (docs/architecture.md)
    async def _exchange(
        self, op: str, send: Callable[[], Awaitable[httpx.Response]], *, money: bool
    ) -> httpx.Response:
        """Send with the retry rules; return an answer the caller has to read."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await send()
            except _NEVER_SENT as exc:
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, type(exc).__name__)
                    continue
                raise AirtelUnreachable(
                    f"Airtel unreachable for {op} after {attempt} attempts "
                    f"({type(exc).__name__}); nothing was sent"
                ) from exc
            except httpx.UnsupportedProtocol as exc:
                raise ConfigurationError(f"bad Airtel base URL {self._base_url!r}") from exc
            except httpx.TransportError as exc:
                if money:
                    log.error("airtel.outcome_unknown op=%s error=%s", op, type(exc).__name__)
                    raise OutcomeUnknown(
                        f"{op} was sent but its answer was lost ({type(exc).__name__}); "
                        "enquire, never resend"
                    ) from exc
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, type(exc).__name__)
                    continue
                raise ServerError(
                    f"Airtel did not answer {op} after {attempt} attempts ({type(exc).__name__})"
                ) from exc
            status = response.status_code
            if status == 429:
                delay = _retry_after(response.headers.get("Retry-After")) or DEFAULT_RETRY_AFTER_S
                if money:
                    # airtel.md §8.5 lists 429 among "outcome unknown": enquire before anything
                    raise OutcomeUnknown(
                        f"{op} was throttled (HTTP 429); enquire, never resend", http_status=429
                    )
                if attempt < self._max_attempts and delay <= self._backoff_max_s:
                    log.warning(
                        "airtel.rate_limited op=%s attempt=%s delay_s=%s", op, attempt, delay
                    )
                    await self._sleep(delay)
                    continue
                raise RateLimited(
                    f"Airtel is throttling {op}; retry in {delay:g} s",
                    retry_after_s=delay,
                    http_status=429,
                )
            if status >= 500 or status == 408:
                if money:
                    log.error("airtel.outcome_unknown op=%s http_status=%s", op, status)
                    raise OutcomeUnknown(
                        f"{op} got HTTP {status}; it may have landed: enquire, never resend",
                        http_status=status,
                    )
                if attempt < self._max_attempts:
                    await self._backoff(op, attempt, f"http_{status}")
                    continue
                raise ServerError(f"Airtel failed {op} with HTTP {status}", http_status=status)
            return response

    async def _backoff(self, op: str, attempt: int, reason: str) -> None:
        # full jitter: spreads retries of many callers instead of bunching them
        cap = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
        delay = random.uniform(0.0, cap)
        log.warning(
            "airtel.retry op=%s attempt=%s reason=%s delay_s=%.3f", op, attempt, reason, delay
        )
        await self._sleep(delay)


def _serialise(request: AirtelRequest) -> bytes:
    """Compact JSON, serialised once: a signature must cover exactly the bytes that are sent."""
    return json.dumps(request.to_body(), separators=(",", ":")).encode("utf-8")


def _envelope(response: httpx.Response, *, money: bool = False, op: str = "") -> Envelope:
    """The body as an envelope; an unreadable 2xx is an unknown outcome for money."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if response.is_success:
            what = "not a JSON object"
            if money:
                raise OutcomeUnknown(
                    f"{op} answer unreadable ({what}); enquire, never resend",
                    http_status=response.status_code,
                )
            raise ServerError(f"{op} answer unreadable ({what})", http_status=response.status_code)
        snippet = " ".join(response.text.split())[:120]
        return Envelope(status_message=f"HTTP {response.status_code}: {snippet or 'empty body'}")
    return read_envelope(body)


def _unconfirmed(info: ResultInfo, *, meaning: str, next_step: str) -> ResultInfo:
    """``info`` turned into an unknown outcome: Airtel took a money POST but did not finish it."""
    return ResultInfo(
        code=info.code,
        outcome=Outcome.UNKNOWN,
        category=info.category,
        meaning=meaning,
        next_step=next_step,
        description=info.description,
    )


def _details(answer: _Answer, transaction_id: str | None) -> dict[str, Any]:
    status = answer.envelope.status
    return {
        "code": (status.response_code if status else None) or answer.envelope.status_code,
        "result_code": status.result_code if status else None,
        "transaction_id": transaction_id,
        "http_status": answer.http_status,
    }


def _path_id(transaction_id: str) -> str:
    """Our id in a URL path: the same rule as the body's transaction.id."""
    if not transaction_id or not transaction_id.isascii() or not transaction_id.isalnum():
        raise ValueError(f"{transaction_id!r} is not a transaction id (letters and digits)")
    return transaction_id


# Twin of mpesa/faults.py's retry_after_seconds; kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _seconds(value: object, *, default: float) -> float:
    """``expires_in`` arrives as "180" or 180 depending on the source."""
    if value is None or isinstance(value, bool):
        return default
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default
