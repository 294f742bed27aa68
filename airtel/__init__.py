"""Airtel Money (Airtel Africa Open API, Kenya) as a standalone async library: client, callbacks,
codes, phone numbers, cryptography, simulator.

Nothing here imports from ``bot``, ``models`` or ``mpesa``; no telegram, no tortoise.
"""
