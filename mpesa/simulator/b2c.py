"""B2C payouts in the simulator: the v3 payment request, its Result and QueueTimeOut notices."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from mpesa.phone import mask_msisdn
from mpesa.simulator import results
from mpesa.simulator import validation as v
from mpesa.simulator.config import PhoneForm
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.scenarios import B2C_QUEUE_TIMEOUT_MSISDN
from mpesa.simulator.scenarios import QUEUE_TIMEOUT_DESC
from mpesa.simulator.scenarios import public_name
from mpesa.simulator.state import Payout
from mpesa.simulator.state import PayoutStatus
from mpesa.simulator.state import SimulatorState

log = logging.getLogger(__name__)

COMMANDS = ("BusinessPayment", "SalaryPayment", "PromotionPayment")
B2C_MINIMUM = 10
ASYNC_ACCEPTED = "Accept the service request successfully."
B2C_FIELDS = (
    "OriginatorConversationID",
    "InitiatorName",
    "SecurityCredential",
    "CommandID",
    "Amount",
    "PartyA",
    "PartyB",
    "Remarks",
    "QueueTimeOutURL",
    "ResultURL",
    "Occassion",  # sic: v3 spells it with a double s
)


def accepted(originator_conversation_id: str, conversation_id: str) -> web.Response:
    """Return the synchronous "accepted for processing" answer of every Result-style API."""
    return web.json_response(
        {
            "ConversationID": conversation_id,
            "OriginatorConversationID": originator_conversation_id,
            "ResponseCode": "0",
            "ResponseDescription": ASYNC_ACCEPTED,
        }
    )


def shortcode(body: dict[str, object], name: str, state: SimulatorState) -> str:
    """Return an organisation shortcode field, refusing one the config does not accept."""
    value = v.digits(body, name)
    allowed = state.config.b2c_shortcodes
    if allowed is not None and value not in allowed:
        raise v.invalid(name)
    return value


def b2c_result(
    payout: Payout,
    *,
    working_balance: int,
    placeholder: str,
    phone_form: PhoneForm = PhoneForm.PLAIN,
) -> dict[str, Any]:
    """Return the Result POSTed to ResultURL for a settled payout."""
    reference = results.internal_reference("b2cresults")
    if payout.status is not PayoutStatus.COMPLETED or payout.completed_at is None:
        return results.result(
            code=payout.result_code if payout.result_code is not None else 1,
            desc=payout.result_desc,
            originator_conversation_id=payout.originator_conversation_id,
            conversation_id=payout.conversation_id,
            transaction_id=placeholder,
            reference=reference,
        )
    utility = payout.utility_balance_after or 0
    parameters = [
        results.param("TransactionAmount", payout.amount),
        results.param("TransactionReceipt", payout.receipt),
        results.param("ReceiverPartyPublicName", public_name(payout.msisdn, phone_form)),
        results.param("TransactionCompletedDateTime", f"{payout.completed_at:%d.%m.%Y %H:%M:%S}"),
        # balances arrive as floats with cents (94520.00)
        results.param("B2CUtilityAccountAvailableFunds", float(utility)),
        results.param("B2CWorkingAccountAvailableFunds", float(working_balance)),
        results.param("B2CRecipientIsRegisteredCustomer", "Y"),
        results.param("B2CChargesPaidAccountAvailableFunds", 0.0),
    ]
    return results.result(
        code=0,
        desc=payout.result_desc,
        originator_conversation_id=payout.originator_conversation_id,
        conversation_id=payout.conversation_id,
        transaction_id=payout.receipt or placeholder,
        parameters=parameters,
        reference=reference,
    )


def queue_timeout(payout: Payout) -> dict[str, Any]:
    """Return the notice POSTed to QueueTimeOutURL (shape undocumented by Safaricom)."""
    return {
        "Result": {
            "ResultType": 1,
            "ResultCode": 1,
            "ResultDesc": QUEUE_TIMEOUT_DESC,
            "OriginatorConversationID": payout.originator_conversation_id,
            "ConversationID": payout.conversation_id,
        }
    }


class B2CHandlers:
    """Answers B2C payment requests and later POSTs their Result (or a queue time-out)."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def payment(self, request: web.Request) -> web.Response:
        """POST /mpesa/b2c/v3/paymentrequest: accept a payout, settle it after the delay."""
        state = self._state
        body = await v.read_body(request, "InitiatorName")
        v.warn_unknown(body, B2C_FIELDS, state.warner(request.path))
        originator_id = v.text(body, "OriginatorConversationID")
        initiator = v.text(body, "InitiatorName")
        credential = v.text(body, "SecurityCredential", max_len=4096)
        command = v.choice(body, "CommandID", COMMANDS)
        amount = v.amount(body, "Amount", minimum=B2C_MINIMUM, maximum=state.config.max_amount)
        party_a = shortcode(body, "PartyA", state)
        party_b = v.msisdn(body, "PartyB")
        remarks = v.text(body, "Remarks", min_len=2)
        timeout_url = v.url(body, "QueueTimeOutURL")
        result_url = v.url(body, "ResultURL")
        occasion = v.optional_text(body, "Occassion")
        if originator_id in state.payouts:
            raise v.Refusal(500, "500.002.1001", "Duplicate OriginatorConversationID.")

        now = state.now()
        payout = Payout(
            originator_conversation_id=originator_id,
            conversation_id=state.ids.conversation_id(now),
            initiator_name=initiator,
            command_id=command,
            party_a=party_a,
            msisdn=party_b,
            amount=amount,
            remarks=remarks,
            occasion=occasion,
            result_url=result_url,
            timeout_url=timeout_url,
            created_at=now,
            # a wrong credential is only found out later: the result says 2001
            credential_ok=state.credential_ok(credential),
        )
        state.payouts[originator_id] = payout
        log.info(
            "sim.b2c.accepted originator=%s msisdn=%s amount=%s",
            originator_id,
            mask_msisdn(party_b),
            amount,
        )
        await self._deliverer.dispatch(self._settle(payout))
        return accepted(originator_id, payout.conversation_id)

    async def _settle(self, payout: Payout) -> None:
        """Settle the payout after the delay and tell the application how it went."""
        await self._deliverer.wait()
        self._state.settle_payout(payout)
        if payout.msisdn == B2C_QUEUE_TIMEOUT_MSISDN:
            # the payout went through, but only the time-out notice is sent: reconcile by status
            await self._deliverer.notify("b2c_timeout", payout.timeout_url, queue_timeout(payout))
            return
        body = b2c_result(
            payout,
            working_balance=self._state.working_balance,
            placeholder=self._state.ids.placeholder_receipt(self._state.now()),
            phone_form=self._state.config.callback_phone,
        )
        await self._deliverer.notify("b2c_result", payout.result_url, body)


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the B2C route to the simulator app."""
    app.router.add_post("/mpesa/b2c/v3/paymentrequest", B2CHandlers(state, deliverer).payment)
