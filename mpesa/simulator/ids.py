"""Identifiers that look like Daraja's: request ids, conversation ids, receipts, tokens."""

from __future__ import annotations

import itertools
import secrets
import string
from datetime import datetime

_ALNUM = string.ascii_uppercase + string.digits
_TOKEN_CHARS = string.ascii_letters + string.digits
_DAY_CHARS = "123456789ABCDEFGHIJKLMNOPQRSTUV"  # day 1..31 as M-Pesa receipts spell it


def access_token() -> str:
    """Return a fresh opaque 28-character access token."""
    return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(28))


def _hex(length: int) -> str:
    return secrets.token_hex(length)[:length]


class IdFactory:
    """Hands out unique ids in Daraja's formats (receipts never repeat within a run)."""

    def __init__(self) -> None:
        self._serial = itertools.count(1_530_000)
        self._receipts: set[str] = set()
        self._checkouts: set[str] = set()

    def request_id(self) -> str:
        """Return an id like ``5f2c-4a7e-b91d-0c3e8a6f2d1b1532087`` (MerchantRequestID style)."""
        return f"{_hex(4)}-{_hex(4)}-{_hex(4)}-{_hex(12)}{next(self._serial)}"

    def conversation_id(self, now: datetime) -> str:
        """Return a ConversationID like ``AG_20261120_20104f3c9e7a1b2d5c6e``."""
        return f"AG_{now:%Y%m%d}_2010{_hex(16)}"

    def checkout_request_id(self, now: datetime, msisdn: str) -> str:
        """Return ``ws_CO_`` + DDMMYYYYHHMMSS + milliseconds + the phone's last 9 digits."""
        millis = now.microsecond // 1000
        while True:
            # a frozen test clock would repeat the same millisecond: step past used ones
            candidate = f"ws_CO_{now:%d%m%Y%H%M%S}{millis % 1000:03d}{msisdn[-9:]}"
            if candidate not in self._checkouts:
                self._checkouts.add(candidate)
                return candidate
            millis += 1

    def receipt(self, now: datetime) -> str:
        """Return a new 10-character M-Pesa receipt; the first three characters track the date."""
        prefix = self._date_prefix(now)
        while True:
            candidate = prefix + "".join(secrets.choice(_ALNUM) for _ in range(7))
            if candidate not in self._receipts and not candidate.endswith("0000000"):
                self._receipts.add(candidate)
                return candidate

    def placeholder_receipt(self, now: datetime) -> str:
        """Return the zero TransactionID Daraja puts on failed results, e.g. ``UKK0000000``."""
        return self._date_prefix(now) + "0000000"

    @staticmethod
    def _date_prefix(now: datetime) -> str:
        # L = 2017, so 2026 = U; month A..L; day 1..9 then A..V
        year = chr(ord("L") + (now.year - 2017) % 15)
        return f"{year}{chr(ord('A') + now.month - 1)}{_DAY_CHARS[now.day - 1]}"
