"""Daraja's asynchronous callbacks parsed into typed, frozen models, tolerant as daraja.md §12 asks.

One module per kind (``stk``, ``b2c``, ``status``, ``balance``, ``reversal``, ``c2b``); the models
and every Daraja field name they read live in ``mpesa/models/callbacks.py``. Every parser accepts
bytes, str or an already-decoded mapping and raises ``CallbackParseError`` naming what is missing.
"""

from mpesa.callbacks.b2c import parse_b2c_result
from mpesa.callbacks.b2c import parse_b2c_timeout
from mpesa.callbacks.balance import parse_account_balance_result
from mpesa.callbacks.balance import parse_balance_string
from mpesa.callbacks.c2b import C2B_INVALID_ACCOUNT
from mpesa.callbacks.c2b import C2B_INVALID_AMOUNT
from mpesa.callbacks.c2b import C2B_INVALID_KYC
from mpesa.callbacks.c2b import C2B_INVALID_MSISDN
from mpesa.callbacks.c2b import C2B_INVALID_SHORTCODE
from mpesa.callbacks.c2b import C2B_OTHER_ERROR
from mpesa.callbacks.c2b import C2B_REJECT_CODES
from mpesa.callbacks.c2b import c2b_accept
from mpesa.callbacks.c2b import c2b_reject
from mpesa.callbacks.c2b import parse_c2b
from mpesa.callbacks.reversal import parse_reversal_result
from mpesa.callbacks.status import parse_transaction_status_result
from mpesa.callbacks.stk import parse_stk_callback
from mpesa.models.callbacks import ACK
from mpesa.models.callbacks import C2B_CONFIRMATION_ACK
from mpesa.models.callbacks import AccountBalanceResult
from mpesa.models.callbacks import B2CResult
from mpesa.models.callbacks import BalanceAccount
from mpesa.models.callbacks import C2BPayment
from mpesa.models.callbacks import QueueTimeout
from mpesa.models.callbacks import ReversalResult
from mpesa.models.callbacks import StkCallback
from mpesa.models.callbacks import TransactionStatusResult

__all__ = [
    "ACK",
    "C2B_CONFIRMATION_ACK",
    "C2B_INVALID_ACCOUNT",
    "C2B_INVALID_AMOUNT",
    "C2B_INVALID_KYC",
    "C2B_INVALID_MSISDN",
    "C2B_INVALID_SHORTCODE",
    "C2B_OTHER_ERROR",
    "C2B_REJECT_CODES",
    "AccountBalanceResult",
    "B2CResult",
    "BalanceAccount",
    "C2BPayment",
    "QueueTimeout",
    "ReversalResult",
    "StkCallback",
    "TransactionStatusResult",
    "c2b_accept",
    "c2b_reject",
    "parse_account_balance_result",
    "parse_b2c_result",
    "parse_b2c_timeout",
    "parse_balance_string",
    "parse_c2b",
    "parse_reversal_result",
    "parse_stk_callback",
    "parse_transaction_status_result",
]
