"""The simulator's public test credentials and default timings (no imports: the CLI reads them)."""

SANDBOX_SHORTCODE = "174379"
SECOND_SHORTCODE = "247247"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
CONSUMER_KEY = "simulator-key"
CONSUMER_SECRET = "simulator-secret"  # noqa: S105 - a public test value
INITIATOR_NAME = "testapi"
# published on the portal's test-credentials page for the sandbox initiator (daraja.md §5)
SANDBOX_INITIATOR_PASSWORD = "Safaricom999!*!"  # noqa: S105 - a public sandbox value
# Daraja's own tolerance of a skewed Timestamp is unconfirmed (daraja.md §6.1): a setting
TIMESTAMP_SKEW_S = 600.0
# "the same amount to the same customer twice within ~2 minutes" (daraja.md §6.4)
RULE_LIMITED_WINDOW_S = 120.0
EXAMPLE_B2C_SHORTCODE = "600996"
