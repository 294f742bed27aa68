"""Daraja's bodies as typed models: the only home of Daraja's field names.

``requests`` holds what we send, ``responses`` Daraja's synchronous answers, ``callbacks`` what
Daraja posts to our URLs (and what we answer), ``values`` the lenient types callbacks need,
``base`` the lookup of Daraja's name of a field that answers and callbacks share.
"""

from mpesa.models.callbacks import AccountBalanceResult
from mpesa.models.callbacks import B2CResult
from mpesa.models.callbacks import BalanceAccount
from mpesa.models.callbacks import C2BPayment
from mpesa.models.callbacks import QueueTimeout
from mpesa.models.callbacks import ReversalResult
from mpesa.models.callbacks import StkCallback
from mpesa.models.callbacks import TransactionStatusResult
from mpesa.models.requests import AccountBalanceRequest
from mpesa.models.requests import B2CRequest
from mpesa.models.requests import C2BRegisterRequest
from mpesa.models.requests import C2BSimulateRequest
from mpesa.models.requests import CallbackUrls
from mpesa.models.requests import DarajaRequest
from mpesa.models.requests import InitiatorRequest
from mpesa.models.requests import ReversalRequest
from mpesa.models.requests import StkPushRequest
from mpesa.models.requests import StkQueryRequest
from mpesa.models.requests import TransactionStatusRequest
from mpesa.models.responses import AsyncAccepted
from mpesa.models.responses import C2BRegisterResponse
from mpesa.models.responses import DarajaResponse
from mpesa.models.responses import ErrorBody
from mpesa.models.responses import GatewayFault
from mpesa.models.responses import OAuthToken
from mpesa.models.responses import StkPushResponse
from mpesa.models.responses import StkQueryResponse

__all__ = [
    "AccountBalanceRequest",
    "AccountBalanceResult",
    "AsyncAccepted",
    "B2CRequest",
    "B2CResult",
    "BalanceAccount",
    "C2BPayment",
    "C2BRegisterRequest",
    "C2BRegisterResponse",
    "C2BSimulateRequest",
    "CallbackUrls",
    "DarajaRequest",
    "DarajaResponse",
    "ErrorBody",
    "GatewayFault",
    "InitiatorRequest",
    "OAuthToken",
    "QueueTimeout",
    "ReversalRequest",
    "ReversalResult",
    "StkCallback",
    "StkPushRequest",
    "StkPushResponse",
    "StkQueryRequest",
    "StkQueryResponse",
    "TransactionStatusRequest",
    "TransactionStatusResult",
]
