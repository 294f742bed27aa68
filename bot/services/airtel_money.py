"""The Airtel Money calls the services make: a Protocol beside the ``Daraja`` one.

airtel.client.AirtelClient satisfies it (against Airtel, the simulator, or respx). Services
depend on this, never on the concrete client. Money requests are sent at most once: the
client raises ``OutcomeUnknown`` for every doubt, and the services then enquire by our
transaction id, never resend.
"""

from __future__ import annotations

from typing import Protocol
from typing import runtime_checkable

from airtel.models import Balance
from airtel.models import CollectionStatus
from airtel.models import DisbursementResult
from airtel.models import DisbursementStatus
from airtel.models import KycUser
from airtel.models import PushAccepted


@runtime_checkable
class AirtelMoney(Protocol):
    """The Airtel methods the services call (whole shillings, phones as 2547XXXXXXXX)."""

    async def ussd_push(
        self, *, msisdn: str, amount: int, transaction_id: str, reference: str
    ) -> PushAccepted: ...

    async def collection_status(self, transaction_id: str) -> CollectionStatus: ...

    async def disburse(
        self, *, msisdn: str, amount: int, transaction_id: str, reference: str
    ) -> DisbursementResult: ...

    async def disbursement_status(self, transaction_id: str) -> DisbursementStatus: ...

    async def lookup_user(self, msisdn: str) -> KycUser | None: ...

    async def balance(self) -> Balance: ...
