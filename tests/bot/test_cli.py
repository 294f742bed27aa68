"""The `mpesa-bot` command line, run in-process as an operator would type it."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from bot.cli import COMMANDS_HELP
from bot.cli import build_parser
from bot.cli import main
from tests.helpers.ports import free_port
from tests.helpers.processes import simulator_process
from tests.models.test_migrations import committed_migrations

SIM_KEYS = {"MPESA_CONSUMER_KEY": "simulator-key", "MPESA_CONSUMER_SECRET": "simulator-secret"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: settings only from what each test sets, data in a temp folder."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("DATABASE_URL", "ADMIN_TELEGRAM_IDS", "PUBLIC_BASE_URL", "MPESA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    return caught.value.code


@pytest.mark.parametrize("command", sorted(COMMANDS_HELP))
def test_every_command_has_help(command, capsys):
    assert cli(command, "--help") == 0
    assert "usage: mpesa-bot" in capsys.readouterr().out


def test_bad_settings_stop_every_command_with_one_message(env, capsys):
    env.setenv("WEB_PORT", "eighty")

    assert cli("migrate") == 2
    assert "WEB_PORT:" in capsys.readouterr().err


def test_commands_refuse_an_unmigrated_database(env, capsys):
    assert cli("staff", "list") == 1
    assert "run `mpesa-bot migrate` first" in capsys.readouterr().err


def test_migrate_then_manage_staff(env, capsys):
    env.setenv("ADMIN_TELEGRAM_IDS", "7")
    assert cli("migrate") == 0
    assert cli("migrate") == 0
    assert cli("staff", "add", "42", "cashier", "Jane", "Wanjiru") == 0
    assert cli("staff", "list") == 0
    assert cli("staff", "remove", "42") == 0
    assert cli("staff", "remove", "42") == 1

    out, err = capsys.readouterr()
    names = ", ".join(f"models.{name}" for name in committed_migrations())
    assert f"applied {len(committed_migrations())} migration(s): {names}" in out
    assert "the database is up to date" in out
    assert "42 is now an active cashier" in out
    assert "Jane Wanjiru" in out
    assert "2 active staff member(s)" in out
    assert "42 is no longer staff" in out
    assert "No active staff member has the Telegram id 42." in err


def test_export_writes_csv_with_a_header(env, tmp_path, capsys):
    assert cli("migrate") == 0
    out_file = tmp_path / "november.csv"

    assert cli("export", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(out_file)) == 0

    rows = list(csv.reader(out_file.open()))
    assert rows[0][:3] == ["kind", "id", "time_nairobi"]
    assert "exported 0 rows" in capsys.readouterr().err


def test_export_refuses_a_backwards_range(env, capsys):
    assert cli("migrate") == 0
    assert cli("export", "--from", "2026-11-30", "--to", "2026-11-01") == 1
    assert "--to is before --from" in capsys.readouterr().err


def test_export_refuses_a_bad_date(env, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--from", "30/11/2026", "--to", "2026-11-30"])
    assert "is not a date like 2026-11-20" in capsys.readouterr().err


def test_check_reports_each_part_and_fails_without_credentials(env, capsys):
    assert cli("migrate") == 0
    capsys.readouterr()

    assert cli("check") == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("PASS  settings")
    assert lines[1].startswith("FAIL  daraja")
    assert "MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET, MPESA_PASSKEY not set" in lines[1]
    assert lines[2].startswith("PASS  airtel") and "off (AIRTEL_ENABLED=false)" in lines[2]
    assert lines[3] == "FAIL  telegram   TELEGRAM_BOT_TOKEN is not set"
    assert lines[4].startswith("PASS  database")
    assert lines[5].startswith("PASS  sms")
    assert lines[-1] == "2 check(s) failed"


@pytest.fixture
def airtel_process():
    """`mpesa-bot simulator --provider airtel` in a child process; yields its base URL."""
    # a wrong secret is what one test sends on purpose: the simulator may warn about it
    with simulator_process("--provider", "airtel", warnings_fail=False) as base:
        yield base


@pytest.mark.parametrize(
    ("secret", "verdict", "says"),
    [
        ("simulator-client-secret", "PASS", "token received from"),
        ("not-the-secret", "FAIL", "Airtel refused the client id/secret"),
    ],
)
def test_check_tests_the_airtel_credentials(env, airtel_process, capsys, secret, verdict, says):
    env.setenv("AIRTEL_ENABLED", "true")
    env.setenv("AIRTEL_BASE_URL", airtel_process)
    env.setenv("AIRTEL_CLIENT_ID", "simulator-client-id")
    env.setenv("AIRTEL_CLIENT_SECRET", secret)
    env.setenv("PUBLIC_BASE_URL", "https://pay.householdplanet.co.ke")
    env.setenv("CALLBACK_SECRET", "operators-secret-0123")
    assert cli("migrate") == 0
    capsys.readouterr()

    cli("check")

    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.split()[1:2] == ["airtel"]]
    assert line.startswith(verdict) and says in line
    if verdict == "PASS":
        assert "AIRTEL_DISBURSEMENT_PIN is not set: Airtel payouts are refused" in line
        assert "https://pay.householdplanet.co.ke/hooks/<CALLBACK_SECRET>/airtel/collection" in line
    assert "operators-secret-0123" not in out


@pytest.fixture
def mpesa_process():
    """`mpesa-bot simulator` in a child process; yields its base URL."""
    with simulator_process("--callback-delay", "0") as base:
        yield base


def test_c2b_register_against_the_simulator(env, mpesa_process, capsys):
    env.setenv("MPESA_BASE_URL", mpesa_process)
    env.setenv("MPESA_SHORTCODE", "174379")
    env.setenv("PUBLIC_BASE_URL", "https://pay.householdplanet.co.ke")
    env.setenv("CALLBACK_SECRET", "operators-secret-0123")
    for name, value in SIM_KEYS.items():
        env.setenv(name, value)

    assert cli("c2b-register") == 0

    out = capsys.readouterr().out
    assert "https://pay.householdplanet.co.ke/hooks/<CALLBACK_SECRET>/c2b/validate" in out
    assert "operators-secret-0123" not in out
    assert "registered: Success (code 0)" in out


def test_c2b_register_reports_a_refusal(env, mpesa_process, capsys):
    env.setenv("MPESA_BASE_URL", mpesa_process)
    env.setenv("PUBLIC_BASE_URL", "https://pay.householdplanet.co.ke")
    env.setenv("MPESA_CONSUMER_KEY", "wrong")
    env.setenv("MPESA_CONSUMER_SECRET", "wrong")

    assert cli("c2b-register") == 1
    assert "Daraja refused the registration" in capsys.readouterr().err


def test_cli_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "mpesa-bot" in done.stdout


def test_reconcile_settles_a_payment_whose_callback_never_came(shell_db, env, capsys):
    import bot.main
    from bot.config import load_settings
    from models import Payment
    from models import PaymentStatus

    env.setenv("STK_QUERY_AFTER_S", "0")

    async def request() -> int:
        runtime = await bot.main.build_runtime(load_settings())
        try:
            payment = await runtime.services.payments.request_payment(
                "0708374149", "150", initiator=None, actor="cli"
            )
            return payment.id
        finally:
            await runtime.daraja.aclose()

    payment_id = shell_db(request)
    capsys.readouterr()

    assert cli("reconcile") == 0

    out, err = capsys.readouterr()
    assert "pass 1: 1 payment(s), 0 payout(s) and 0 reversal(s) settled" in err
    assert "payments settled: 1" in out
    assert shell_db(lambda: Payment.get(id=payment_id)).status == PaymentStatus.PAID


def test_staff_limit_from_the_shell(env, capsys):
    assert cli("migrate") == 0
    assert cli("staff", "add", "42", "admin", "Jane") == 0
    capsys.readouterr()

    assert cli("staff", "limit", "42", "25,000") == 0
    assert cli("staff", "limit", "42", "0") == 0
    assert cli("staff", "limit", "42", "DEFAULT") == 0

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "42 may send payouts up to KES 25,000 a day (own limit)",
        "42 may send payouts up to KES 0 a day (own limit)",
        "42 may send payouts up to KES 100,000 a day (default limit)",
    ]
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ("42", "1.5"),
            "error: 1.5 is not a whole number of shillings; M-Pesa moves whole shillings only. "
            "Give whole shillings (e.g. 50000), 0 for no payouts, or default for KES 100,000.",
        ),
        (
            ("42", "lots"),
            "error: lots is not an amount; enter whole shillings, e.g. 1500. Give whole "
            "shillings (e.g. 50000), 0 for no payouts, or default for KES 100,000.",
        ),
        (
            ("42", "-5"),
            "error: -5 is not a valid amount; enter a positive amount of at least KES 1.",
        ),
        (
            ("42", "100000001"),
            "error: KES 100,000,001 is over the largest daily payout limit, KES 100,000,000.",
        ),
        (("99", "5000"), "error: No active staff member has the Telegram id 99."),
        (("43", "5000"), "error: No active staff member has the Telegram id 43."),  # removed
    ],
)
def test_staff_limit_refuses_each_bad_input_with_its_reason(env, capsys, argv, says):
    assert cli("migrate") == 0
    assert cli("staff", "add", "42", "admin", "Jane") == 0
    assert cli("staff", "add", "43", "cashier", "Brian") == 0
    assert cli("staff", "remove", "43") == 0
    capsys.readouterr()

    assert cli("staff", "limit", *argv) == 1

    out, err = capsys.readouterr()
    assert err.startswith(says)
    assert out == ""
    assert cli("staff", "list") == 0
    assert "daily payout limit KES 100,000" in capsys.readouterr().out  # nothing changed


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("staff", "limit", "jane", "5000"), "invalid int value: 'jane'"),
        (("staff", "limit", "42"), "the following arguments are required: amount"),
        (("resolve",), "the following arguments are required: ref"),
        (("resolve", "#1", "--wait", "soon"), "invalid float value: 'soon'"),
        (("resolve", "#1", "paid", "extra"), "unrecognized arguments: extra"),
    ],
)
def test_malformed_command_lines_say_what_is_wrong(env, capsys, argv, says):
    assert cli(*argv) == 2
    assert says in capsys.readouterr().err


def test_resolve_an_unknown_push_from_the_shell(shell_db, capsys, monkeypatch):
    from models import Payment
    from models import PaymentStatus

    payment_id = shell_db(_unknown_push).id
    capsys.readouterr()

    assert cli("resolve", f"#{payment_id}") == 0
    out, _ = capsys.readouterr()
    assert "M-Pesa never gave this request an id, so it cannot be asked." in out
    assert f"decide with: mpesa-bot resolve #{payment_id} paid|failed" in out

    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert cli("resolve", f"#{payment_id}", "failed") == 1
    assert shell_db(lambda: Payment.get(id=payment_id)).status is PaymentStatus.UNKNOWN

    monkeypatch.setattr("builtins.input", lambda question: "yes")
    assert cli("resolve", f"#{payment_id}", "failed") == 0
    out, _ = capsys.readouterr()
    assert f"#{payment_id} is now failed" in out
    resolved = shell_db(lambda: Payment.get(id=payment_id))
    assert (resolved.status, resolved.resolved_by) == (PaymentStatus.FAILED, "cli")


@pytest.fixture
def shell_db(env, mpesa_process, monkeypatch):
    """The CLI against the simulator, Telegram in-process, callbacks to nowhere, the database
    migrated; returns a runner: ``shell_db(work)`` is ``await work()`` with the database open."""
    import asyncio
    import functools

    import bot.main
    from bot.config import load_settings
    from bot.telegram.transport import InProcessBotApi
    from models.db import close_db
    from models.db import init_db

    env.setenv("MPESA_BASE_URL", mpesa_process)
    env.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{free_port()}")  # callbacks get nowhere
    env.setenv("TELEGRAM_BOT_TOKEN", "7000000001:TEST")
    monkeypatch.setattr(
        bot.main,
        "build_runtime",
        functools.partial(bot.main.build_runtime, telegram_request=InProcessBotApi()),
    )
    assert cli("migrate") == 0

    def in_db(work):
        async def run():
            await init_db(load_settings().resolved_database_url)
            try:
                return await work()
            finally:
                await close_db()

        return asyncio.run(run())

    return in_db


def _unknown_push():
    from models import Payment
    from models import PaymentStatus
    from models import PostState

    return Payment.create(
        msisdn="254708374149",
        amount=150,
        account_reference="HP",
        status=PaymentStatus.UNKNOWN,
        post_state=PostState.UNKNOWN,
        in_flight_msisdn="254708374149",
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ("twelve",),
            "error: twelve is not a reference to resolve: give a payment (#12), a payout (P12) "
            "or a reversal (R12).",
        ),
        (
            ("X12", "paid"),
            "error: X12 is not a reference to resolve: give a payment (#12), a payout (P12) or "
            "a reversal (R12).",
        ),
        (("#{id}", "maybe"), "error: For #{id} say paid or failed."),
        (("P{id}", "paid"), "error: For P{id} say sent or failed."),
        (("R{id}", "sent"), "error: For R{id} say reversed or failed."),
        (("#999999",), "error: There is no payment #999999."),
        (("#{paid}", "paid"), "error: Payment #{paid} is paid: there is nothing to resolve."),
    ],
)
def test_resolve_refuses_each_bad_input_with_its_reason(shell_db, capsys, argv, says):
    from models import Payment
    from models import PaymentStatus

    async def records():
        parked = await _unknown_push()
        paid = await Payment.create(
            msisdn="254708374150",
            amount=150,
            account_reference="HP",
            status=PaymentStatus.PAID,
            receipt="UKK4Q7M2XB",
        )
        return parked.id, paid.id

    parked_id, paid_id = shell_db(records)
    capsys.readouterr()
    filled = [a.format(id=parked_id, paid=paid_id) for a in argv]

    assert cli("resolve", *filled) == 1

    err = capsys.readouterr().err
    assert err.startswith(says.format(id=parked_id, paid=paid_id))
    stored = shell_db(lambda: Payment.get(id=parked_id))
    assert (stored.status, stored.resolved_by) == (PaymentStatus.UNKNOWN, None)


def test_resolve_with_yes_records_the_verdict_without_asking(shell_db, capsys, monkeypatch):
    from models import AuditEvent
    from models import Payment
    from models import PaymentStatus

    payment_id = shell_db(lambda: _unknown_push()).id
    monkeypatch.setattr("builtins.input", _never_asked)
    capsys.readouterr()

    assert cli("resolve", f"#{payment_id}", "FAILED", "--yes") == 0

    out, _ = capsys.readouterr()
    assert f"#{payment_id}: recorded as unknown" in out
    assert out.rstrip().endswith(f"#{payment_id} is now failed")
    stored = shell_db(lambda: Payment.get(id=payment_id))
    assert (stored.status, stored.resolved_by) == (PaymentStatus.FAILED, "cli")
    decided = shell_db(lambda: AuditEvent.filter(action="payment.resolved").count())
    assert decided == 1


def test_resolve_without_an_answer_to_the_question_changes_nothing(shell_db, capsys, monkeypatch):
    from models import Payment
    from models import PaymentStatus

    payment_id = shell_db(lambda: _unknown_push()).id

    def closed_input(question: str) -> str:
        raise EOFError  # run from a script with no terminal

    monkeypatch.setattr("builtins.input", closed_input)
    capsys.readouterr()

    assert cli("resolve", f"#{payment_id}", "paid") == 1

    assert "nothing was changed" in capsys.readouterr().out
    assert shell_db(lambda: Payment.get(id=payment_id)).status is PaymentStatus.UNKNOWN


def _never_asked(question: str) -> str:
    raise AssertionError(f"--yes must not ask: {question}")
