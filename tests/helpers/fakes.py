"""Scriptable stand-ins for DarajaClient and AirtelClient, for service tests with no HTTP at all."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from airtel.codes import TransactionStatus
from airtel.models import Balance
from airtel.models import CollectionStatus
from airtel.models import DisbursementResult
from airtel.models import DisbursementStatus
from airtel.models import KycUser
from airtel.models import PushAccepted
from mpesa.models import AsyncAccepted
from mpesa.models import C2BRegisterResponse
from mpesa.models import StkPushResponse
from mpesa.models import StkQueryResponse


@dataclass
class Scripted:
    """Records every call as ``(method, kwargs)``; answers from queued results (or raises them)."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    results: dict[str, list[Any]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def queue(self, method: str, *results: Any) -> None:
        """Queue answers (or exceptions to raise) for the next calls of ``method``."""
        self.results.setdefault(method, []).extend(results)

    def called(self, method: str) -> list[dict[str, Any]]:
        """The keyword arguments of every call to ``method``, in order."""
        return [kwargs for name, kwargs in self.calls if name == method]

    def _answer(self, method: str, default: Any) -> Any:
        queued = self.results.get(method)
        result = queued.pop(0) if queued else default
        if isinstance(result, BaseException):
            raise result
        return result


@dataclass
class FakeDaraja(Scripted):
    """A scriptable stand-in for DarajaClient; unqueued, every request is accepted."""

    def _accepted(self, originator: str | None = None) -> AsyncAccepted:
        n = next(self._ids)
        return AsyncAccepted(
            ConversationID=f"AG_20261120_{n:020d}",
            OriginatorConversationID=originator or f"fake-{n}",
            ResponseCode="0",
            ResponseDescription="Accept the service request successfully.",
        )

    async def stk_push(self, **kwargs: Any) -> StkPushResponse:
        self.calls.append(("stk_push", kwargs))
        n = next(self._ids)
        return self._answer(
            "stk_push",
            StkPushResponse(
                MerchantRequestID=f"fake-merchant-{n}",
                CheckoutRequestID=f"ws_CO_fake_{n}",
                ResponseCode="0",
                ResponseDescription="Success. Request accepted for processing",
                CustomerMessage="Success. Request accepted for processing",
            ),
        )

    async def stk_query(self, checkout_request_id: str) -> StkQueryResponse:
        self.calls.append(("stk_query", {"checkout_request_id": checkout_request_id}))
        return self._answer(
            "stk_query",
            StkQueryResponse(
                CheckoutRequestID=checkout_request_id,
                ResultCode="4999",
                ResultDesc="The transaction is still under processing",
                pending=True,
            ),
        )

    async def b2c_payment(self, **kwargs: Any) -> AsyncAccepted:
        self.calls.append(("b2c_payment", kwargs))
        return self._answer("b2c_payment", self._accepted(kwargs["originator_conversation_id"]))

    async def transaction_status(self, **kwargs: Any) -> AsyncAccepted:
        self.calls.append(("transaction_status", kwargs))
        return self._answer("transaction_status", self._accepted())

    async def account_balance(self, **kwargs: Any) -> AsyncAccepted:
        self.calls.append(("account_balance", kwargs))
        return self._answer("account_balance", self._accepted())

    async def reversal(self, **kwargs: Any) -> AsyncAccepted:
        self.calls.append(("reversal", kwargs))
        return self._answer("reversal", self._accepted())

    async def c2b_register_urls(self, **kwargs: Any) -> C2BRegisterResponse:
        self.calls.append(("c2b_register_urls", kwargs))
        return self._answer(
            "c2b_register_urls",
            C2BRegisterResponse(
                OriginatorCoversationID="fake", ResponseCode="0", ResponseDescription="Success"
            ),
        )


@dataclass
class FakeAirtel(Scripted):
    """A scriptable stand-in for AirtelClient.

    Unqueued, a push is accepted, a payout paid (TS), an enquiry says TIP, KYC names JOHN DOE.
    """

    def receipt(self) -> str:
        return f"MP261120.1130.K{next(self._ids):05d}"

    async def ussd_push(self, **kwargs: Any) -> PushAccepted:
        self.calls.append(("ussd_push", kwargs))
        accepted = PushAccepted(
            transaction_id=kwargs["transaction_id"],
            status="SUCCESS",
            response_code="DP00800001006",
            result_code="ESB000010",
        )
        return self._answer("ussd_push", accepted)

    async def collection_status(self, transaction_id: str) -> CollectionStatus:
        self.calls.append(("collection_status", {"transaction_id": transaction_id}))
        return self._answer("collection_status", airtel_status(CollectionStatus, transaction_id))

    async def disburse(self, **kwargs: Any) -> DisbursementResult:
        self.calls.append(("disburse", kwargs))
        paid = DisbursementResult(
            transaction_id=kwargs["transaction_id"],
            airtel_money_id=self.receipt(),
            reference_id=f"REF{next(self._ids):09d}",
            response_code="DP00900001001",
            message="Paid. Bal KES 98,800.00",
        )
        return self._answer("disburse", paid)

    async def disbursement_status(self, transaction_id: str) -> DisbursementStatus:
        self.calls.append(("disbursement_status", {"transaction_id": transaction_id}))
        default = airtel_status(DisbursementStatus, transaction_id)
        return self._answer("disbursement_status", default)

    async def lookup_user(self, msisdn: str) -> KycUser | None:
        self.calls.append(("lookup_user", {"msisdn": msisdn}))
        user = KycUser(msisdn=msisdn, first_name="JOHN", last_name="DOE", is_barred=False)
        return self._answer("lookup_user", user)

    async def balance(self) -> Balance:
        self.calls.append(("balance", {}))
        return self._answer("balance", Balance(balance_cents=1_250_050, currency="KES"))


def airtel_status(
    model: Any,
    transaction_id: str,
    status: str | None = "TIP",
    *,
    code: str | None = None,
    receipt: str | None = None,
    found: bool = True,
) -> Any:
    """An Airtel enquiry answer (CollectionStatus or DisbursementStatus) as the client reads it."""
    return model(
        transaction_id=transaction_id,
        found=found,
        status=TransactionStatus(status) if status and found else None,
        status_text=status if found else None,
        airtel_money_id=receipt,
        response_code=code,
    )
