"""The Telegram face of the product: thin handlers over the services."""
