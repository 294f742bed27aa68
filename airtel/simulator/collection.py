"""Collections in the simulator: USSD push (v1 and v2), its enquiry and callback, refunds."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from airtel.phone import is_airtel_number
from airtel.phone import mask_msisdn
from airtel.simulator import validation as v
from airtel.simulator.delivery import Deliverer
from airtel.simulator.scenarios import AMBIGUOUS_MESSAGE
from airtel.simulator.scenarios import PENDING_MESSAGE
from airtel.simulator.scenarios import UNREGISTERED_MSISDN
from airtel.simulator.scenarios import Settle
from airtel.simulator.scenarios import collection_outcome
from airtel.simulator.state import Collection
from airtel.simulator.state import Phase
from airtel.simulator.state import Refund
from airtel.simulator.state import SimulatorState

log = logging.getLogger(__name__)

PUSH_SCHEMA: dict[str, Any] = {
    "reference": None,
    "subscriber": {"country": None, "currency": None, "msisdn": None},
    "transaction": {"amount": None, "country": None, "currency": None, "id": None},
}
REFUND_SCHEMA: dict[str, Any] = {"transaction": {"airtel_money_id": None}}
DUPLICATE_MESSAGE = "External Transaction ID already exists"
NOT_FOUND_MESSAGE = "No Transaction Found With Provided Transaction Id."


def ok_status(response_code: str, *, message: str = "SUCCESS") -> dict[str, Any]:
    """The status object of a successful answer."""
    return {
        "code": "200",
        "message": message,
        "result_code": "ESB000010",
        "response_code": response_code,
        "success": True,
    }


def callback_body(collection: Collection) -> dict[str, Any]:
    """The body Airtel POSTs to the portal's callback URL for a settled prompt."""
    return {
        "transaction": {
            "id": collection.transaction_id,
            "message": collection.message,
            "status_code": collection.phase.value,
            "airtel_money_id": collection.airtel_money_id,
        }
    }


def enquiry_body(collection: Collection, state: SimulatorState) -> dict[str, Any]:
    """``GET /standard/v1/payments/{id}``'s answer for a known transaction."""
    phase = collection.phase if not collection.pending else state.unsettled_phase(collection)
    if phase is Phase.IN_PROGRESS:
        message, status = PENDING_MESSAGE, ok_status("DP00800001006")
    elif phase is Phase.AMBIGUOUS:
        message = AMBIGUOUS_MESSAGE
        status = {
            "code": "200",
            "message": AMBIGUOUS_MESSAGE,
            "result_code": "ESB000001",
            "response_code": "DP00800001000",
            "success": False,
        }
    elif phase is Phase.SUCCESS:
        message = "Your transaction has been successfully processed"
        status = ok_status("DP00800001001")
    else:
        message = collection.message
        status = {
            "code": "200",
            "message": "FAILED",
            "result_code": "ESB000011",
            "response_code": collection.response_code,
            "success": False,
        }
    transaction = {
        "airtel_money_id": collection.airtel_money_id if phase is Phase.SUCCESS else "",
        "id": collection.transaction_id,
        "message": message,
        "status": phase.value,
    }
    return {"data": {"transaction": transaction}, "status": status}


# Twin of mpesa/simulator/express.py's ExpressHandlers set-up; kept apart:
# airtel/ imports nothing from mpesa/ (docs/architecture.md)
class CollectionHandlers:
    """Answers USSD push, enquiry and refund like Airtel, then calls back after the delay."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def push(self, request: web.Request) -> web.Response:
        """POST /merchant/v1/payments/ (or v2): send a USSD prompt to the payer."""
        state = self._state
        config = state.config
        body = await v.read_json(request, v.COLLECTION)
        check = state.checker(body, path=request.path, family=v.COLLECTION)
        check.unknown_fields(PUSH_SCHEMA)
        reference = check.reference()
        check.object("subscriber")
        msisdn = check.msisdn("subscriber.msisdn")
        check.object("transaction")
        for where in ("subscriber", "transaction"):
            self._country_currency(check, where)
        amount = check.amount(
            "transaction.amount", minimum=config.min_amount, maximum=config.max_amount
        )
        transaction_id = check.transaction_id()
        if transaction_id in state.collections:
            raise v.refused(v.COLLECTION, DUPLICATE_MESSAGE, result_code="ESB000041")
        if msisdn == UNREGISTERED_MSISDN or not is_airtel_number(msisdn):
            raise v.refused(
                v.COLLECTION, "Msisdn Not Found", response_code="DP00800001005", result_code=None
            )
        now = state.now()
        earlier = sum(1 for c in state.collections.values() if c.msisdn == msisdn)
        outcome = collection_outcome(msisdn, earlier_prompts=earlier)
        collection = Collection(
            transaction_id=transaction_id,
            msisdn=msisdn,
            amount=amount,
            reference=reference,
            created_at=now,
            outcome=outcome,
        )
        if outcome.settle in (Settle.SILENT, Settle.AMBIGUOUS):
            collection.settle_due_at = now + timedelta(seconds=config.enquiry_pending_s)
        state.collections[transaction_id] = collection
        request[v.APPLIED] = True
        log.info(
            "sim.push transaction_id=%s msisdn=%s amount=%s outcome=%s",
            transaction_id,
            mask_msisdn(msisdn),
            amount,
            outcome.label,
        )
        if outcome.settle in (Settle.CALLBACK, Settle.CALLBACK_TWICE):
            times = 2 if outcome.settle is Settle.CALLBACK_TWICE else 1
            await self._deliverer.dispatch(self._answer(collection, times))
        if state.faults.take("ambiguous_next_n"):
            return web.json_response(
                {
                    "data": {"transaction": {"id": transaction_id, "status": "TA"}},
                    "status": {
                        "code": "200",
                        "message": AMBIGUOUS_MESSAGE,
                        "result_code": "ESB000001",
                        "response_code": "DP00800001000",
                        "success": False,
                    },
                }
            )
        return web.json_response(
            {
                "data": {"transaction": {"id": transaction_id, "status": "SUCCESS"}},
                "status": ok_status("DP00800001006"),
            }
        )

    async def enquiry(self, request: web.Request) -> web.Response:
        """GET /standard/v1/payments/{id}: how a prompt stands (TIP/TA until settled)."""
        state = self._state
        transaction_id = request.match_info["id"]
        collection = state.collections.get(transaction_id)
        if collection is None or state.faults.take("enquiry_not_found_next_n"):
            raise v.refused(
                v.COLLECTION,
                NOT_FOUND_MESSAGE,
                response_code="DP00800001025",
                result_code="ESB000045",
                code="404",
            )
        return web.json_response(enquiry_body(collection, state))

    async def refund(self, request: web.Request) -> web.Response:
        """POST /standard/v1/payments/refund (or v2): refund a paid collection in full."""
        state = self._state
        body = await v.read_json(request, v.COLLECTION)
        check = state.checker(body, path=request.path, family=v.COLLECTION)
        check.unknown_fields(REFUND_SCHEMA)
        check.object("transaction")
        receipt = check.text("transaction.airtel_money_id")
        assert receipt is not None
        collection = state.paid_collection(receipt)
        if collection is None:
            raise v.refused(
                v.COLLECTION,
                "No transaction found for this airtel_money_id",
                response_code="DP00800001025",
                result_code="ESB000045",
            )
        if collection.refunded:
            raise v.refused(
                v.COLLECTION,
                "Transaction already refunded",
                response_code="DP00800001008",
                result_code="ESB000011",
            )
        if collection.amount > state.collection_balance:
            raise v.refused(
                v.COLLECTION,
                "Not enough balance in the collection wallet",
                response_code="DP00800001007",
                result_code="ESB000011",
            )
        collection.refunded = True
        state.collection_balance -= collection.amount
        state.refunds[receipt] = Refund(
            airtel_money_id=receipt,
            transaction_id=collection.transaction_id,
            amount=collection.amount,
            created_at=state.now(),
        )
        request[v.APPLIED] = True
        log.info("sim.refund airtel_money_id=%s amount=%s", receipt, collection.amount)
        if state.faults.take("ambiguous_next_n"):
            raise v.refused(
                v.COLLECTION,
                "Something went wrong",
                response_code="DP00800001000",
                result_code="ESB000001",
                code="500",
            )
        return web.json_response(
            {
                "data": {"transaction": {"airtel_money_id": receipt, "status": "SUCCESS"}},
                "status": ok_status("DP00800001006"),
            }
        )

    def _country_currency(self, check: v.Checker, where: str) -> None:
        config = self._state.config
        country = check.text(f"{where}.country", required=False)
        if country is not None and country != config.country:
            raise v.refused(v.COLLECTION, "Invalid country name", result_code="ESB000034")
        currency = check.text(f"{where}.currency", required=False)
        if currency is not None and currency != config.currency:
            raise v.refused(v.COLLECTION, "Invalid currency code", result_code="ESB000035")

    async def _answer(self, collection: Collection, times: int) -> None:
        """Let the payer answer the prompt after the delay, then POST the callback."""
        await self._deliverer.wait()
        self._state.settle_collection(collection)
        await self._deliverer.notify("collection", callback_body(collection), times=times)


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the collection routes to the simulator app."""
    handlers = CollectionHandlers(state, deliverer)
    for version in ("v1", "v2"):
        app.router.add_post(f"/merchant/{version}/payments/", handlers.push)
        app.router.add_post(f"/standard/{version}/payments/refund", handlers.refund)
    app.router.add_get("/standard/v1/payments/{id}", handlers.enquiry)
