"""Business services: no Telegram, no aiohttp. Handlers and routes call these."""
