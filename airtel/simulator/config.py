"""Settings of the Airtel simulator: credentials, the "portal", limits, timings, fault switches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from datetime import UTC
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.security import HashInput
from airtel.security import RsaPadding

CLIENT_ID = "simulator-client-id"
CLIENT_SECRET = "simulator-client-secret"  # noqa: S105 - a public test value
DISBURSEMENT_PIN = "1234"


class Level(StrEnum):
    """How the simulator treats rules the reference only guesses at (lengths, characters)."""

    STRICT = "strict"  # refused, as the reference's guess says Airtel would
    LENIENT = "lenient"  # accepted with a warning


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Faults:
    """Fault switches; each can also be changed at run time via ``POST /simulator/faults``.

    "Before effect" faults answer without applying the request; "after effect" ones apply it
    (the money moves) and then hide or blur the answer, the cases that need an enquiry.
    """

    drop_callbacks: bool = False  # outcomes still happen (enquiries see them), nothing is POSTed
    duplicate_callbacks: bool = False  # every callback is POSTed twice
    callback_before_response: bool = False  # the callback is delivered before the HTTP answer
    fail_next_n: int = 0  # next N product calls -> HTTP 500, request NOT applied
    rate_limit_next_n: int = 0  # next N product calls -> HTTP 429, request NOT applied
    slow_response_s: float = 0.0  # money POSTs: applied, then the answer waits this long
    drop_connection_next_n: int = 0  # next N money POSTs: applied, connection closed, no answer
    ambiguous_next_n: int = 0  # next N money POSTs: applied, answered TA / DP...1000
    in_progress_next_n: int = 0  # next N disbursements: answered TIP, settle after pending_s
    enquiry_not_found_next_n: int = 0  # next N enquiries: "not found" (not registered yet)

    def update(self, changes: dict[str, object]) -> None:
        """Apply a partial update by field name; raise ValueError naming a bad field or value."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            if not _fits(getattr(self, name), value):
                raise ValueError(f"bad value for {name}: {value!r}")
        for name, value in changes.items():
            setattr(self, name, float(value) if isinstance(getattr(self, name), float) else value)

    def take(self, name: str) -> bool:
        """Consume one unit of a ``*_next_n`` counter; True when the fault fires."""
        left = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True

    def snapshot(self) -> dict[str, object]:
        """Return the switches as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Portal:
    """What a merchant sets in Airtel's portal, not in requests; ``POST /simulator/portal``."""

    callback_url: str | None = None  # where collection callbacks go; None: they are not sent
    callback_hash_key: str | None = None  # "callback authentication" on: callbacks carry a hash
    hash_input: HashInput = HashInput.TRANSACTION_JSON
    require_signing: bool = False  # money POSTs must carry a valid x-signature / x-key

    def update(self, changes: dict[str, object]) -> None:
        """Apply a partial update; raise ValueError naming a bad field or value."""
        for name, value in changes.items():
            if name in ("callback_url", "callback_hash_key"):
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"bad value for {name}: {value!r}")
            elif name == "hash_input":
                try:
                    HashInput(str(value))
                except ValueError:
                    raise ValueError(f"bad value for hash_input: {value!r}") from None
            elif name == "require_signing":
                if not isinstance(value, bool):
                    raise ValueError(f"bad value for require_signing: {value!r}")
            else:
                raise ValueError(f"unknown portal setting {name!r}")
        for name, value in changes.items():
            setattr(self, name, HashInput(str(value)) if name == "hash_input" else value)

    def snapshot(self) -> dict[str, object]:
        """Return the settings as a JSON-ready dict (the hash key is shown: a test value)."""
        return {
            "callback_url": self.callback_url,
            "callback_hash_key": self.callback_hash_key,
            "hash_input": str(self.hash_input),
            "require_signing": self.require_signing,
        }


@dataclass
class SimulatorConfig:
    """How the simulator behaves; amounts are whole shillings, durations seconds."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    country: str = "KE"
    currency: str = "KES"
    disbursement_pin: str = DISBURSEMENT_PIN
    level: Level = Level.STRICT
    # paddings the PIN and x-key may use; Airtel's real choice is unconfirmed (airtel.md §6.2)
    pin_paddings: tuple[RsaPadding, ...] = tuple(RsaPadding)
    private_key: rsa.RSAPrivateKey | None = None  # None: one key pair generated per process
    token_ttl_s: int = 180
    callback_delay_s: float = 0.0
    enquiry_pending_s: float = 10.0  # how long TIP/TA numbers stay unsettled
    min_amount: int = 1
    max_amount: int = 250_000  # per transaction (CBK, airtel.md §10)
    payer_daily_limit: int = 500_000
    initial_collection_balance: int = 0
    initial_disbursement_balance: int = 100_000
    allowed_ips: frozenset[str] | None = None  # None: every address (no IP allow-list)
    clock: Callable[[], datetime] = _utc_now  # aware datetimes; tests pass a fake clock
    portal: Portal = field(default_factory=Portal)
    faults: Faults = field(default_factory=Faults)


def _fits(current: object, value: object) -> bool:
    """Tell whether ``value`` may replace ``current`` (same kind, never negative)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, int | float) and value >= 0
    return isinstance(value, int) and value >= 0
