"""A local Daraja simulator: an aiohttp app that answers like Safaricom's Daraja on loopback.

Run it with ``mpesa-bot simulator`` or ``python -m mpesa.simulator`` (``--help`` lists every
option and the credentials it accepts) and point the Daraja client's ``base_url`` at it; tests
serve ``create_simulator(SimulatorConfig(...))``.
Credentials: consumer key ``simulator-key``, secret ``simulator-secret``; STK shortcodes 174379 and
247247 with the public sandbox passkey; initiator ``testapi`` whose SecurityCredential must be the
password (default ``Safaricom999!*!``) encrypted with the certificate at ``GET
/simulator/certificate`` (RSA, PKCS#1 v1.5), else the result is ResultCode 2001.

Outcome table (the customer's phone number decides what happens)::

    STK Push (by PhoneNumber):
      254708374149     0  success
      254711111111     1  insufficient funds
      254722000032  1032  cancelled by the customer
      254722000037  1037  phone unreachable
      254722002001  2001  wrong PIN
      254722000000     0  no callback ever: queries 4999 for query_pending_s, then 0
      254722100032  1032  cancelled on the first prompt, paid on the next
      any other        0  success (credits the running balance)
    B2C (by PartyB):
      254722000099  QueueTimeOut to QueueTimeOutURL; the payout completes silently
      254722002040  ResultCode 2040, recipient not registered on M-Pesa
      Amount over the utility balance: ResultCode 1, insufficient funds
      any other: ResultCode 0, success (debits the utility balance)

Other results: a wrong InitiatorName or SecurityCredential gives ResultCode 2001 on B2C, status,
balance and reversal; Transaction Status of an unknown transaction gives ResultCode 2032 "The
transaction could not be found" (the simulator's choice); a found but failed payout reports
TransactionStatus "Failed"; reversal of an unknown receipt gives R000002, of an already reversed
one R000001; with ``rule_limited_window_s`` set, the same amount to the same phone within that
window ends in ResultCode 17 "Rule limited.".

Strictness: requests are checked field by field like Daraja (docs/simulator.md lists every check).
At the default ``strict`` level documented limits Daraja may not enforce (AccountReference 12,
TransactionDesc 13 characters) are refused; at ``lenient`` they are accepted with a warning.
Unknown fields are warnings, with a "did you mean" for near misses; warnings are logged and
listed in ``GET /simulator/state``.

Money: one running balance (the "Utility Account", whole shillings) is credited by STK and C2B
payments and debited by B2C payouts and reversals; the Working Account stays at its initial value.

Control endpoints (no token needed): ``GET /simulator/state`` (JSON snapshot), ``GET
/simulator/certificate`` (PEM), ``POST /simulator/faults`` (partial JSON of ``Faults`` fields),
``POST /simulator/reset`` (tokens survive), ``POST /simulator/drain`` (waits until every pending
callback has been delivered).
Fault answers (spike arrest, fail_next_n) happen before the request is applied: it has no effect.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from mpesa.simulator.app import SIM_DELIVERER
    from mpesa.simulator.app import SIM_STATE
    from mpesa.simulator.app import create_simulator
    from mpesa.simulator.config import Faults
    from mpesa.simulator.config import Level
    from mpesa.simulator.config import PhoneForm
    from mpesa.simulator.config import SimulatorConfig
    from mpesa.simulator.credentials import SimulatorKeys
    from mpesa.simulator.defaults import SANDBOX_INITIATOR_PASSWORD
    from mpesa.simulator.defaults import SANDBOX_PASSKEY
    from mpesa.simulator.defaults import SANDBOX_SHORTCODE
    from mpesa.simulator.scenarios import outcome_table

# imported on first use, so the command line can read the options without loading aiohttp
_HOMES = {
    "SANDBOX_INITIATOR_PASSWORD": "mpesa.simulator.defaults",
    "SANDBOX_PASSKEY": "mpesa.simulator.defaults",
    "SANDBOX_SHORTCODE": "mpesa.simulator.defaults",
    "SIM_DELIVERER": "mpesa.simulator.app",
    "SIM_STATE": "mpesa.simulator.app",
    "create_simulator": "mpesa.simulator.app",
    "Faults": "mpesa.simulator.config",
    "Level": "mpesa.simulator.config",
    "PhoneForm": "mpesa.simulator.config",
    "SimulatorConfig": "mpesa.simulator.config",
    "SimulatorKeys": "mpesa.simulator.credentials",
    "outcome_table": "mpesa.simulator.scenarios",
}

__all__ = [
    "SANDBOX_INITIATOR_PASSWORD",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORTCODE",
    "SIM_DELIVERER",
    "SIM_STATE",
    "Faults",
    "Level",
    "PhoneForm",
    "SimulatorConfig",
    "SimulatorKeys",
    "create_simulator",
    "outcome_table",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mpesa.simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
