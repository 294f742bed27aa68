"""The aiohttp server: Daraja callbacks under a secret path, health and metrics."""
