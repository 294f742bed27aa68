"""Disbursements in the simulator: v1 and v2 payouts with the encrypted PIN, and their enquiry."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from aiohttp import web

from airtel.phone import is_airtel_number
from airtel.phone import mask_msisdn
from airtel.simulator import validation as v
from airtel.simulator.keys import decrypt
from airtel.simulator.scenarios import AMBIGUOUS_MESSAGE
from airtel.simulator.scenarios import BUSINESS_WALLET_MSISDN
from airtel.simulator.scenarios import PayoutOutcome
from airtel.simulator.scenarios import payout_outcome
from airtel.simulator.state import Disbursement
from airtel.simulator.state import Phase
from airtel.simulator.state import SimulatorState

log = logging.getLogger(__name__)

V1_SCHEMA: dict[str, Any] = {
    "payee": {"msisdn": None},
    "reference": None,
    "pin": None,
    "transaction": {"amount": None, "id": None},
}
V2_SCHEMA: dict[str, Any] = {
    "payee": {"msisdn": None, "currency": None, "name": None},
    "reference": None,
    "pin": None,
    "transaction": {"amount": None, "id": None, "type": None},
}
WALLET_TYPES = ("B2C", "B2B")
_PIN = re.compile(rb"[0-9]{4}")


def _failed(code: str, message: str) -> PayoutOutcome:
    return PayoutOutcome(message, "TF", code, "TF", code, message=message, applies=False)


def answer_body(payout: Disbursement, status: str, code: str, message: str) -> dict[str, Any]:
    """The synchronous answer to a disbursement POST."""
    transaction: dict[str, Any] = {"id": payout.transaction_id, "status": status}
    if status == "TS":
        transaction = {
            "reference_id": payout.reference_id,
            "airtel_money_id": payout.airtel_money_id,
            **transaction,
        }
    success = status in ("TS", "TIP")
    body: dict[str, Any] = {}
    if status:
        body["data"] = {"transaction": transaction}
    body["status"] = {
        "response_code": code,
        "code": "200",
        "success": success,
        "result_code": {"TS": "ESB000010", "TIP": "ESB000010", "TF": "ESB000011"}.get(
            status, "ESB000001"
        ),
        "message": message,
    }
    return body


def enquiry_body(payout: Disbursement) -> dict[str, Any]:
    """``GET /standard/v1/disbursements/{id}``'s answer for a known payout."""
    phase = payout.phase
    transaction = {
        "airtel_money_id": payout.airtel_money_id if phase is Phase.SUCCESS else "",
        "id": payout.transaction_id,
        "message": payout.message or "Transaction is in process",
        "status": phase.value,
    }
    success = phase in (Phase.SUCCESS, Phase.IN_PROGRESS)
    code = {Phase.SUCCESS: "DP00900001001", Phase.IN_PROGRESS: "DP00900001006"}.get(
        phase, payout.response_code
    )
    return {
        "data": {"transaction": transaction},
        "status": {
            "response_code": code,
            "code": "200",
            "success": success,
            "result_code": "ESB000010" if success else "ESB000011",
            "message": "SUCCESS" if success else "FAILED",
        },
    }


class DisbursementHandlers:
    """Answers disbursements and their enquiries like Airtel (the outcome is in the answer)."""

    def __init__(self, state: SimulatorState) -> None:
        self._state = state

    async def disburse(self, request: web.Request) -> web.Response:
        """POST /standard/v1/disbursements/ (or v2): pay an Airtel Money subscriber."""
        state = self._state
        config = state.config
        version = request.match_info["version"]
        body = await v.read_json(request, v.DISBURSEMENT)
        check = state.checker(body, path=request.path, family=v.DISBURSEMENT)
        check.unknown_fields(V2_SCHEMA if version == "v2" else V1_SCHEMA)
        check.object("payee")
        msisdn = check.msisdn("payee.msisdn")
        if version == "v2":
            currency = check.text("payee.currency", required=False)
            if currency != config.currency:
                raise v.refused(v.DISBURSEMENT, "Invalid/Missing Currency")
        reference = check.reference()
        self._check_pin(check)
        check.object("transaction")
        amount = check.amount(
            "transaction.amount", minimum=config.min_amount, maximum=config.max_amount
        )
        transaction_id = check.transaction_id()
        wallet_type = "B2C"
        if version == "v2":
            chosen = check.choice("transaction.type", WALLET_TYPES)
            assert chosen is not None
            wallet_type = chosen
        if transaction_id in state.disbursements:
            raise v.refused(
                v.DISBURSEMENT,
                "Duplicate Transaction Id. To know the status of the actual transaction, "
                "please do transaction enquiry.",
                response_code="DP00900001017",
                result_code="ESB000041",
            )
        outcome = self._outcome(msisdn, amount, wallet_type)
        now = state.now()
        payout = Disbursement(
            transaction_id=transaction_id,
            msisdn=msisdn,
            amount=amount,
            reference=reference,
            version=version,
            wallet_type=wallet_type,
            created_at=now,
            outcome=outcome,
        )
        state.disbursements[transaction_id] = payout
        request[v.APPLIED] = True
        log.info(
            "sim.disburse transaction_id=%s msisdn=%s amount=%s outcome=%s",
            transaction_id,
            mask_msisdn(msisdn),
            amount,
            outcome.label,
        )
        if state.faults.take("in_progress_next_n") or outcome.answer_status == "TIP":
            payout.settle_due_at = now + timedelta(seconds=config.enquiry_pending_s)
            payout.message = "Transaction is in process"
            return web.json_response(
                answer_body(payout, "TIP", "DP00900001006", "Transaction is in process")
            )
        state.settle_disbursement(payout)
        if state.faults.take("ambiguous_next_n"):
            return web.json_response(answer_body(payout, "TA", "DP00900001000", AMBIGUOUS_MESSAGE))
        if outcome.answer_status == "TS":
            return web.json_response(answer_body(payout, "TS", "DP00900001001", payout.message))
        return web.json_response(
            answer_body(
                payout,
                outcome.answer_status,
                outcome.answer_code,
                outcome.message or payout.message,
            )
        )

    async def enquiry(self, request: web.Request) -> web.Response:
        """GET /standard/v1/disbursements/{id} (v2 needs ?transactionType=B2C|B2B)."""
        state = self._state
        if request.match_info["version"] == "v2":
            kind = request.query.get("transactionType")
            if kind not in WALLET_TYPES:
                raise v.refused(
                    v.DISBURSEMENT, "Missing or invalid request parameter transactionType"
                )
        payout = state.disbursements.get(request.match_info["id"])
        if payout is None or state.faults.take("enquiry_not_found_next_n"):
            raise v.refused(
                v.DISBURSEMENT,
                "Transaction not found",
                response_code="DP00900001015",
                result_code="ESB000045",
                code="404",
            )
        return web.json_response(enquiry_body(payout))

    def _check_pin(self, check: v.Checker) -> None:
        """Decrypt the PIN with the simulator's private key; refuse it as Airtel does."""
        state = self._state
        pin = check.body.get("pin")
        if not isinstance(pin, str) or not pin:
            raise v.refused(v.DISBURSEMENT, "Missing header/body params", result_code=None)
        private_key = state.private_key
        decrypted = decrypt(private_key, pin, state.config.pin_paddings)
        # PKCS#1 v1.5 with a wrong padding yields random bytes rather than an error
        if decrypted is None or not _PIN.fullmatch(decrypted[0]):
            raise v.refused(v.DISBURSEMENT, "Incorrect Encrypted Pin", result_code=None)
        if decrypted[0].decode("ascii") != state.config.disbursement_pin:
            raise v.refused(v.DISBURSEMENT, "Incorrect Pin", result_code="ROUTER115")

    def _outcome(self, msisdn: str, amount: int, wallet_type: str) -> PayoutOutcome:
        """The payout's outcome: payee, wallet type, then the disbursement wallet's funds."""
        if not is_airtel_number(msisdn):
            return _failed("DP00900001012", "Invalid Mobile Number")
        business = msisdn == BUSINESS_WALLET_MSISDN
        if business and wallet_type == "B2C":
            return _failed("DP00900001013", "Disbursements to businesses with B2C will fail")
        if not business and wallet_type == "B2B":
            return _failed("DP00900001013", "Disbursements to subscribers with B2B will fail")
        outcome = payout_outcome(msisdn)
        if outcome.applies and amount > self._state.disbursement_balance:
            return _failed("DP00900001007", "Insufficient funds in the disbursement wallet")
        return outcome


def register(app: web.Application, state: SimulatorState) -> None:
    """Add the disbursement routes to the simulator app."""
    handlers = DisbursementHandlers(state)
    app.router.add_post("/standard/{version:v[12]}/disbursements/", handlers.disburse)
    app.router.add_get("/standard/{version:v[12]}/disbursements/{id}", handlers.enquiry)
