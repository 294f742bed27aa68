"""The `mpesa-bot` command line: run the service, and the operator's tools around it."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import TextIO

from airtel.simulator import cli as airtel_simulator_cli
from bot.config import Settings
from bot.config import SettingsError
from bot.config import load_settings
from mpesa.simulator import cli as simulator_cli

SIMULATOR_PORTS = {"mpesa": 8765, "airtel": airtel_simulator_cli.DEFAULT_PORT}
# options both simulators understand; every other one belongs to one provider only
_SHARED_SIMULATOR_OPTIONS = frozenset(
    {"help", "host", "port", "callback_delay", "level", "provider", "simulator_parser"}
)

COMMANDS_HELP = {
    "run": "run the bot, the web server and the jobs in one process",
    "demo": "play a scripted day offline: simulator, real bot, printed chat transcript",
    "migrate": "apply database migrations",
    "simulator": "run the local Daraja simulator (--provider airtel: the Airtel Money one)",
    "staff": "add, list or remove staff members",
    "c2b-register": "register the C2B validation and confirmation URLs with Daraja",
    "reconcile": "run reconciliation passes until nothing is due and print what they settled",
    "resolve": "settle a payment (#12), payout (P12) or reversal (R12) M-Pesa left unclear",
    "export": "export payments, payouts and C2B payments as CSV",
    "check": "check settings, Daraja OAuth, Telegram getMe and the database before going live",
    "apikey": "create, revoke or list REST API keys",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="mpesa-bot",
        description="M-Pesa payments from a Telegram chat. Settings come from the environment "
        "and .env (see .env.example).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {
        name: sub.add_parser(name, help=COMMANDS_HELP[name], description=COMMANDS_HELP[name] + ".")
        for name in ("run", "demo", "migrate", "c2b-register", "check")
    }
    parsers["demo"].add_argument(
        "--keep",
        action="store_true",
        help="after the day, keep the service, simulators and dashboard up until Ctrl-C",
    )

    simulator = sub.add_parser(
        "simulator", help=COMMANDS_HELP["simulator"], description=simulator_cli.DESCRIPTION
    )
    # the same options as `python -m mpesa.simulator`, from one list
    simulator_cli.add_arguments(simulator)
    simulator.add_argument(
        "--provider",
        choices=SIMULATOR_PORTS,
        default="mpesa",
        help="which simulator to serve: mpesa (Daraja, the default) or airtel (Airtel Money, "
        "the options of `python -m airtel.simulator`)",
    )
    # the port's default depends on the provider, so both simulators can run side by side
    simulator.set_defaults(port=None, simulator_parser=simulator)
    airtel_simulator_cli.add_airtel_arguments(
        simulator.add_argument_group("Airtel Money simulator (with --provider airtel)")
    )
    simulator.epilog = (
        f"{simulator.epilog}\n\nAirtel Money simulator (--provider airtel) "
        f"{airtel_simulator_cli.CREDENTIALS}"
    )

    staff = sub.add_parser("staff", help=COMMANDS_HELP["staff"], description="Manage staff.")
    staff_sub = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = staff_sub.add_parser("add", help="add or re-activate a staff member")
    add.add_argument("telegram_id", type=int, help="the person's Telegram user id")
    add.add_argument("role", choices=["admin", "cashier"], help="what they may do")
    add.add_argument("name", nargs="*", help="their name, as shown in the chat")
    staff_sub.add_parser("list", help="list active staff members")
    remove = staff_sub.add_parser("remove", help="deactivate a staff member")
    remove.add_argument("telegram_id", type=int, help="the person's Telegram user id")
    limit = staff_sub.add_parser("limit", help="set a staff member's daily payout limit")
    limit.add_argument("telegram_id", type=int, help="the person's Telegram user id")
    limit.add_argument("amount", help="whole shillings a Nairobi day, or default")

    sub.add_parser(
        "reconcile", help=COMMANDS_HELP["reconcile"], description=COMMANDS_HELP["reconcile"] + "."
    )

    resolve = sub.add_parser(
        "resolve",
        help=COMMANDS_HELP["resolve"],
        description="Ask M-Pesa afresh about a parked payment, payout or reversal, print its "
        "answer, then (with a verdict) record the decision after you confirm it. A payout's or "
        "reversal's answer comes by callback to the running service; this waits for it.",
    )
    resolve.add_argument("ref", help="#12 (payment), P12 (payout) or R12 (reversal)")
    resolve.add_argument(
        "verdict",
        nargs="?",
        help="payment: paid|failed; payout: sent|failed; reversal: reversed|failed",
    )
    resolve.add_argument("--yes", action="store_true", help="do not ask before recording it")
    resolve.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for a status answer (60)"
    )

    export = sub.add_parser(
        "export", help=COMMANDS_HELP["export"], description="Export records as CSV (Nairobi days)."
    )
    export.add_argument("--from", dest="start", type=_day, required=True, help="YYYY-MM-DD")
    export.add_argument("--to", dest="end", type=_day, required=True, help="YYYY-MM-DD, included")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")

    apikey = sub.add_parser("apikey", help=COMMANDS_HELP["apikey"], description="API keys.")
    key_sub = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("name", help="who the key is for, e.g. webshop")
    revoke = key_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("name", help="the key's name")
    key_sub.add_parser("list", help="list keys")
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-20") from None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `mpesa-bot` console script."""
    # start-up allocates a great deal and frees almost nothing, so the cyclic collector would
    # only walk it again and again (about 0.2 s of CPU): `run` holds it off until it listens
    # (bot.main.serve turns it back on), every other command turns it on before it starts
    gc.disable()
    try:
        _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    if args.command != "run":
        gc.enable()
    if args.command == "simulator":
        _simulator(args)
        return
    if args.command == "demo":
        from bot.demo import run_demo

        raise SystemExit(asyncio.run(run_demo(keep=args.keep)))
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    handler = _HANDLERS[args.command]
    try:
        code = handler(settings, args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code or 0)


class CliError(Exception):
    """A command failed in a way the operator can fix; str() says how."""


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import StartupError
    from bot.main import run
    from models.db import DatabaseNotMigrated

    try:
        run(settings)
    except (StartupError, DatabaseNotMigrated) as exc:
        raise CliError(str(exc)) from None
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from models.db import migrate

    applied = asyncio.run(migrate(settings.resolved_database_url))
    print(
        f"applied {len(applied)} migration(s): {', '.join(applied)}"
        if applied
        else "the database is up to date"
    )
    return 0


def _simulator(args: argparse.Namespace) -> None:
    parser: argparse.ArgumentParser = args.simulator_parser
    if args.port is None:
        args.port = SIMULATOR_PORTS[args.provider]
    airtel_only = set(airtel_simulator_cli.AIRTEL_ONLY)
    for action in parser._actions:
        dest = action.dest
        if dest in _SHARED_SIMULATOR_OPTIONS or getattr(args, dest) == action.default:
            continue
        belongs = "airtel" if dest in airtel_only else "mpesa"
        if belongs != args.provider:
            parser.error(f"{action.option_strings[0]} is an option of --provider {belongs}")
    if args.provider == "airtel":
        airtel_simulator_cli.serve(args)
    else:
        simulator_cli.serve(args)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[None]:
    from models.db import DatabaseNotMigrated
    from models.db import close_db
    from models.db import init_db

    try:
        await init_db(settings.resolved_database_url)
    except DatabaseNotMigrated as exc:
        raise CliError(str(exc)) from None
    try:
        yield
    finally:
        await close_db()


def _async(func: Callable[[Settings, argparse.Namespace], Awaitable[int]]) -> Callable[..., int]:
    def runner(settings: Settings, args: argparse.Namespace) -> int:
        return asyncio.run(func(settings, args))

    return runner


@_async
async def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.errors import ServiceError
    from bot.services.staff import StaffService

    service = StaffService(
        bootstrap_admin_ids=settings.admin_telegram_ids,
        default_daily_payout_limit=settings.staff_daily_payout_limit,
    )
    async with _database(settings):
        try:
            if args.action == "add":
                member = await service.add_as_operator(
                    args.telegram_id, args.role, " ".join(args.name)
                )
                print(f"{member.telegram_id} is now an active {member.role.value}")
            elif args.action == "remove":
                member = await service.remove_as_operator(args.telegram_id)
                print(f"{member.telegram_id} is no longer staff")
            elif args.action == "limit":
                member = await service.set_limit_as_operator(args.telegram_id, args.amount)
                whose = "default" if service.limit_is_default(member) else "own"
                print(
                    f"{member.telegram_id} may send payouts up to KES "
                    f"{service.daily_payout_limit(member):,} a day ({whose} limit)"
                )
            else:
                members = await service.active_members()
                for member in members:
                    limit = service.daily_payout_limit(member)
                    print(
                        f"{member.telegram_id:>12}  {member.role.value:<8} "
                        f"{member.name or '-':<24} daily payout limit KES {limit:,}"
                    )
                print(f"{len(members)} active staff member(s)")
        except ServiceError as exc:
            raise CliError(str(exc)) from None
    return 0


@_async
async def _c2b_register(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import StartupError
    from bot.main import daraja_credentials
    from bot.main import resolve_public_base_url
    from bot.services.container import daraja_config
    from mpesa.client import DarajaClient
    from mpesa.errors import DarajaError

    try:
        settings = resolve_public_base_url(settings)
        key, secret, passkey = daraja_credentials(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    config = daraja_config(settings, consumer_key=key, consumer_secret=secret, passkey=passkey)
    print(f"shortcode:        {config.shortcode}")
    print(f"validation URL:   {_hide(config.callbacks.c2b_validation, settings)}")
    print(f"confirmation URL: {_hide(config.callbacks.c2b_confirmation, settings)}")
    async with DarajaClient(config) as daraja:
        try:
            answer = await daraja.c2b_register_urls()
        except DarajaError as exc:
            raise CliError(f"Daraja refused the registration: {exc}") from None
    print(f"registered: {answer.response_description} (code {answer.response_code})")
    return 0


def _hide(url: str, settings: Settings) -> str:
    return url.replace(settings.resolved_callback_secret(), "<CALLBACK_SECRET>")


@_async
async def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import StartupError
    from bot.main import build_runtime
    from bot.services.reconcile import ReconcileReport

    try:
        runtime = await build_runtime(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None

    def progress(number: int, report: ReconcileReport) -> None:
        print(
            f"  pass {number}: {report.payments_settled} payment(s), "
            f"{report.payouts_settled} payout(s) and {report.reversals_settled} reversal(s) "
            f"settled, {report.waiting} still waiting, {report.notifications_delivered} "
            "message(s) delivered",
            file=sys.stderr,
        )

    async with _database(runtime.settings), runtime.ptb.bot, runtime.daraja:
        await runtime.services.staff.bootstrap_admins()
        print("reconciling: STK payments, payouts, reversals, unmatched callbacks, outbox…")
        run = await runtime.services.reconciler.run_until_done(
            patience_s=runtime.settings.daraja_call_max_s, on_pass=progress
        )
    if run.still_due:
        print(f"  {run.still_due} record(s) are still held by another process", file=sys.stderr)
    for name, value in run.totals.items():
        print(f"  {name.replace('_', ' ')}: {value}")
    for error in run.errors:
        print(f"  error: {error}")
    return 1 if run.errors else 0


@_async
async def _resolve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.main import StartupError
    from bot.main import build_runtime
    from bot.services.errors import ServiceError
    from bot.services.resolutions import checked_verdict
    from bot.services.resolutions import parse_reference

    try:
        # a reference or verdict that cannot be right is refused before anything is asked
        parse_reference(args.ref)
        if args.verdict is not None:
            checked_verdict(args.ref, args.verdict)
    except ServiceError as exc:
        raise CliError(str(exc)) from None
    try:
        runtime = await build_runtime(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    resolutions = runtime.services.resolutions
    async with _database(runtime.settings), runtime.ptb.bot, runtime.daraja:
        try:
            look = await resolutions.look(args.ref)
            if look.waiting:
                print("asked M-Pesa; waiting for its answer (it reaches the running service)…")
                look = await resolutions.wait_for_answer(look, timeout_s=args.wait)
            print(f"{look.ref}: recorded as {look.record.status}")
            print(f"  {look.answer}")
            for candidate in look.candidates:
                cb = candidate.callback
                print(
                    f"  fits: KES {cb.amount or 0:,} from {cb.phone or '?'}, receipt "
                    f"{cb.receipt or '-'}"
                )
            if not look.parked:
                print("  settled by M-Pesa's answer: nothing to decide")
                return 0
            if look.waiting:
                raise CliError(
                    "no answer from M-Pesa yet: is `mpesa-bot run` receiving callbacks? "
                    "Try again in a minute."
                )
            if not look.decidable:
                raise CliError("M-Pesa could not be asked; nothing was decided. Try again shortly.")
            if args.verdict is None:
                print(f"  decide with: mpesa-bot resolve {look.ref} {'|'.join(look.verdicts)}")
                return 0
            if not args.yes and not _confirm(f"Record {look.ref} as {args.verdict}?"):
                print("nothing was changed")
                return 1
            record = await resolutions.decide(args.ref, args.verdict)
        except ServiceError as exc:
            raise CliError(str(exc)) from None
    print(f"{look.ref} is now {record.status}")
    return 0


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


@_async
async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.reports import ReportService
    from mpesa.security import NAIROBI

    if args.end < args.start:
        raise CliError("--to is before --from")
    start = datetime.combine(args.start, time.min, tzinfo=NAIROBI)
    end = datetime.combine(args.end + timedelta(days=1), time.min, tzinfo=NAIROBI)
    reports = ReportService(extra_prefixes=settings.mpesa_extra_prefixes)

    def progress(done: int, *_: Any) -> None:
        print(f"\rexported {done:,} rows…", end="", file=sys.stderr, flush=True)

    async with _database(settings):
        out: TextIO
        if args.out is None:
            rows = await reports.export_csv(start, end, sys.stdout, progress=progress)
        else:
            with args.out.open("w", newline="", encoding="utf-8") as out:
                rows = await reports.export_csv(start, end, out, progress=progress)
    where = args.out or "standard output"
    print(f"\rexported {rows:,} rows to {where}", file=sys.stderr)
    return 0


@_async
async def _check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.checks import run_checks

    results = await run_checks(settings)
    for result in results:
        print(f"{'PASS' if result.ok else 'FAIL'}  {result.name:<10} {result.detail}")
    failed = [result for result in results if not result.ok]
    print("ready to go live" if not failed else f"{len(failed)} check(s) failed")
    return 1 if failed else 0


@_async
async def _apikey(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.api_keys import ApiKeyService
    from bot.services.errors import ServiceError

    service = ApiKeyService()
    async with _database(settings):
        try:
            if args.action == "create":
                key, plaintext = await service.create(args.name)
                print(f"API key for {key.name} (shown once, store it now):")
                print(plaintext)
            elif args.action == "revoke":
                key = await service.revoke(args.name)
                print(f"revoked the API key {key.name}")
            else:
                keys = await service.list_keys()
                for key in keys:
                    state = "active" if key.active else "revoked"
                    created = f"{key.created_at:%Y-%m-%d}"
                    print(f"{key.name:<24} {key.prefix:<12} {state:<8} created {created}")
                print(f"{len(keys)} key(s)")
        except ServiceError as exc:
            raise CliError(str(exc)) from None
    return 0


_HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": _run,
    "migrate": _migrate,
    "staff": _staff,
    "c2b-register": _c2b_register,
    "reconcile": _reconcile,
    "resolve": _resolve,
    "export": _export,
    "check": _check,
    "apikey": _apikey,
}
