"""Notifications: the Notifier that queues them, the outbox worker and the channels."""
