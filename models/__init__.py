"""Database models (Tortoise ORM), status lifecycles, database set-up and migrations."""

from models.bulk import BulkUploadWait
from models.bulk import PayoutBatch
from models.bulk import PayoutBatchRow
from models.dashboard import DashboardLink
from models.dashboard import DashboardSession
from models.enums import BatchRowStatus
from models.enums import BatchStatus
from models.enums import CallbackKind
from models.enums import IllegalTransition
from models.enums import InboxStatus
from models.enums import NotificationChannel
from models.enums import NotificationStatus
from models.enums import OccurrenceStatus
from models.enums import OrderStatus
from models.enums import PaymentStatus
from models.enums import PayoutStatus
from models.enums import PostState
from models.enums import Provider
from models.enums import QueryKind
from models.enums import QueryStatus
from models.enums import ReversalStatus
from models.enums import ScheduleFrequency
from models.enums import ScheduleKind
from models.enums import ScheduleStatus
from models.enums import StaffRole
from models.schedules import Schedule
from models.schedules import ScheduleOccurrence
from models.tables import ApiKey
from models.tables import AuditEvent
from models.tables import C2BTransaction
from models.tables import CallbackInbox
from models.tables import Customer
from models.tables import DarajaQuery
from models.tables import IdempotencyRecord
from models.tables import Notification
from models.tables import Order
from models.tables import Payment
from models.tables import Payout
from models.tables import Reversal
from models.tables import Staff

__all__ = [
    "ApiKey",
    "AuditEvent",
    "BatchRowStatus",
    "BatchStatus",
    "BulkUploadWait",
    "C2BTransaction",
    "CallbackInbox",
    "CallbackKind",
    "Customer",
    "DarajaQuery",
    "DashboardLink",
    "DashboardSession",
    "IdempotencyRecord",
    "IllegalTransition",
    "InboxStatus",
    "Notification",
    "NotificationChannel",
    "NotificationStatus",
    "OccurrenceStatus",
    "Order",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Payout",
    "PayoutBatch",
    "PayoutBatchRow",
    "PayoutStatus",
    "PostState",
    "Provider",
    "QueryKind",
    "QueryStatus",
    "Reversal",
    "ReversalStatus",
    "Schedule",
    "ScheduleFrequency",
    "ScheduleKind",
    "ScheduleOccurrence",
    "ScheduleStatus",
    "Staff",
    "StaffRole",
]
