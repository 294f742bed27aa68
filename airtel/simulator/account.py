"""KYC user enquiry, the wallet balance and the RSA encryption key, as the simulator serves them."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from airtel.phone import is_airtel_number
from airtel.security import public_key_base64
from airtel.simulator import validation as v
from airtel.simulator.keys import KEY_ID
from airtel.simulator.scenarios import BARRED_MSISDN
from airtel.simulator.scenarios import CUSTOMER_FIRST_NAME
from airtel.simulator.scenarios import CUSTOMER_LAST_NAME
from airtel.simulator.scenarios import PLACEHOLDER_NAME_MSISDN
from airtel.simulator.scenarios import UNREGISTERED_MSISDN
from airtel.simulator.state import SimulatorState

KEY_VALIDITY = timedelta(days=365)


def _status(response_code: str) -> dict[str, object]:
    return {
        "response_code": response_code,
        "code": "200",
        "success": True,
        "result_code": "ESB000010",
        "message": "SUCCESS",
    }


class AccountHandlers:
    """Answers KYC, balance and encryption-key requests like Airtel."""

    def __init__(self, state: SimulatorState) -> None:
        self._state = state

    async def user(self, request: web.Request) -> web.Response:
        """GET /standard/v1/users/{msisdn}: who holds this Airtel Money account."""
        msisdn = request.match_info["msisdn"]
        if not msisdn.isdigit() or len(msisdn) != 9:
            raise v.refused(v.KYC, v.MSISDN_LENGTH, result_code="ESB000033")
        if msisdn == UNREGISTERED_MSISDN or not is_airtel_number(msisdn):
            raise v.refused(
                v.KYC,
                "User Not Found",
                response_code="DP02200000002",
                result_code="ESB000011",
                code="404",
            )
        placeholder = msisdn == PLACEHOLDER_NAME_MSISDN
        data = {
            "first_name": "FN" if placeholder else CUSTOMER_FIRST_NAME,
            "last_name": "LN" if placeholder else CUSTOMER_LAST_NAME,
            "msisdn": msisdn,
            "grade": "MCOM",
            "is_barred": msisdn == BARRED_MSISDN,
            "is_pin_set": True,
            "registration": {"status": "MCOM"},
        }
        return web.json_response({"data": data, "status": _status("DP02200000001")})

    async def balance(self, _: web.Request) -> web.Response:
        """GET /standard/v1/users/balance: the collection wallet (v1's wallet is undocumented)."""
        data = {
            "balance": f"{self._state.collection_balance}.00",
            "currency": self._state.config.currency,
            "account_status": "Active",
        }
        return web.json_response({"data": data, "status": _status("DP02100000001")})

    async def encryption_keys(self, _: web.Request) -> web.Response:
        """GET /v1/rsa/encryption-keys: the simulator's public key as Base64 DER."""
        state = self._state
        valid_upto = state.now() + KEY_VALIDITY
        data = {
            "key_id": int(KEY_ID),
            "key": public_key_base64(state.private_key.public_key()),
            "valid_upto": f"{valid_upto:%d-%m-%Y %H:%M:%S}",
        }
        status = _status("DP02010001001") | {"message": "Success"}
        return web.json_response({"data": data, "status": status})


def register(app: web.Application, state: SimulatorState) -> None:
    """Add the account routes (balance before the {msisdn} route that would shadow it)."""
    handlers = AccountHandlers(state)
    app.router.add_get("/standard/v1/users/balance", handlers.balance)
    app.router.add_get("/standard/v1/users/{msisdn}", handlers.user)
    app.router.add_get("/v1/rsa/encryption-keys", handlers.encryption_keys)
