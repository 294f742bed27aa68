"""Airtel's collection callback parsed into a typed, frozen model, tolerant as airtel.md §5.2 asks.

The callback carries no amount and no phone: match it to our records by ``transaction_id`` and
confirm by an enquiry before crediting (callbacks are unauthenticated unless the portal's callback
authentication is on, and Airtel may resend them). With a hash key configured, ``verified`` says
whether the body's (or the header's) ``hash`` matches; which bytes Airtel hashes is undocumented,
so the candidates in ``hash_inputs`` are tried in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Final

from pydantic import BaseModel
from pydantic import ConfigDict

from airtel.codes import TransactionStatus
from airtel.codes import parse_status
from airtel.errors import CallbackParseError
from airtel.models import scalar_text
from airtel.security import DEFAULT_HASH_INPUTS
from airtel.security import HashInput
from airtel.security import callback_hash
from airtel.security import hashes_match

# Airtel documents no acknowledgement body; a 200 with this is what we answer
ACK: Final = {"status": "received"}
HASH_FIELD = "hash"
HASH_HEADER = "hash"


class CollectionCallback(BaseModel):
    """A USSD push payment's final state, as Airtel POSTs it to the portal's callback URL."""

    model_config = ConfigDict(frozen=True)

    transaction_id: str  # our transaction.id
    status: TransactionStatus | None  # TS or TF (None when Airtel sent something else)
    status_code: str  # as sent
    message: str = ""
    airtel_money_id: str | None = None  # Airtel's receipt; only on TS
    code: str | None = None  # a DP code some older callbacks carry inside transaction
    hash: str | None = None  # as received (body field, else the header)
    verified: bool | None = None  # None: no hash key configured; else whether the hash matched
    matched_input: HashInput | None = None  # which candidate bytes matched

    @property
    def succeeded(self) -> bool:
        """True when Airtel reports the customer paid (TS)."""
        return self.status is TransactionStatus.SUCCESS


def parse_collection_callback(
    body: bytes | str | Mapping[str, Any],
    *,
    hash_key: str | None = None,
    header_hash: str | None = None,
    hash_inputs: Iterable[HashInput] = DEFAULT_HASH_INPUTS,
) -> CollectionCallback:
    """Parse a collection callback; with ``hash_key``, verify its hash (``verified``)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    data = _load(raw)
    transaction = _lookup(data, "transaction")
    if transaction is None and _lookup(data, "id") is not None:
        transaction = data  # a flat body: the fields without their wrapper
    if not isinstance(transaction, Mapping):
        raise CallbackParseError("no transaction object")
    transaction_id = scalar_text(_lookup(transaction, "id"))
    if transaction_id is None:
        raise CallbackParseError("no transaction.id")
    status_code = scalar_text(_lookup(transaction, "status_code")) or scalar_text(
        _lookup(transaction, "status")
    )
    received_hash = scalar_text(_lookup(data, HASH_FIELD)) or scalar_text(header_hash)
    verified: bool | None = None
    matched: HashInput | None = None
    if hash_key:
        matched = _matching_input(raw, data, transaction, hash_key, received_hash, hash_inputs)
        verified = matched is not None
    return CollectionCallback(
        transaction_id=transaction_id,
        status=parse_status(status_code),
        status_code=status_code or "",
        message=scalar_text(_lookup(transaction, "message")) or "",
        airtel_money_id=scalar_text(_lookup(transaction, "airtel_money_id")),
        code=scalar_text(_lookup(transaction, "code")),
        hash=received_hash,
        verified=verified,
        matched_input=matched,
    )


def hash_message(
    which: HashInput, transaction: Mapping[str, Any], *, body: Mapping[str, Any] | None = None
) -> bytes:
    """The bytes a hash covers for a candidate (``RAW_BODY`` needs the raw bytes instead)."""
    if which is HashInput.TRANSACTION_JSON:
        return _compact(transaction)
    if which is HashInput.BODY_WITHOUT_HASH:
        source = body if body is not None else {"transaction": transaction}
        return _compact({k: v for k, v in source.items() if k != HASH_FIELD})
    raise ValueError("RAW_BODY hashes the bytes as received; there is nothing to rebuild")


def sign_callback(body: Mapping[str, Any], key: str, *, which: HashInput) -> str:
    """The hash Airtel would send for ``body`` under ``which`` (the simulator signs with this)."""
    transaction = body.get("transaction")
    if not isinstance(transaction, Mapping):
        raise ValueError("a collection callback has a transaction object")
    if which is HashInput.RAW_BODY:
        return callback_hash(key, _compact({k: v for k, v in body.items() if k != HASH_FIELD}))
    return callback_hash(key, hash_message(which, transaction, body=body))


def _matching_input(
    raw: bytes | Mapping[str, Any],
    data: Mapping[str, Any],
    transaction: Mapping[str, Any],
    key: str,
    received: str | None,
    candidates: Iterable[HashInput],
) -> HashInput | None:
    if not received:
        return None
    for which in candidates:
        if which is HashInput.RAW_BODY:
            message = raw if isinstance(raw, bytes) else _compact(raw)
        else:
            message = hash_message(which, transaction, body=data)
        if hashes_match(callback_hash(key, message), received):
            return which
    return None


def _compact(value: Mapping[str, Any]) -> bytes:
    # key order as received: Python keeps it, and Airtel's hash (if over JSON) depends on it
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise CallbackParseError(f"not JSON ({str(exc)[:80]})") from exc
    if not isinstance(data, Mapping):
        raise CallbackParseError("not a JSON object")
    return data


def _lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """A key matched exactly first, then ignoring case, spaces and underscores."""
    if name in mapping:
        return mapping[name]
    wanted = _norm(name)
    return next((v for k, v in mapping.items() if isinstance(k, str) and _norm(k) == wanted), None)


def _norm(key: str) -> str:
    return "".join(ch for ch in key if ch.isalnum()).casefold()
