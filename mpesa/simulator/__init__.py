"""A local Daraja simulator: an aiohttp app that answers like Safaricom's Daraja on loopback.

Run it with ``python -m mpesa.simulator --port 8765 [--host 127.0.0.1] [--callback-delay 1.0]``
and point the Daraja client's ``base_url`` at it; tests serve
``create_simulator(SimulatorConfig(...))``.
Credentials: consumer key ``simulator-key``, secret ``simulator-secret``; STK shortcodes 174379 and
247247 with the public sandbox passkey; initiator ``testapi`` (any non-empty SecurityCredential).

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

Other results: a wrong InitiatorName gives ResultCode 2001 on B2C, status, balance and reversal;
Transaction Status of an unknown transaction gives ResultCode 2032 "The transaction could not be
found" (the simulator's choice); a found but failed payout reports TransactionStatus "Failed";
reversal of an unknown receipt gives R000002, of an already reversed one R000001.

Money: one running balance (the "Utility Account", whole shillings) is credited by STK and C2B
payments and debited by B2C payouts and reversals; the Working Account stays at its initial value.

Control endpoints (no token needed): ``GET /simulator/state`` (JSON snapshot), ``POST
/simulator/faults`` (partial JSON of ``Faults`` fields), ``POST /simulator/reset`` (tokens survive),
``POST /simulator/drain`` (waits until every pending callback has been delivered).
Fault answers (spike arrest, fail_next_n) happen before the request is applied: it has no effect.
"""

from mpesa.simulator.app import SIM_DELIVERER, SIM_STATE, create_simulator
from mpesa.simulator.config import (
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    Faults,
    Level,
    PhoneForm,
    SimulatorConfig,
)
from mpesa.simulator.credentials import SANDBOX_INITIATOR_PASSWORD, SimulatorKeys
from mpesa.simulator.scenarios import outcome_table

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
