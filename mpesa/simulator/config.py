"""Settings of the Daraja simulator: credentials, shortcodes, strictness, timings, faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from datetime import datetime
from enum import StrEnum

from mpesa.security import nairobi_now
from mpesa.simulator.credentials import SimulatorKeys
from mpesa.simulator.defaults import CONSUMER_KEY
from mpesa.simulator.defaults import CONSUMER_SECRET
from mpesa.simulator.defaults import INITIATOR_NAME
from mpesa.simulator.defaults import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator.defaults import SANDBOX_PASSKEY
from mpesa.simulator.defaults import SANDBOX_SHORTCODE
from mpesa.simulator.defaults import SECOND_SHORTCODE
from mpesa.simulator.defaults import TIMESTAMP_SKEW_S

__all__ = [
    "SANDBOX_INITIATOR_PASSWORD",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORTCODE",
    "Faults",
    "Level",
    "PhoneForm",
    "SimulatorConfig",
]


class Level(StrEnum):
    """How the simulator treats documented limits that real Daraja may not enforce."""

    STRICT = "strict"  # refuse what the documentation refuses (the default)
    LENIENT = "lenient"  # accept it with a warning, as Daraja was observed to do


class PhoneForm(StrEnum):
    """How phone numbers appear in STK, B2C, status and reversal callbacks."""

    PLAIN = "plain"  # 254708374149, as Daraja's samples show
    MASKED = "masked"  # 2547*****149
    ABSENT = "absent"  # no PhoneNumber item; party names without the number


@dataclass
class Faults:
    """Fault switches; each can also be changed at run time via ``POST /simulator/faults``."""

    duplicate_callbacks: bool = False  # every notification is POSTed twice
    callback_before_response: bool = False  # the callback is delivered before the HTTP answer
    fail_next_n: int = 0  # next N product calls -> HTTP 500 500.003.1001, request NOT applied
    slow_response_s: float = 0.0  # the request IS applied, then the answer waits this long
    rate_limit_next_n: int = 0  # next N product calls -> 500.003.02 Spike Arrest, NOT applied
    rate_limit_status: int = 500  # 429 makes the spike-arrest answer an HTTP 429
    rate_limit_retry_after_s: int | None = None  # adds a Retry-After header to rate-limit answers
    drop_callbacks: bool = False  # outcomes still happen (queries see them), nothing is POSTed
    query_pending_as_error: bool = False  # STK query "pending" as HTTP 500 500.001.1001

    def update(self, changes: dict[str, object]) -> None:
        """Apply a partial update by field name; raise ValueError naming a bad field or value."""
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            if not _fits(getattr(self, name), value, optional=name == "rate_limit_retry_after_s"):
                raise ValueError(f"bad value for {name}: {value!r}")
            setattr(self, name, value)

    def snapshot(self) -> dict[str, object]:
        """Return the switches as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SimulatorConfig:
    """How the simulator behaves; balances are whole shillings, durations seconds."""

    consumer_key: str = CONSUMER_KEY
    consumer_secret: str = CONSUMER_SECRET
    # STK BusinessShortCode -> passkey
    shortcodes: dict[str, str] = field(
        default_factory=lambda: {
            SANDBOX_SHORTCODE: SANDBOX_PASSKEY,
            SECOND_SHORTCODE: SANDBOX_PASSKEY,
        }
    )
    # B2C/status/balance/reversal/C2B PartyA shortcodes accepted; None = any 5-7 digits
    b2c_shortcodes: frozenset[str] | None = None
    initiator_name: str = INITIATOR_NAME
    # every SecurityCredential must decrypt (with ``keys``) to exactly this password
    initiator_password: str = SANDBOX_INITIATOR_PASSWORD
    keys: SimulatorKeys | None = None  # None: one key pair generated per process
    level: Level = Level.STRICT
    timestamp_skew_s: float | None = TIMESTAMP_SKEW_S  # None: any real date is accepted
    callback_phone: PhoneForm = PhoneForm.PLAIN
    # opt-in: the same amount to the same phone within this many seconds ends in ResultCode 17
    rule_limited_window_s: float = 0.0
    callback_delay_s: float = 0.0
    token_ttl_s: int = 3599
    initial_utility_balance: int = 100_000
    initial_working_balance: int = 0
    max_amount: int = 250_000
    query_pending_s: float = 10.0  # how long the "no callback" number queries as 4999
    c2b_validation_timeout_s: float = 8.0  # then the registered ResponseType applies
    clock: Callable[[], datetime] = nairobi_now  # aware datetimes; tests pass a fake clock
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.level = Level(self.level)
        self.callback_phone = PhoneForm(self.callback_phone)
        if not self.initiator_password:
            raise ValueError("initiator_password must not be empty")
        if self.timestamp_skew_s is not None and self.timestamp_skew_s < 0:
            raise ValueError("timestamp_skew_s must not be negative")
        if self.rule_limited_window_s < 0:
            raise ValueError("rule_limited_window_s must not be negative")


def _fits(current: object, value: object, *, optional: bool) -> bool:
    """Tell whether ``value`` may replace ``current`` (same kind, never negative)."""
    if value is None:
        return optional
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, int | float) and value >= 0
    return isinstance(value, int) and value >= 0
