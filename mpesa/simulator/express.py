"""M-Pesa Express (STK Push) endpoints of the simulator: push, query, and the callback."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from mpesa.phone import mask_id
from mpesa.phone import mask_msisdn
from mpesa.security import daraja_timestamp
from mpesa.security import parse_daraja_timestamp
from mpesa.security import stk_password
from mpesa.simulator import validation as v
from mpesa.simulator.config import PhoneForm
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.scenarios import PENDING_CODE
from mpesa.simulator.scenarios import PENDING_DESC
from mpesa.simulator.scenarios import StkOutcome
from mpesa.simulator.scenarios import masked_phone
from mpesa.simulator.scenarios import stk_outcome
from mpesa.simulator.state import Prompt
from mpesa.simulator.state import SimulatorState

log = logging.getLogger(__name__)

TRANSACTION_TYPES = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")
ACCEPTED = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successsfully"  # sic, Safaricom's typo
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
PAYBILL = "CustomerPayBillOnline"
ACCOUNT_REFERENCE_MAX = 12  # documented; 15 characters were observed to be accepted
TRANSACTION_DESC_MAX = 13
RULE_LIMITED = StkOutcome(17, "Rule limited.", "the same amount to the same phone too soon")
STK_PUSH_FIELDS = (
    "BusinessShortCode",
    "Password",
    "Timestamp",
    "TransactionType",
    "Amount",
    "PartyA",
    "PartyB",
    "PhoneNumber",
    "CallBackURL",
    "AccountReference",
    "TransactionDesc",
)
STK_QUERY_FIELDS = ("BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID")


def stk_callback(prompt: Prompt, *, phone_form: PhoneForm = PhoneForm.PLAIN) -> dict[str, Any]:
    """Return the body POSTed to CallBackURL for a settled prompt."""
    callback: dict[str, Any] = {
        "MerchantRequestID": prompt.merchant_request_id,
        "CheckoutRequestID": prompt.checkout_request_id,
        "ResultCode": prompt.outcome.result_code,
        "ResultDesc": prompt.outcome.result_desc,
    }
    if prompt.outcome.result_code == 0 and prompt.settled_at is not None:
        items: list[dict[str, Any]] = [
            # Daraja sends the amount as a float (150.0) and the phone as a number
            {"Name": "Amount", "Value": float(prompt.amount)},
            {"Name": "MpesaReceiptNumber", "Value": prompt.receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": int(daraja_timestamp(prompt.settled_at))},
        ]
        if phone_form is PhoneForm.PLAIN:
            items.append({"Name": "PhoneNumber", "Value": int(prompt.msisdn)})
        elif phone_form is PhoneForm.MASKED:
            items.append({"Name": "PhoneNumber", "Value": masked_phone(prompt.msisdn)})
        callback["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": callback}}


class ExpressHandlers:
    """Answers STK Push and STK Query like Daraja, then calls back after the configured delay."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def push(self, request: web.Request) -> web.Response:
        """POST /mpesa/stkpush/v1/processrequest: open a prompt on the customer's phone."""
        state = self._state
        config = state.config
        body = await v.read_body(request, "BusinessShortCode")
        warn = state.warner(request.path)
        v.warn_unknown(body, STK_PUSH_FIELDS, warn)
        shortcode = v.digits(body, "BusinessShortCode")
        timestamp = self._timestamp(body)
        transaction_type = v.choice(body, "TransactionType", TRANSACTION_TYPES)
        amount = v.amount(body, "Amount", minimum=1, maximum=config.max_amount)
        party_a = v.msisdn(body, "PartyA")
        party_b = v.digits(body, "PartyB")
        if transaction_type == PAYBILL and party_b != shortcode:
            # a till's PartyB is the till number; a paybill's is the paybill itself
            raise v.invalid("PartyB")
        phone = v.msisdn(body, "PhoneNumber")
        if party_a != phone:
            raise v.invalid("PartyA")
        callback_url = v.url(body, "CallBackURL")
        reference = v.limited_text(
            body, "AccountReference", limit=ACCOUNT_REFERENCE_MAX, level=config.level, warn=warn
        )
        # a missing TransactionDesc was observed to be refused as "Invalid Remarks"
        v.limited_text(
            body,
            "TransactionDesc",
            limit=TRANSACTION_DESC_MAX,
            level=config.level,
            warn=warn,
            error_name="Remarks",
        )
        self._check_password(body, shortcode, timestamp)
        if state.open_prompt(phone) is not None:
            raise v.merchant_error(LOCKED)

        now = state.now()
        earlier = sum(1 for p in state.prompts.values() if p.msisdn == phone)
        outcome = RULE_LIMITED if self._rule_limited(phone, amount) else None
        outcome = outcome or stk_outcome(phone, earlier_prompts=earlier)
        prompt = Prompt(
            checkout_request_id=state.ids.checkout_request_id(now, phone),
            merchant_request_id=state.ids.request_id(),
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
        state.prompts[prompt.checkout_request_id] = prompt
        log.info(
            "sim.stk.push checkout=%s msisdn=%s amount=%s outcome=%s",
            mask_id(prompt.checkout_request_id),
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
        state = self._state
        body = await v.read_body(request, "BusinessShortCode")
        v.warn_unknown(body, STK_QUERY_FIELDS, state.warner(request.path))
        shortcode = v.digits(body, "BusinessShortCode")
        timestamp = self._timestamp(body)
        self._check_password(body, shortcode, timestamp)
        checkout_request_id = body.get("CheckoutRequestID")
        prompt = (
            state.prompts.get(checkout_request_id) if isinstance(checkout_request_id, str) else None
        )
        if prompt is None or prompt.shortcode != shortcode:
            raise v.invalid("CheckoutRequestID")
        if prompt.pending and state.faults.query_pending_as_error:
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

    def _timestamp(self, body: dict[str, object]) -> str:
        """Return the Timestamp: 14 digits, a real date, within the skew of Nairobi time."""
        value = body.get("Timestamp")
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or len(text) != 14 or not text.isdigit():
            raise v.invalid("Timestamp")
        try:
            moment = parse_daraja_timestamp(text)
        except ValueError:
            raise v.invalid("Timestamp") from None
        skew = self._state.config.timestamp_skew_s
        # a server on UTC sends a timestamp 3 hours behind Nairobi (daraja.md §6.1)
        if skew is not None and abs((moment - self._state.now()).total_seconds()) > skew:
            raise v.invalid("Timestamp")
        return text

    def _check_password(self, body: dict[str, object], shortcode: str, timestamp: str) -> None:
        """Refuse an unknown shortcode or a Password that is not base64(shortcode+passkey+ts)."""
        passkey = self._state.config.shortcodes.get(shortcode)
        if passkey is None:
            raise v.merchant_error("Merchant does not exist")
        if body.get("Password") != stk_password(shortcode, passkey, timestamp):
            raise v.merchant_error("Wrong credentials")

    def _rule_limited(self, phone: str, amount: int) -> bool:
        """Tell whether the opt-in "same amount to the same phone" rule refuses this push."""
        window = self._state.config.rule_limited_window_s
        if window <= 0:
            return False
        since = self._state.now() - timedelta(seconds=window)
        return any(
            p.msisdn == phone and p.amount == amount and p.created_at > since
            for p in self._state.prompts.values()
        )

    async def _answer(self, prompt: Prompt) -> None:
        """Let the customer answer after the delay, then POST the callback."""
        await self._deliverer.wait()
        self._state.settle_prompt(prompt)
        body = stk_callback(prompt, phone_form=self._state.config.callback_phone)
        await self._deliverer.notify("stk", prompt.callback_url, body)


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the STK routes to the simulator app."""
    handlers = ExpressHandlers(state, deliverer)
    app.router.add_post("/mpesa/stkpush/v1/processrequest", handlers.push)
    app.router.add_post("/mpesa/stkpushquery/v1/query", handlers.query)
