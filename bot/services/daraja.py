"""The Daraja calls the services make: a Protocol, so any client that answers them will do.

mpesa.client.DarajaClient satisfies it (against Safaricom, the simulator, or respx); so do the
tests' FakeDaraja and a future Airtel adapter. Services depend on this, never on a concrete client.
"""

from __future__ import annotations

from typing import Protocol
from typing import runtime_checkable

from mpesa.models import AsyncAccepted
from mpesa.models import StkPushResponse
from mpesa.models import StkQueryResponse


@runtime_checkable
class Daraja(Protocol):
    """The Daraja methods the services call (whole shillings; money POSTs are sent at most once)."""

    async def stk_push(
        self, *, msisdn: str, amount: int, reference: str, description: str
    ) -> StkPushResponse: ...

    async def stk_query(self, checkout_request_id: str) -> StkQueryResponse: ...

    async def b2c_payment(
        self,
        *,
        originator_conversation_id: str,
        msisdn: str,
        amount: int,
        remarks: str,
        occasion: str = "",
        command_id: str = "BusinessPayment",
    ) -> AsyncAccepted: ...

    async def transaction_status(
        self,
        *,
        originator_conversation_id: str | None = None,
        transaction_id: str | None = None,
        remarks: str = "Status check",
        occasion: str = "",
        party_a: str | None = None,
        identifier_type: str = "4",
    ) -> AsyncAccepted: ...

    async def account_balance(self, *, remarks: str = "Balance check") -> AsyncAccepted: ...

    async def reversal(
        self, *, transaction_id: str, amount: int, remarks: str, occasion: str = ""
    ) -> AsyncAccepted: ...
