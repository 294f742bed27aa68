"""Transaction Status, Account Balance and Reversal: answered from the simulator's own books."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from mpesa.simulator import results
from mpesa.simulator import validation as v
from mpesa.simulator.b2c import accepted
from mpesa.simulator.b2c import shortcode
from mpesa.simulator.config import PhoneForm
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.scenarios import ALREADY_REVERSED_CODE
from mpesa.simulator.scenarios import ALREADY_REVERSED_DESC
from mpesa.simulator.scenarios import INITIATOR_INVALID_DESC
from mpesa.simulator.scenarios import INVALID_ORIGINAL_CODE
from mpesa.simulator.scenarios import INVALID_ORIGINAL_DESC
from mpesa.simulator.scenarios import STATUS_NOT_FOUND_CODE
from mpesa.simulator.scenarios import STATUS_NOT_FOUND_DESC
from mpesa.simulator.scenarios import SUCCESS_DESC
from mpesa.simulator.scenarios import public_name
from mpesa.simulator.state import Payment
from mpesa.simulator.state import Payout
from mpesa.simulator.state import PayoutStatus
from mpesa.simulator.state import Reversal
from mpesa.simulator.state import SimulatorState

log = logging.getLogger(__name__)

IDENTIFIER_TYPES = ("1", "2", "4")
RECEIVER_IDENTIFIER_TYPES = ("1", "2", "4", "11")
STATUS_FIELDS = (
    "Initiator",
    "SecurityCredential",
    "CommandID",
    "TransactionID",
    "OriginalConversationID",
    "PartyA",
    "IdentifierType",
    "ResultURL",
    "QueueTimeOutURL",
    "Remarks",
    "Occasion",
)
BALANCE_FIELDS = (
    "Initiator",
    "SecurityCredential",
    "CommandID",
    "PartyA",
    "IdentifierType",
    "Remarks",
    "QueueTimeOutURL",
    "ResultURL",
)
REVERSAL_FIELDS = (
    "Initiator",
    "SecurityCredential",
    "CommandID",
    "TransactionID",
    "Amount",
    "ReceiverParty",
    "RecieverIdentifierType",  # sic: Safaricom's spelling is the only one accepted
    "ResultURL",
    "QueueTimeOutURL",
    "Remarks",
    "Occasion",
)
REASON_TYPES = {
    "BusinessPayment": "Business Payment to Customer via API",
    "SalaryPayment": "Salary Payment via API",
    "PromotionPayment": "Promotion Payment via API",
}


@dataclass(frozen=True)
class Request:
    """What every Result-style request shares: who asked, where to answer, and our ids."""

    initiator: str
    credential_ok: bool  # the SecurityCredential decrypted to the initiator password
    result_url: str
    originator_conversation_id: str
    conversation_id: str
    occasion: str


@dataclass(frozen=True)
class StatusView:
    """A transaction as Transaction Status reports it; ``amount`` in shillings."""

    debit_party: str
    credit_party: str
    originator_id: str
    initiated_at: datetime
    finalised_at: datetime
    debit_account_type: str
    reason_type: str
    status: str
    amount: int
    conversation_id: str
    receipt: str | None
    charges: str | None = None


def status_view(
    record: Payout | Payment | Reversal, *, phone_form: PhoneForm = PhoneForm.PLAIN
) -> StatusView:
    """Describe a payout, a received payment or a reversal for a status result."""
    customer = public_name(record.msisdn, phone_form)
    if isinstance(record, Payout):
        finalised = record.completed_at or record.created_at
        return StatusView(
            debit_party=results.org_name(record.party_a),
            credit_party=customer,
            originator_id=record.originator_conversation_id,
            initiated_at=record.created_at,
            finalised_at=finalised,
            debit_account_type="Utility Account",
            reason_type=REASON_TYPES[record.command_id],
            status="Completed" if record.status is PayoutStatus.COMPLETED else "Failed",
            amount=record.amount,
            conversation_id=record.conversation_id,
            receipt=record.receipt,
            charges="Fee For B2C Payment|KES|0.00",  # the simulator charges no fees
        )
    if isinstance(record, Payment):
        return StatusView(
            debit_party=customer,
            credit_party=results.org_name(record.shortcode),
            originator_id=record.originator_id,
            initiated_at=record.completed_at,
            finalised_at=record.completed_at,
            debit_account_type="MMF Account For Customer",
            reason_type="Pay Bill Online" if record.channel == "stk" else "Pay Bill",
            status="Completed",
            amount=record.amount,
            conversation_id="",
            receipt=record.receipt,
        )
    return StatusView(
        debit_party=results.org_name(record.shortcode),
        credit_party=customer,
        originator_id="",
        initiated_at=record.completed_at,
        finalised_at=record.completed_at,
        debit_account_type="Utility Account",
        reason_type="Reversal",
        status="Completed",
        amount=record.amount,
        conversation_id="",
        receipt=record.receipt,
    )


def _optional(key: str, value: str | None) -> dict[str, object]:
    return results.param(key, value) if value else results.param(key)


class LedgerHandlers:
    """Answers status, balance and reversal requests and POSTs their Results."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def status(self, request: web.Request) -> web.Response:
        """POST /mpesa/transactionstatus/v1/query: report a transaction by id or receipt."""
        body = await v.read_body(request, "Initiator")
        v.warn_unknown(body, STATUS_FIELDS, self._state.warner(request.path))
        initiator = self._credentials(body, "TransactionStatusQuery")
        queried_id = _optional_id(body, "OriginalConversationID")
        receipt = _optional_id(body, "TransactionID")
        if not queried_id and not receipt:
            raise v.invalid("TransactionID")
        identifier_type = v.choice(body, "IdentifierType", IDENTIFIER_TYPES)
        if identifier_type == "1":
            v.msisdn(body, "PartyA")
        else:
            shortcode(body, "PartyA", self._state)
        asked = self._request(body, initiator, occasion=v.optional_text(body, "Occasion"))
        await self._deliverer.dispatch(self._report_status(asked, queried_id, receipt))
        return accepted(asked.originator_conversation_id, asked.conversation_id)

    async def balance(self, request: web.Request) -> web.Response:
        """POST /mpesa/accountbalance/v1/query: report the running balances."""
        body = await v.read_body(request, "Initiator")
        v.warn_unknown(body, BALANCE_FIELDS, self._state.warner(request.path))
        initiator = self._credentials(body, "AccountBalance")
        shortcode(body, "PartyA", self._state)
        v.choice(body, "IdentifierType", IDENTIFIER_TYPES)
        asked = self._request(body, initiator, occasion="")
        await self._deliverer.dispatch(self._report_balance(asked))
        return accepted(asked.originator_conversation_id, asked.conversation_id)

    async def reversal(self, request: web.Request) -> web.Response:
        """POST /mpesa/reversal/v1/request: reverse a received payment by its receipt."""
        body = await v.read_body(request, "Initiator")
        v.warn_unknown(body, REVERSAL_FIELDS, self._state.warner(request.path))
        initiator = self._credentials(body, "TransactionReversal")
        receipt = v.text(body, "TransactionID", max_len=20)
        v.amount(body, "Amount", minimum=1, maximum=self._state.config.max_amount)
        receiver = shortcode(body, "ReceiverParty", self._state)
        # Safaricom's spelling is the only one accepted; "ReceiverIdentifierType" is refused
        v.choice(body, "RecieverIdentifierType", RECEIVER_IDENTIFIER_TYPES)
        asked = self._request(body, initiator, occasion=v.optional_text(body, "Occasion"))
        await self._deliverer.dispatch(self._reverse(asked, receipt, receiver))
        return accepted(asked.originator_conversation_id, asked.conversation_id)

    def _credentials(self, body: dict[str, object], command_id: str) -> tuple[str, str]:
        """Check Initiator, SecurityCredential and CommandID; return the name and credential."""
        initiator = v.text(body, "Initiator")
        credential = v.text(body, "SecurityCredential", max_len=4096)
        v.choice(body, "CommandID", (command_id,))
        return initiator, credential

    def _request(
        self, body: dict[str, object], initiator: tuple[str, str], *, occasion: str
    ) -> Request:
        """Check the URLs and Remarks, then assign this request's ids."""
        result_url = v.url(body, "ResultURL")
        v.url(body, "QueueTimeOutURL")
        v.text(body, "Remarks", min_len=2)
        now = self._state.now()
        name, credential = initiator
        return Request(
            initiator=name,
            # a wrong credential is only found out later: the result says 2001
            credential_ok=self._state.credential_ok(credential),
            result_url=result_url,
            originator_conversation_id=self._state.ids.request_id(),
            conversation_id=self._state.ids.conversation_id(now),
            occasion=occasion,
        )

    def _envelope(
        self,
        asked: Request,
        *,
        code: int | str,
        desc: str,
        parameters: list[dict[str, object]] | dict[str, object] | None,
        reference: dict[str, object],
        transaction_id: str | None = None,
    ) -> dict[str, Any]:
        now = self._state.now()
        return results.result(
            code=code,
            desc=desc,
            originator_conversation_id=asked.originator_conversation_id,
            conversation_id=asked.conversation_id,
            transaction_id=transaction_id or self._state.ids.placeholder_receipt(now),
            parameters=parameters,
            reference=reference,
        )

    def _failure(
        self, asked: Request, code: int | str, desc: str, reference: dict[str, object]
    ) -> dict[str, Any]:
        """Return a failed Result; its single parameter is an object, not a list (as Daraja)."""
        completed = results.param("BOCompletedTime", results.number_time(self._state.now()))
        return self._envelope(
            asked, code=code, desc=desc, parameters=completed, reference=reference
        )

    def _initiator_ok(self, asked: Request) -> bool:
        return asked.initiator == self._state.config.initiator_name and asked.credential_ok

    async def _report_status(self, asked: Request, queried_id: str, receipt: str) -> None:
        await self._deliverer.wait()
        occasion = _optional("Occasion", asked.occasion)
        reference = {"ReferenceItem": occasion}
        record = self._state.find_transaction(conversation_id=queried_id, receipt=receipt)
        if not self._initiator_ok(asked):
            body = self._failure(asked, 2001, INITIATOR_INVALID_DESC, reference)
        elif record is None:
            body = self._failure(asked, STATUS_NOT_FOUND_CODE, STATUS_NOT_FOUND_DESC, reference)
        else:
            view = status_view(record, phone_form=self._state.config.callback_phone)
            parameters = [
                results.param("DebitPartyName", view.debit_party),
                results.param("CreditPartyName", view.credit_party),
                _optional("OriginatorConversationID", queried_id or view.originator_id),
                results.param("InitiatedTime", results.number_time(view.initiated_at)),
                results.param("DebitAccountType", view.debit_account_type),
                _optional("DebitPartyCharges", view.charges),
                results.param("TransactionReason"),
                results.param("ReasonType", view.reason_type),
                results.param("TransactionStatus", view.status),
                results.param("FinalisedTime", results.number_time(view.finalised_at)),
                results.param("Amount", view.amount),
                _optional("ConversationID", view.conversation_id),
                _optional("ReceiptNo", view.receipt),
            ]
            body = self._envelope(
                asked, code=0, desc=SUCCESS_DESC, parameters=parameters, reference=reference
            )
        await self._deliverer.notify("status_result", asked.result_url, body)

    async def _report_balance(self, asked: Request) -> None:
        await self._deliverer.wait()
        reference = results.internal_reference("abresults")
        if not self._initiator_ok(asked):
            body = self._failure(asked, 2001, INITIATOR_INVALID_DESC, reference)
        else:
            state = self._state
            accounts = "&".join(
                [
                    results.balance_line("Working Account", state.working_balance),
                    results.balance_line("Utility Account", state.utility_balance),
                    results.balance_line("Charges Paid Account", 0),
                    results.balance_line("Organization Settlement Account", 0),
                ]
            )
            parameters = [
                results.param("AccountBalance", accounts),
                results.param("BOCompletedTime", results.number_time(state.now())),
            ]
            body = self._envelope(
                asked, code=0, desc=SUCCESS_DESC, parameters=parameters, reference=reference
            )
        await self._deliverer.notify("balance_result", asked.result_url, body)

    async def _reverse(self, asked: Request, receipt: str, receiver: str) -> None:
        await self._deliverer.wait()
        reference = results.internal_reference("reversalresults")
        payment = self._state.payments.get(receipt)
        if not self._initiator_ok(asked):
            body = self._failure(asked, 2001, INITIATOR_INVALID_DESC, reference)
        elif payment is None or payment.shortcode != receiver:
            body = self._failure(asked, INVALID_ORIGINAL_CODE, INVALID_ORIGINAL_DESC, reference)
        elif payment.reversed_by is not None:
            body = self._failure(asked, ALREADY_REVERSED_CODE, ALREADY_REVERSED_DESC, reference)
        else:
            reversal = self._state.reverse(payment)
            balance = self._state.utility_balance
            log.info("sim.reversal receipt=%s original=%s", reversal.receipt, receipt)
            parameters = [
                results.param(
                    "DebitAccountBalance", results.balance_line("Utility Account", balance)
                ),
                results.param("Amount", float(reversal.amount)),  # a float on the wire, as Daraja
                results.param("TransCompletedTime", results.number_time(reversal.completed_at)),
                results.param("OriginalTransactionID", receipt),
                results.param("Charge", 0.0),
                results.param(
                    "CreditPartyPublicName",
                    public_name(payment.msisdn, self._state.config.callback_phone),
                ),
                results.param("DebitPartyPublicName", results.org_name(payment.shortcode)),
            ]
            body = self._envelope(
                asked,
                code=0,
                desc=SUCCESS_DESC,
                parameters=parameters,
                reference=reference,
                transaction_id=reversal.receipt,
            )
        await self._deliverer.notify("reversal_result", asked.result_url, body)


def _optional_id(body: dict[str, object], name: str) -> str:
    """Return an optional identifier field ("" when absent), refusing a non-string."""
    value = body.get(name)
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise v.invalid(name)
    return value.strip()


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the status, balance and reversal routes to the simulator app."""
    handlers = LedgerHandlers(state, deliverer)
    app.router.add_post("/mpesa/transactionstatus/v1/query", handlers.status)
    app.router.add_post("/mpesa/accountbalance/v1/query", handlers.balance)
    app.router.add_post("/mpesa/reversal/v1/request", handlers.reversal)
