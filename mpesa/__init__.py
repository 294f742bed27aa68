"""Safaricom Daraja (M-Pesa) as a standalone async library: client, callbacks, rules, simulator.

Nothing here imports from ``bot`` or ``models``; no telegram, no tortoise.
"""
