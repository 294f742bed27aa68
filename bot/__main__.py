"""`python -m bot` is the `mpesa-bot` command."""

from bot.cli import main

main()
