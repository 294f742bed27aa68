"""Raw-HTTP access to a simulator under test: request bodies, Daraja's paths and error shapes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from mpesa.security import NAIROBI
from mpesa.security import stk_password
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator.credentials import default_keys
from tests.helpers.receiver import CallbackReceiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "daraja"
START = datetime(2026, 11, 20, 14, 30, 5, 812_000, tzinfo=NAIROBI)
TS = "20261120143005"
SUCCESS = "The service request is processed successfully."
RECEIPT = re.compile(r"^[A-Z0-9]{10}$")


def encrypt(password: str, certificate_pem: bytes) -> str:
    """A SecurityCredential made by hand (not by mpesa.security): RSA PKCS#1 v1.5, base64."""
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    return base64.b64encode(key.encrypt(password.encode(), padding.PKCS1v15())).decode()


# the sandbox password encrypted with the simulator's (per-process) certificate
SECURITY_CREDENTIAL = encrypt(SANDBOX_INITIATOR_PASSWORD, default_keys().certificate_pem)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def params(result: dict[str, Any]) -> dict[str, Any]:
    """ResultParameters as {Key: Value} (None when an item has no Value)."""
    items = result["Result"]["ResultParameters"]["ResultParameter"]
    items = items if isinstance(items, list) else [items]
    return {item["Key"]: item.get("Value") for item in items}


@dataclass
class Sim:
    """A running simulator, an httpx client on it and a token."""

    http: httpx.AsyncClient
    app: Any
    token: str = ""
    receiver: CallbackReceiver = field(default_factory=CallbackReceiver)
    warnings_read: bool = False  # else the fixture fails a test that left warnings behind

    async def post(self, path: str, body: Any, *, token: str | None = None) -> httpx.Response:
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(path, json=body, headers=headers)

    async def state(self) -> dict[str, Any]:
        return (await self.http.get("/simulator/state")).json()

    async def warnings(self) -> list[tuple[str, str, str]]:
        """The warnings as (path, field, message); a test that reads them is allowed some."""
        self.warnings_read = True
        return [(w["path"], w["field"], w["message"]) for w in (await self.state())["warnings"]]

    async def drain(self) -> dict[str, Any]:
        return (await self.http.post("/simulator/drain")).json()

    async def faults(self, **changes: Any) -> httpx.Response:
        return await self.http.post("/simulator/faults", json=changes)

    def stk(self, phone: str = "254708374149", *, ts: str = TS, **overrides: Any) -> dict[str, Any]:
        shortcode = overrides.pop("BusinessShortCode", "174379")
        body = {
            "BusinessShortCode": shortcode,
            "Password": stk_password(shortcode, SANDBOX_PASSKEY, ts),
            "Timestamp": ts,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 150,
            "PartyA": phone,
            "PartyB": shortcode,
            "PhoneNumber": phone,
            "CallBackURL": self.receiver.url("/stk"),
            "AccountReference": "HP-ORD-1042",
            "TransactionDesc": "Order 1042",
        }
        return apply(body, overrides)

    def stk_query(self, checkout_request_id: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "BusinessShortCode": "174379",
            "Password": stk_password("174379", SANDBOX_PASSKEY, TS),
            "Timestamp": TS,
            "CheckoutRequestID": checkout_request_id,
        }
        return apply(body, overrides)

    def b2c(self, originator_id: str, phone: str = "254708374149", **overrides: Any) -> dict:
        body = {
            "OriginatorConversationID": originator_id,
            "InitiatorName": "testapi",
            "SecurityCredential": SECURITY_CREDENTIAL,
            "CommandID": "BusinessPayment",
            "Amount": 500,
            "PartyA": "600996",
            "PartyB": phone,
            "Remarks": "Refund order 1042",
            "QueueTimeOutURL": self.receiver.url("/b2c/timeout"),
            "ResultURL": self.receiver.url("/b2c/result"),
            "Occassion": "Refund",
        }
        return apply(body, overrides)

    def status(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "Initiator": "testapi",
            "SecurityCredential": SECURITY_CREDENTIAL,
            "CommandID": "TransactionStatusQuery",
            "PartyA": "600996",
            "IdentifierType": "4",
            "ResultURL": self.receiver.url("/status/result"),
            "QueueTimeOutURL": self.receiver.url("/status/timeout"),
            "Remarks": "Reconcile payout",
            "Occasion": "Reconcile",
        }
        return apply(body, overrides)

    def balance(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "Initiator": "testapi",
            "SecurityCredential": SECURITY_CREDENTIAL,
            "CommandID": "AccountBalance",
            "PartyA": "600996",
            "IdentifierType": "4",
            "Remarks": "Daily balance",
            "QueueTimeOutURL": self.receiver.url("/balance/timeout"),
            "ResultURL": self.receiver.url("/balance/result"),
        }
        return apply(body, overrides)

    def reversal(self, receipt: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "Initiator": "testapi",
            "SecurityCredential": SECURITY_CREDENTIAL,
            "CommandID": "TransactionReversal",
            "TransactionID": receipt,
            "Amount": 150,
            "ReceiverParty": "174379",
            "RecieverIdentifierType": "11",
            "ResultURL": self.receiver.url("/reversal/result"),
            "QueueTimeOutURL": self.receiver.url("/reversal/timeout"),
            "Remarks": "Paid wrong account",
            "Occasion": "Order 1043",
        }
        return apply(body, overrides)

    async def paid_stk(self, phone: str = "254708374149") -> dict[str, Any]:
        """Push to a paying phone and return its success callback."""
        response = await self.post("/mpesa/stkpush/v1/processrequest", self.stk(phone))
        assert response.status_code == 200
        return await self.receiver.next("/stk")


DROP = object()


def apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Override fields; a value of DROP removes the field."""
    for key, value in overrides.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def receipt_of(callback: dict[str, Any]) -> str:
    items = callback["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    return next(item["Value"] for item in items if item["Name"] == "MpesaReceiptNumber")


STK_PUSH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY = "/mpesa/stkpushquery/v1/query"
B2C = "/mpesa/b2c/v3/paymentrequest"
STATUS = "/mpesa/transactionstatus/v1/query"
BALANCE = "/mpesa/accountbalance/v1/query"
REVERSAL = "/mpesa/reversal/v1/request"


MakeSim = Callable[..., Awaitable[Sim]]


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["errorCode"], body["errorMessage"]
