"""C2B in the simulator: URL registration, simulated customer payments, validation, confirmation."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aiohttp import web

from mpesa.phone import mask_msisdn
from mpesa.security import daraja_timestamp
from mpesa.simulator import validation as v
from mpesa.simulator.delivery import Deliverer
from mpesa.simulator.state import C2BRegistration
from mpesa.simulator.state import SimulatorState

log = logging.getLogger(__name__)

RESPONSE_TYPES = ("Completed", "Cancelled")
COMMANDS = {"CustomerPayBillOnline": "Pay Bill", "CustomerBuyGoodsOnline": "Buy Goods"}
# Daraja refuses callback URLs containing any of these, in any case
FORBIDDEN_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")
BILL_REF_MAX = 20
REGISTER_FIELDS = ("ShortCode", "ResponseType", "ConfirmationURL", "ValidationURL")
SIMULATE_FIELDS = ("ShortCode", "CommandID", "Amount", "Msisdn", "BillRefNumber")


def reported_msisdn(msisdn: str, version: int) -> str:
    """Return the MSISDN as C2B reports it: v2 masked ``2547 ***** 149``, v1 a SHA-256 hash."""
    if version == 1:
        return hashlib.sha256(msisdn.encode()).hexdigest()
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def _callback_url(body: dict[str, object], name: str) -> str:
    value = v.url(body, name)
    if any(word in value.lower() for word in FORBIDDEN_URL_WORDS):
        raise v.invalid(name)
    return value


class C2BHandlers:
    """Registers C2B URLs and plays simulated customer payments against them."""

    def __init__(self, state: SimulatorState, deliverer: Deliverer) -> None:
        self._state = state
        self._deliverer = deliverer

    async def register_urls(self, request: web.Request) -> web.Response:
        """POST /mpesa/c2b/v{1,2}/registerurl: store a shortcode's URLs (may re-register)."""
        body = await v.read_body(request, "ShortCode")
        v.warn_unknown(body, REGISTER_FIELDS, self._state.warner(request.path))
        code = v.digits(body, "ShortCode")
        response_type = v.choice(body, "ResponseType", RESPONSE_TYPES)
        confirmation_url = _callback_url(body, "ConfirmationURL")
        validation_url = _callback_url(body, "ValidationURL")
        version = int(request.match_info["version"])
        self._state.c2b[code] = C2BRegistration(
            shortcode=code,
            response_type=response_type,
            confirmation_url=confirmation_url,
            validation_url=validation_url,
            version=version,
        )
        log.info("sim.c2b.registered shortcode=%s version=%s", code, version)
        return web.json_response(
            {
                "OriginatorCoversationID": self._state.ids.request_id(),  # sic, Safaricom's typo
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            }
        )

    async def simulate(self, request: web.Request) -> web.Response:
        """POST /mpesa/c2b/v{1,2}/simulate: a customer pays the shortcode from their phone."""
        state = self._state
        body = await v.read_body(request, "ShortCode")
        v.warn_unknown(body, SIMULATE_FIELDS, state.warner(request.path))
        code = v.digits(body, "ShortCode")
        command = v.choice(body, "CommandID", COMMANDS)
        amount = v.amount(body, "Amount", minimum=1, maximum=state.config.max_amount)
        phone = v.msisdn(body, "Msisdn")
        bill_ref = v.optional_text(body, "BillRefNumber", max_len=BILL_REF_MAX)
        registration = state.c2b.get(code)
        if registration is None:
            # the simulator's choice: refuse rather than accept a payment nobody will hear about
            raise v.invalid("ShortCode")
        log.info(
            "sim.c2b.simulate shortcode=%s msisdn=%s amount=%s", code, mask_msisdn(phone), amount
        )
        await self._deliverer.dispatch(
            self._pay(registration, COMMANDS[command], phone, amount, bill_ref)
        )
        return web.json_response(
            {
                "OriginatorCoversationID": state.ids.request_id(),
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }
        )

    async def _pay(
        self,
        registration: C2BRegistration,
        transaction_type: str,
        phone: str,
        amount: int,
        bill_ref: str,
    ) -> None:
        """Ask the validation URL, then (if accepted) complete and confirm the payment."""
        await self._deliverer.wait()
        state = self._state
        now = state.now()
        body: dict[str, Any] = {
            "TransactionType": transaction_type,
            "TransID": state.ids.receipt(now),
            "TransTime": daraja_timestamp(now),
            "TransAmount": f"{amount}.00",
            "BusinessShortCode": registration.shortcode,
            "BillRefNumber": bill_ref,
            "InvoiceNumber": "",
            "OrgAccountBalance": "",
            "ThirdPartyTransID": "",
            "MSISDN": reported_msisdn(phone, registration.version),
            "FirstName": "JOHN",
            "MiddleName": "",
            "LastName": "",
        }
        status, answer = await self._deliverer.ask(
            "c2b_validation",
            registration.validation_url,
            body,
            timeout_s=state.config.c2b_validation_timeout_s,
        )
        third_party = ""
        if status == 200 and isinstance(answer, dict):
            accepted = str(answer.get("ResultCode")) == "0"
            echoed = answer.get("ThirdPartyTransID")
            third_party = echoed if isinstance(echoed, str) else ""
        else:
            # no usable answer in time: M-Pesa applies the registered ResponseType
            accepted = registration.response_type == "Completed"
        if not accepted:
            log.info("sim.c2b.rejected trans_id=%s", body["TransID"])
            return
        state.receive_c2b(
            receipt=body["TransID"],
            shortcode=registration.shortcode,
            msisdn=phone,
            amount=amount,
            reference=bill_ref,
        )
        confirmation = body | {
            "OrgAccountBalance": f"{state.utility_balance}.00",
            "ThirdPartyTransID": third_party,
        }
        await self._deliverer.notify(
            "c2b_confirmation", registration.confirmation_url, confirmation
        )


def register(app: web.Application, state: SimulatorState, deliverer: Deliverer) -> None:
    """Add the C2B routes (v1 and v2) to the simulator app."""
    handlers = C2BHandlers(state, deliverer)
    app.router.add_post(r"/mpesa/c2b/v{version:[12]}/registerurl", handlers.register_urls)
    app.router.add_post(r"/mpesa/c2b/v{version:[12]}/simulate", handlers.simulate)
