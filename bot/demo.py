"""`mpesa-bot demo`: a scripted day at Household Planet, offline, with the real service.

It starts the Daraja and Airtel Money simulators on loopback, then the real `run` (web server,
callback routes, jobs, bot Application in polling mode) on a fresh SQLite database in a temporary
folder, with Telegram replaced by an in-process Bot API that prints the chat transcript. People
are played by feeding updates through getUpdates, exactly as Telegram would. At the end the
database is checked: the exit code is 0 only if every expected outcome happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from typing import TextIO

import httpx
from aiohttp import web

from airtel.simulator import DISBURSEMENT_PIN
from airtel.simulator import SimulatorConfig as AirtelSimulatorConfig
from airtel.simulator import create_simulator as create_airtel_simulator
from bot.callback_paths import airtel_callback_url
from bot.config import Settings
from bot.main import AIRTEL_SIMULATOR_ID
from bot.main import AIRTEL_SIMULATOR_SECRET
from bot.main import Runtime
from bot.main import configure_logging
from bot.main import serve
from bot.notify.emails import EmailComposer
from bot.notify.emails import mask_email
from bot.services.dashboard import login_url
from bot.telegram.transport import ApiCall
from bot.telegram.transport import InProcessBotApi
from bot.telegram.transport import callback_query
from bot.telegram.transport import contact_message
from bot.telegram.transport import text_message
from models import Notification
from models import NotificationChannel
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Provider
from models import Staff
from models.db import migrate
from mpesa.phone import mask_msisdn
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SANDBOX_PASSKEY
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator

ADMIN, ADMIN2, CASHIER, CUSTOMER, SWAHILI = 1001, 1002, 2002, 3003, 3004
NAMES = {
    ADMIN: "Amina",
    ADMIN2: "Otieno",
    CASHIER: "Brian",
    CUSTOMER: "Wanjiku",
    SWAHILI: "Achieng",
}
PEOPLE = {
    ADMIN: "Amina (admin)",
    ADMIN2: "Otieno (admin)",
    CASHIER: "Brian (cashier)",
    CUSTOMER: "Wanjiku (customer)",
    SWAHILI: "Achieng (customer, Telegram in Kiswahili)",
}
# the customer without Telegram who pays on the web page, and the address she gives
WEB_CUSTOMER = "Njeri (customer, phone browser)"
WEB_PHONE = "0729 876 543"
WEB_EMAIL = "njeri@example.co.ke"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
STATUS_SECTION = re.compile(r'<section class="status[^"]*"[^>]*>(.*?)</section>', re.DOTALL)
# words of the chat's English texts: none may reach the customer who reads Kiswahili
ENGLISH_WORDS = ("Payment", "received", "thank you", "Amount", "phone number", "Share", "Paid")
STEP_TIMEOUT_S = 30.0
QUIET_METHODS = {
    "getMe",
    "getUpdates",
    "setMyCommands",
    "deleteWebhook",
    "answerCallbackQuery",
    "getWebhookInfo",
}


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain(html: str) -> str:
    """Telegram HTML as the reader sees it."""
    parser = _PlainText()
    parser.feed(html)
    return "".join(parser.parts)


@dataclass
class Transcript:
    """Prints who said what, and every edit of a bot message."""

    out: TextIO
    lines: int = 0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
        self.lines += 1

    def person(self, user_id: int, what: str) -> None:
        self.say(f"\n👤 {PEOPLE[user_id]}: {what}")

    def scene(self, title: str) -> None:
        self.say(f"\n━━ {title} ━━")

    def on_call(self, call: ApiCall) -> None:
        """Listener of the in-process Bot API."""
        if call.method in QUIET_METHODS:
            if call.method == "answerCallbackQuery" and call.params.get("text"):
                self.say(f"   🤖 (pop-up) {call.params['text']}")
            return
        who = PEOPLE.get(int(call.params.get("chat_id", 0)), str(call.params.get("chat_id")))
        if call.method == "sendMessage":
            self.say(f"🤖 → {who}:\n{_indent(plain(str(call.params['text'])))}{_buttons(call)}")
        elif call.method == "editMessageText":
            message_id = call.params.get("message_id")
            text = _indent(plain(str(call.params["text"])))
            self.say(f"🤖 ✎ {who} (message {message_id} edited):\n{text}{_buttons(call)}")
        elif call.method == "sendDocument":
            document = call.params.get("document") or {}
            name = document.get("filename", "file") if isinstance(document, dict) else "file"
            caption = plain(str(call.params.get("caption", "")))
            self.say(f"🤖 → {who}: 📎 {name} — {caption}")
        elif call.method == "sendPhoto":
            caption = plain(str(call.params.get("caption", "")))
            self.say(f"🤖 → {who}: 🖼 QR code of the pay link\n{_indent(caption)}")
        elif call.method == "editMessageReplyMarkup":
            self.say(f"🤖 ✎ {who} (message {call.params.get('message_id')}: buttons removed)")
        else:
            self.say(f"🤖 {call.method} → {who}")


def _indent(text: str) -> str:
    return "\n".join(f"     {line}" for line in text.splitlines())


def _buttons(call: ApiCall) -> str:
    markup = call.params.get("reply_markup")
    if not isinstance(markup, dict):
        return ""
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    labels = [button.get("text", "") for row in rows for button in row]
    return "\n     " + "  ".join(f"[{label}]" for label in labels) if labels else ""


class DemoSms:
    """The SMS channel of the demo: shows the receipt in the transcript instead of sending it."""

    def __init__(self, transcript: Transcript) -> None:
        self._transcript = transcript

    async def deliver(self, notification: Notification) -> None:
        to = mask_msisdn(notification.recipient)
        self._transcript.say(f"📱 SMS to {to}: {notification.payload.get('text', '')}")


class DemoEmail:
    """The e-mail channel of the demo: renders each e-mail as the SMTP one would, shows it."""

    def __init__(self, transcript: Transcript, settings: Settings) -> None:
        self._transcript = transcript
        self._composer = EmailComposer(settings)

    async def deliver(self, notification: Notification) -> None:
        message = await self._composer.compose(notification)
        files = [
            f"📎 {part.get_filename()} ({len(part.get_content()):,} bytes)"
            for part in message.iter_attachments()
        ]
        to = mask_email(notification.recipient)
        attached = f"  {'  '.join(files)}" if files else ""
        self._transcript.say(f"✉️ E-mail to {to}: {message['Subject']}{attached}")


@dataclass
class Demo:
    """The running world: the fake Telegram, the transcript, and the checks collected."""

    api: InProcessBotApi
    transcript: Transcript
    runtime: Runtime | None = None
    failures: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def type(self, user_id: int, text: str, *, language: str | None = None) -> None:
        self.transcript.person(user_id, text)
        message = text_message(user_id, NAMES[user_id], text)
        if language:  # the language of the person's Telegram app
            message["from"]["language_code"] = language
        self.api.push_update({"message": message})

    def share_contact(
        self, user_id: int, phone_number: str, *, language: str | None = None
    ) -> None:
        self.transcript.person(user_id, f"📱 shares contact {phone_number}")
        message = contact_message(user_id, NAMES[user_id], phone_number)
        if language:
            message["from"]["language_code"] = language
        self.api.push_update({"message": message})

    def press(self, user_id: int, chat_id: int, message_id: int, data: str, label: str) -> None:
        shown = self.api.message(chat_id, message_id)
        if shown is None:
            raise DemoFailed(f"message {message_id} in chat {chat_id} is not there to press")
        self.transcript.person(user_id, f"presses [{label}]")
        update = callback_query(user_id, NAMES[user_id], data, shown)
        self.api.push_update({"callback_query": update})

    async def until(self, what: str, condition: Callable[[], Awaitable[Any]]) -> Any:
        """Wait (polling the database) until ``condition`` is truthy; fail after a deadline."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            value = await condition()
            if value:
                self.passed.append(what)
                return value
            if time.monotonic() > deadline:
                raise DemoFailed(f"timed out waiting for: {what}")
            await asyncio.sleep(0.05)

    def shows(self, chat_id: int, message_id: int | None, *needles: str) -> bool:
        if message_id is None:
            return False
        shown = self.api.message(chat_id, message_id)
        return shown is not None and all(n in shown.get("text", "") for n in needles)

    def sent_with_button(self, chat_id: int, data: str) -> dict[str, Any] | None:
        """The newest message in ``chat_id`` carrying a button with callback ``data``."""
        for message in reversed(self.api.chat_messages(chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(button.get("callback_data") == data for row in rows for button in row):
                return message
        return None


class DemoFailed(Exception):
    """An expected outcome did not happen."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _start_simulator() -> tuple[web.AppRunner, str]:
    # the strict level: a request the real Daraja would refuse fails the demo
    app = create_simulator(SimulatorConfig(callback_delay_s=0.4, query_pending_s=2.0))
    return await _serve(app)


async def _start_airtel_simulator() -> tuple[web.AppRunner, str]:
    # strict too; its callback URL is set in its "portal" once our server's address is known
    app = create_airtel_simulator(AirtelSimulatorConfig(callback_delay_s=0.4))
    return await _serve(app)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def _download(url: str, path: Path) -> Path:
    """Save a simulator's file, as an operator saves Safaricom's certificate or Airtel's public
    key from the provider's portal."""
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
        answer.raise_for_status()
    await asyncio.to_thread(path.write_bytes, answer.content)
    return path


async def _set_airtel_callback(airtel_url: str, settings: Settings) -> None:
    """What an operator does once in Airtel's portal: point the app's callback URL at us."""
    url = airtel_callback_url(settings.public_base_url or "", settings.resolved_callback_secret())
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{airtel_url}/simulator/portal", json={"callback_url": url})
        answer.raise_for_status()


async def _simulator_state(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}/simulator/state")
        answer.raise_for_status()
    return answer.json()


async def _simulator_warnings(daraja_url: str) -> list[dict[str, Any]]:
    return (await _simulator_state(daraja_url))["warnings"]


def demo_settings(
    data_dir: Path,
    daraja_url: str,
    port: int,
    cert_path: Path,
    *,
    airtel_url: str | None = None,
    airtel_key_path: Path | None = None,
) -> Settings:
    """The embedded defaults of the demo: the seed business against the simulator."""
    # like tests/conftest.py's settings in shape, on purpose: each spells out its own world in
    # full (a running shop on the simulator here, fixed test values there), and neither moves
    # when the other changes
    return Settings(
        _env_file=None,
        telegram_bot_token="7000000001:DEMO-TOKEN",  # noqa: S106 - the fake Telegram's
        admin_telegram_ids=[ADMIN, ADMIN2],
        mpesa_base_url=daraja_url,
        mpesa_consumer_key="simulator-key",
        mpesa_consumer_secret="simulator-secret",  # noqa: S106 - the simulator's public one
        mpesa_passkey=SANDBOX_PASSKEY,
        mpesa_shortcode="247247",
        mpesa_b2c_shortcode="600996",
        mpesa_initiator_name="testapi",
        # encrypted at start-up with the simulator's certificate, which decrypts and checks it
        mpesa_initiator_password=SANDBOX_INITIATOR_PASSWORD,
        mpesa_cert_path=cert_path,
        mpesa_account_reference="HPlanet",
        mpesa_transaction_desc="Payment",
        public_base_url=f"http://127.0.0.1:{port}",
        web_host="127.0.0.1",
        web_port=port,
        data_dir=data_dir,
        business_name="Household Planet Kenya",
        payout_approval_threshold=10_000,
        reconcile_interval_s=1.0,
        stk_query_after_s=3.0,
        stk_query_every_s=2.0,
        b2c_query_after_s=5.0,
        # Airtel Money beside M-Pesa, on its own simulator (the app's public credentials)
        airtel_enabled=airtel_url is not None,
        airtel_base_url=airtel_url,
        airtel_client_id=AIRTEL_SIMULATOR_ID,
        airtel_client_secret=AIRTEL_SIMULATOR_SECRET,
        airtel_disbursement_pin=DISBURSEMENT_PIN,
        airtel_public_key_path=airtel_key_path,
        airtel_enquiry_after_s=3.0,
        airtel_enquiry_every_s=2.0,
        log_level="WARNING",
    )


async def _dashboard_link(demo: Demo) -> str:
    """A one-time dashboard sign-in link for the admin, as /dashboard answers in the chat."""
    assert demo.runtime is not None
    runtime = demo.runtime
    token = await runtime.services.dashboard.issue_link(ADMIN)
    return login_url(runtime.settings.public_base_url or "", token)


async def _keep_until_interrupted(demo: Demo) -> None:
    """--keep: the service stays up (dashboard included) until Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo.transcript.say("Kept running: press Ctrl-C to stop.")
    await stop.wait()


async def run_demo(out: TextIO | None = None, *, keep: bool = False) -> int:
    """Play the day; return 0 when every expected outcome is in the database, else 1."""
    out = out or sys.stdout
    configure_logging("WARNING")
    logging.getLogger("bot.notify.sms").setLevel(logging.ERROR)
    transcript = Transcript(out)
    api = InProcessBotApi(listener=transcript.on_call)
    demo = Demo(api, transcript)
    transcript.say("mpesa-bot demo: a day at Household Planet Kenya (paybill 247247), offline.")
    sim_runner, sim_url = await _start_simulator()
    airtel_runner, airtel_url = await _start_airtel_simulator()
    with tempfile.TemporaryDirectory(prefix="mpesa-bot-demo-") as tmp:
        cert_path = await _download(
            f"{sim_url}/simulator/certificate", Path(tmp) / "simulator-cert.pem"
        )
        key_path = await _download(
            f"{airtel_url}/simulator/public-key", Path(tmp) / "airtel-key.pem"
        )
        settings = demo_settings(
            Path(tmp),
            sim_url,
            _free_port(),
            cert_path,
            airtel_url=airtel_url,
            airtel_key_path=key_path,
        )
        await migrate(settings.resolved_database_url)
        await _set_airtel_callback(airtel_url, settings)
        transcript.say(f"Daraja simulator: {sim_url}   database: {tmp}/mpesa-bot.sqlite3")
        transcript.say(f"Airtel Money simulator: {airtel_url}")
        stop, ready = asyncio.Event(), asyncio.Event()

        def on_ready(runtime: Runtime, url: str) -> None:
            demo.runtime = runtime
            transcript.say(f"Callback server: {url}   Telegram: in-process (printed below)")
            ready.set()

        server = asyncio.create_task(
            serve(
                settings,
                stop=stop,
                telegram_request=api,
                sms_channel=DemoSms(transcript),
                email_channel=DemoEmail(transcript, settings),
                on_ready=on_ready,
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), timeout=STEP_TIMEOUT_S)
            await _play(demo)
            await _verify(demo)
            await _verify_requests(demo, sim_url)
            await _verify_airtel(demo, airtel_url)
            link = await _dashboard_link(demo)
            demo.passed.append("a dashboard sign-in link was made for Amina (admin)")
            transcript.say(f"Dashboard: sign in as Amina (admin), once, within 10 minutes: {link}")
            if keep:
                await _keep_until_interrupted(demo)
        except (DemoFailed, TimeoutError) as exc:
            demo.failures.append(str(exc) or "timed out")
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server, timeout=STEP_TIMEOUT_S)
            await sim_runner.cleanup()
            await airtel_runner.cleanup()
    transcript.say("")
    for check in demo.passed:
        transcript.say(f"  ✔ {check}")
    for failure in demo.failures:
        transcript.say(f"  ✘ {failure}")
    if demo.failures:
        transcript.say(f"demo FAILED: {len(demo.failures)} expected outcome(s) missing")
        return 1
    transcript.say(f"demo OK: {len(demo.passed)} outcomes checked (database and simulator)")
    return 0


async def _play(demo: Demo) -> None:
    await _staff_scene(demo)
    await _paid_request_scene(demo)
    await _cancel_then_retry_scene(demo)
    await _airtel_request_scene(demo)
    await _customer_order_scene(demo)
    await _web_page_scene(demo)
    await _kiswahili_customer_scene(demo)
    await _reconciliation_scene(demo)
    await _payout_scene(demo)
    await _airtel_payout_scene(demo)
    await _reports_scene(demo)


async def _staff_scene(demo: Demo) -> None:
    demo.transcript.scene("08:00 An admin adds a cashier")
    demo.type(ADMIN, "/staff add 2002 cashier Brian")
    await demo.until(
        "Brian is an active cashier",
        lambda: Staff.filter(telegram_id=CASHIER, active=True, role="cashier").exists(),
    )


async def _payment_for(msisdn: str, attempt: int = 1) -> Payment | None:
    return await Payment.filter(msisdn=msisdn, attempt=attempt).order_by("-id").first()


async def _paid_request_scene(demo: Demo) -> None:
    demo.transcript.scene("09:15 A cashier asks a customer at the till to pay")
    demo.type(CASHIER, "/request 0708374149 1500 Blender")

    async def paid_and_shown() -> bool:
        payment = await _payment_for("254708374149")
        return (
            payment is not None
            and payment.status == PaymentStatus.PAID
            and demo.shows(CASHIER, payment.message_id, "Paid", payment.receipt or "?")
        )

    await demo.until("KES 1,500 request paid and its status message edited to Paid", paid_and_shown)


async def _cancel_then_retry_scene(demo: Demo) -> None:
    demo.transcript.scene("10:40 The customer cancels the prompt, then pays on the retry")
    demo.type(CASHIER, "/request 0722100032 800 Kettle")

    async def cancelled() -> Payment | None:
        payment = await _payment_for("254722100032")
        if (
            payment is not None
            and payment.status == PaymentStatus.CANCELLED
            and demo.shows(CASHIER, payment.message_id, "Cancelled")
        ):
            return payment
        return None

    first = await demo.until("KES 800 request cancelled by the customer", cancelled)
    demo.press(CASHIER, CASHIER, first.message_id, f"pay:retry:{first.id}", "🔁 Retry")

    async def retried() -> bool:
        payment = await _payment_for("254722100032", attempt=2)
        return payment is not None and payment.status == PaymentStatus.PAID

    await demo.until("the retry (attempt 2) paid", retried)


async def _airtel_request_scene(demo: Demo) -> None:
    demo.transcript.scene("11:20 A customer pays with Airtel Money at the till")
    demo.type(CASHIER, "/request 0733123456 1200 Rice cooker")

    async def paid_and_shown() -> bool:
        payment = await _payment_for("254733123456")
        return (
            payment is not None
            and payment.provider == Provider.AIRTEL
            and payment.status == PaymentStatus.PAID
            and payment.receipt is not None  # Airtel's own id for the money (airtel_money_id)
            and demo.shows(CASHIER, payment.message_id, "Airtel Money request", payment.receipt)
        )

    await demo.until(
        "KES 1,200 Airtel Money request paid by Airtel's callback and shown as Paid",
        paid_and_shown,
    )


async def _customer_order_scene(demo: Demo) -> None:
    demo.transcript.scene("12:05 A customer pays an order from a deep link")
    demo.type(ADMIN, "/order 2500 Microwave 20L")
    order = await demo.until(
        "order created", lambda: Order.filter(description__icontains="Microwave").first()
    )
    demo.type(CUSTOMER, f"/start {order.code}")
    await demo.until(
        "the customer is asked for their phone",
        lambda: _has_reply_keyboard(demo, CUSTOMER),
    )
    demo.share_contact(CUSTOMER, "+254712345678")

    async def order_paid() -> bool:
        fresh = await Order.get(id=order.id)
        told = any(
            order.code in m.get("text", "") and "paid" in m.get("text", "").lower()
            for m in demo.api.chat_messages(ADMIN)
        )
        return fresh.status == OrderStatus.PAID and told

    await demo.until("the order is paid and the admin who created it is told", order_paid)


async def _web_page_scene(demo: Demo) -> None:
    demo.transcript.scene("12:40 A customer without Telegram pays on the web page")
    demo.type(ADMIN, "/order 1800 Pressure cooker")
    order = await demo.until(
        "the order is answered with its pay link and a QR code",
        lambda: _order_with_qr(demo, "Pressure cooker"),
    )
    assert demo.runtime is not None
    url = f"{demo.runtime.settings.public_base_url}/pay/{order.code}"
    demo.transcript.say(f"\n🌐 {WEB_CUSTOMER} opens {url}")
    headers = {"Accept-Language": "en-KE,en;q=0.8"}
    async with httpx.AsyncClient(headers=headers, timeout=STEP_TIMEOUT_S) as http:
        page = await http.get(url)
        token = CSRF_FIELD.search(page.text)
        if page.status_code != 200 or token is None:
            raise DemoFailed(f"the payment page did not show its form ({page.status_code})")
        demo.transcript.say(
            f"🌐 {WEB_CUSTOMER} types {WEB_PHONE} and {WEB_EMAIL}, "
            "presses [Pay KES 1,800 with M-Pesa]"
        )
        form = {"csrf": token.group(1), "lang": "en", "phone": WEB_PHONE, "email": WEB_EMAIL}
        waiting = await http.post(url, data=form, follow_redirects=True)
        demo.transcript.say(f"🌐 page: {_page_status(waiting.text)}")

        async def paid() -> bool:
            answer = await http.get(f"{url}/status", headers={"Accept": "application/json"})
            return answer.json().get("state") == "paid"

        await demo.until("the web page follows the payment to paid by itself (polling)", paid)
        final = await http.get(url)
        demo.transcript.say(f"🌐 page: {_page_status(final.text)}")
        pdf = await http.get(f"{url}/receipt.pdf")
        if not pdf.content.startswith(b"%PDF-"):
            raise DemoFailed("the paid order's PDF receipt did not download")

    async def emailed() -> bool:
        sent = Notification.filter(
            channel=NotificationChannel.EMAIL, recipient=WEB_EMAIL, status="sent"
        )
        return await sent.exists()

    await demo.until("the receipt e-mail, its PDF attached, went to the address typed", emailed)


async def _order_with_qr(demo: Demo, description: str) -> Order | None:
    order = await Order.filter(description=description).first()
    if order is None:
        return None
    shown = any(
        call.method == "sendPhoto" and f"/pay/{order.code}" in str(call.params.get("caption"))
        for call in demo.api.calls
    )
    return order if shown else None


def _page_status(html: str) -> str:
    """What the page's status box says, as the customer reads it."""
    found = STATUS_SECTION.search(html)
    if found is None:
        return "(the form to pay)"
    # a space between elements: "M-Pesa receipt UL3..." rather than "M-Pesa receiptUL3..."
    return " ".join(plain(found.group(1).replace("<", " <")).split())


async def _kiswahili_customer_scene(demo: Demo) -> None:
    demo.transcript.scene("13:10 A customer whose Telegram is in Kiswahili pays in the chat")
    demo.type(ADMIN, "/order 950 Sufuria ya chuma")
    order = await demo.until(
        "order created", lambda: Order.filter(description="Sufuria ya chuma").first()
    )
    demo.type(SWAHILI, f"/start {order.code}", language="sw")
    await demo.until(
        "the Kiswahili customer is asked for their phone",
        lambda: _has_reply_keyboard(demo, SWAHILI),
    )
    demo.share_contact(SWAHILI, "+254723456789", language="sw")

    async def paid_in_kiswahili() -> bool:
        fresh = await Order.get(id=order.id)
        texts = [m.get("text", "") for m in demo.api.chat_messages(SWAHILI)]
        return fresh.status == OrderStatus.PAID and any(
            "Malipo yamepokelewa" in text for text in texts
        )

    await demo.until("the order is paid and the receipt comes in Kiswahili", paid_in_kiswahili)
    english = [
        word
        for message in demo.api.chat_messages(SWAHILI)
        for word in ENGLISH_WORDS
        if word.lower() in plain(message.get("text", "")).lower()
    ]
    if english:
        raise DemoFailed(f"the Kiswahili customer read English: {sorted(set(english))}")
    demo.passed.append("every message to the Kiswahili customer was in Kiswahili")


async def _has_reply_keyboard(demo: Demo, chat_id: int) -> bool:
    return any(
        call.method == "sendMessage"
        and call.params.get("chat_id") == chat_id
        and "keyboard" in (call.params.get("reply_markup") or {})
        for call in demo.api.calls
    )


async def _reconciliation_scene(demo: Demo) -> None:
    demo.transcript.scene("14:30 M-Pesa never calls back; reconciliation asks and settles it")
    demo.type(CASHIER, "/request 0722000000 300 Toaster")

    async def settled() -> bool:
        payment = await _payment_for("254722000000")
        return (
            payment is not None
            and payment.status == PaymentStatus.PAID
            and payment.receipt is None  # no callback: only a query can have said "paid"
            and demo.shows(CASHIER, payment.message_id, "Paid")
        )

    await demo.until("the silent payment was settled by an STK query", settled)


async def _payout_scene(demo: Demo) -> None:
    demo.transcript.scene("16:00 An admin refunds a supplier; a second admin approves")
    demo.type(ADMIN, "/send 0708374149 15000 Supplier refund")
    payout = await demo.until(
        "payout awaiting confirmation",
        lambda: Payout.filter(
            amount=15_000, status=PayoutStatus.AWAITING_CONFIRMATION, message_id__not_isnull=True
        ).first(),
    )
    demo.press(ADMIN, ADMIN, payout.message_id, f"payout:confirm:{payout.id}", "✅ Confirm")

    async def approval_card() -> dict[str, Any] | None:
        return demo.sent_with_button(ADMIN2, f"payout:approve:{payout.id}")

    card = await demo.until("the second admin is asked to approve", approval_card)
    demo.press(ADMIN2, ADMIN2, card["message_id"], f"payout:approve:{payout.id}", "✅ Approve")

    async def completed() -> bool:
        fresh = await Payout.get(id=payout.id)
        return (
            fresh.status == PayoutStatus.COMPLETED
            and fresh.approved_by_id is not None
            and demo.shows(ADMIN, fresh.message_id, fresh.receipt or "?")
        )

    await demo.until("KES 15,000 payout approved, sent and its receipt shown", completed)


async def _airtel_payout_scene(demo: Demo) -> None:
    demo.transcript.scene("16:30 An admin pays an Airtel Money customer back")
    demo.type(ADMIN, "/send 0733123456 2000 Refund for a broken jug")
    payout = await demo.until(
        "Airtel payout awaiting confirmation, its account holder named by Airtel's KYC",
        lambda: Payout.filter(
            provider=Provider.AIRTEL,
            status=PayoutStatus.AWAITING_CONFIRMATION,
            receiver_name__not_isnull=True,
            message_id__not_isnull=True,
        ).first(),
    )
    demo.press(ADMIN, ADMIN, payout.message_id, f"payout:confirm:{payout.id}", "✅ Confirm")

    async def completed() -> bool:
        fresh = await Payout.get(id=payout.id)
        return (
            fresh.status == PayoutStatus.COMPLETED
            and fresh.receipt is not None
            and demo.shows(ADMIN, fresh.message_id, fresh.receipt)
        )

    await demo.until("KES 2,000 Airtel Money payout sent once and its receipt shown", completed)


async def _reports_scene(demo: Demo) -> None:
    demo.transcript.scene("18:00 Closing: statistics and the day's export")
    demo.type(ADMIN, "/stats today")
    await demo.until(
        "statistics answered",
        lambda: _any_async(demo, ADMIN, "sendMessage", "Received"),
    )
    demo.type(ADMIN, "/export today")
    await demo.until("CSV export sent", lambda: _any_async(demo, ADMIN, "sendDocument", ""))


async def _any_async(demo: Demo, chat_id: int, method: str, needle: str) -> bool:
    return any(
        call.method == method
        and call.params.get("chat_id") == chat_id
        and needle in str(call.params.get("text", call.params.get("caption", "")))
        for call in demo.api.calls
    )


async def _verify(demo: Demo) -> None:
    """Final checks straight from the database."""
    paid = await Payment.filter(status=PaymentStatus.PAID, provider=Provider.MPESA).count()
    if paid != 6:
        raise DemoFailed(f"expected 6 paid STK payments, found {paid}")
    demo.passed.append("6 STK payments paid (one from the web page), 1 cancelled, in the database")
    airtel = await Payment.filter(status=PaymentStatus.PAID, provider=Provider.AIRTEL).count()
    sent = await Payout.filter(status=PayoutStatus.COMPLETED, provider=Provider.AIRTEL).count()
    if (airtel, sent) != (1, 1):
        raise DemoFailed(
            f"expected 1 Airtel payment paid and 1 payout sent, found {airtel}, {sent}"
        )
    demo.passed.append(
        "1 Airtel Money payment paid and 1 Airtel Money payout sent, in the database"
    )

    async def receipts_sent() -> bool:
        sent = Notification.filter(channel=NotificationChannel.SMS, status="sent")
        return await sent.count() == 9

    # the last receipt may still be on its way through the outbox
    await demo.until(
        "9 SMS receipts delivered through the outbox (7 payments, 2 payouts, both providers)",
        receipts_sent,
    )


async def _verify_requests(demo: Demo, daraja_url: str) -> None:
    """The strict simulator found nothing to warn about in any request the bot sent."""
    warnings = await _simulator_warnings(daraja_url)
    if warnings:
        listed = "; ".join(f"{w['path']} {w['field']}: {w['message']}" for w in warnings)
        raise DemoFailed(f"the simulator warned about {len(warnings)} request field(s): {listed}")
    demo.passed.append(
        "every request passed the strict simulator without a warning, "
        "the payout's SecurityCredential included"
    )


async def _verify_airtel(demo: Demo, airtel_url: str) -> None:
    """Airtel's simulator: no warning, one push and one disbursement POST, the KYC asked."""
    state = await _simulator_state(airtel_url)
    if state["warnings"]:
        listed = "; ".join(f"{w['path']} {w['field']}: {w['message']}" for w in state["warnings"])
        raise DemoFailed(f"the Airtel simulator warned about {len(state['warnings'])}: {listed}")
    posts = {
        path: sum(1 for c in state["calls"] if (c["method"], c["path"]) == ("POST", path))
        for path in ("/merchant/v1/payments/", "/standard/v1/disbursements/")
    }
    kyc = sum(1 for c in state["calls"] if c["path"] == "/standard/v1/users/733123456")
    if list(posts.values()) != [1, 1] or kyc < 1:
        raise DemoFailed(f"expected one push, one payout and a KYC lookup at Airtel: {posts}")
    demo.passed.append(
        "every Airtel request passed the strict Airtel simulator without a warning: one USSD "
        "push, one KYC lookup before the payout, one disbursement (its PIN decrypted and checked)"
    )
