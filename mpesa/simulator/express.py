"""M-Pesa Express (STK Push) endpoints of the simulator: push, query, and the callback."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from mpesa.phone import mask_msisdn
from mpesa.security import daraja_timestamp, parse_daraja_timestamp, stk_password
from mpesa.simulator import validation as v
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.scenarios import PENDING_CODE, PENDING_DESC, stk_outcome
from mpesa.simulator.state import Prompt, SimulatorState

log = logging.getLogger(__name__)

TRANSACTION_TYPES = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
ACCEPTED = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successsfully"  # sic, Safaricom's typo
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
ACCOUNT_REFERENCE_MAX = 20  # docs say 12; longer values were observed to be accepted


def stk_callback(prompt: Prompt) -> dict[str, Any]:
    """Return the body POSTed to CallBackURL for a settled prompt."""
    callback: dict[str, Any] = {
        "MerchantRequestID": prompt.merchant_request_id,
        "CheckoutRequestID": prompt.checkout_request_id,
        "ResultCode": prompt.outcome.result_code,
        "ResultDesc": prompt.outcome.result_desc,
    }
    if prompt.outcome.result_code == 0 and prompt.settled_at is not None:
        callback["CallbackMetadata"] = {
            "Item": [
                # Daraja sends the amount as a float (150.0) and the phone as a number
                {"Name": "Amount", "Value": float(prompt.amount)},
                {"Name": "MpesaReceiptNumber", "Value": prompt.receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(daraja_timestamp(prompt.settled_at))},
                {"Name": "PhoneNumber", "Value": int(prompt.msisdn)},
            ]
        }
    return {"Body": {"stkCallback": callback}}


class ExpressHandlers:
    """Answers STK Push and STK Query like Daraja, then calls back after the configured delay."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def push(self, request: web.Request) -> web.Response:
        """POST /mpesa/stkpush/v1/processrequest: open a prompt on the customer's phone."""
        config = self._state.config
        body = await v.read_body(request, "BusinessShortCode")
        shortcode = v.digits(body, "BusinessShortCode")
        timestamp = _timestamp(body)
        v.choice(body, "TransactionType", TRANSACTION_TYPES)
        amount = v.amount(body, "Amount", minimum=1, maximum=config.max_amount)
        v.msisdn(body, "PartyA")
        v.digits(body, "PartyB")
        phone = v.msisdn(body, "PhoneNumber")
        callback_url = v.url(body, "CallBackURL")
        reference = v.text(body, "AccountReference", max_len=ACCOUNT_REFERENCE_MAX)
        # a missing TransactionDesc was observed to be refused as "Invalid Remarks"
        v.text(body, "TransactionDesc", error_name="Remarks")
        self._check_password(body, shortcode, timestamp)
        if self._state.open_prompt(phone) is not None:
            raise v.merchant_error(LOCKED)

        now = self._state.now()
        earlier = sum(1 for p in self._state.prompts.values() if p.msisdn == phone)
        outcome = stk_outcome(phone, earlier_prompts=earlier)
        prompt = Prompt(
            checkout_request_id=self._state.ids.checkout_request_id(now, phone),
            merchant_request_id=self._state.ids.request_id(),
            shortcode=shortcode,
            msisdn=phone,
            amount=amount,
            reference=reference,
            callback_url=callback_url,
            created_at=now,
            outcome=outcome,
        )
        if not outcome.calls_back:
            prompt.settle_due_at = now + timedelta(seconds=config.query_pending_s)
        self._state.prompts[prompt.checkout_request_id] = prompt
        log.info(
            "sim.stk.push checkout=%s msisdn=%s amount=%s outcome=%s",
            prompt.checkout_request_id,
            mask_msisdn(phone),
            amount,
            outcome.result_code,
        )
        if outcome.calls_back:
            await self._deliverer.dispatch(self._answer(prompt))
        return web.json_response(
            {
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": ACCEPTED,
                "CustomerMessage": ACCEPTED,
            }
        )

    async def query(self, request: web.Request) -> web.Response:
        """POST /mpesa/stkpushquery/v1/query: report a prompt's state (4999 while unanswered)."""
        body = await v.read_body(request, "BusinessShortCode")
        shortcode = v.digits(body, "BusinessShortCode")
        timestamp = _timestamp(body)
        self._check_password(body, shortcode, timestamp)
        checkout_request_id = body.get("CheckoutRequestID")
        prompt = (
            self._state.prompts.get(checkout_request_id)
            if isinstance(checkout_request_id, str)
            else None
        )
        if prompt is None or prompt.shortcode != shortcode:
            raise v.invalid("CheckoutRequestID")
        if prompt.pending and self._state.faults.query_pending_as_error:
            raise v.Refusal(
                500,
                "500.001.1001",
                "The transaction is being processed",
                request_id=prompt.checkout_request_id,
            )
        if prompt.pending:
            code, desc = PENDING_CODE, PENDING_DESC
        else:
            code, desc = str(prompt.outcome.result_code), prompt.outcome.result_desc
        return web.json_response(
            {
                "ResponseCode": "0",
                "ResponseDescription": QUERY_ACCEPTED,
                "MerchantRequestID": prompt.merchant_request_id,
                "CheckoutRequestID": prompt.checkout_request_id,
                "ResultCode": code,
                "ResultDesc": desc,
            }
        )

    def _check_password(self, body: dict[str, object], shortcode: str, timestamp: str) -> None:
        """Refuse an unknown shortcode or a Password that is not base64(shortcode+passkey+ts)."""
        passkey = self._state.config.shortcodes.get(shortcode)
        if passkey is None:
            raise v.merchant_error("Merchant does not exist")
        if body.get("Password") != stk_password(shortcode, passkey, timestamp):
            raise v.merchant_error("Wrong credentials")

    async def _answer(self, prompt: Prompt) -> None:
        """Let the customer answer after the delay, then POST the callback."""
        await self._deliverer.wait()
        self._state.settle_prompt(prompt)
        await self._deliverer.notify("stk", prompt.callback_url, stk_callback(prompt))


def _timestamp(body: dict[str, object]) -> str:
    """Return the 14-digit Timestamp if it is a real date, else refuse it."""
    value = body.get("Timestamp")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) != 14 or not text.isdigit():
        raise v.invalid("Timestamp")
    try:
        parse_daraja_timestamp(text)
    except ValueError:
        raise v.invalid("Timestamp") from None
    return text


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the STK routes to the simulator app."""
    handlers = ExpressHandlers(state, deliverer)
    app.router.add_post("/mpesa/stkpush/v1/processrequest", handlers.push)
    app.router.add_post("/mpesa/stkpushquery/v1/query", handlers.query)
