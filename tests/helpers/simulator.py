"""The Daraja simulator served on loopback for tests, with its certificate and its warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from mpesa.security import load_certificate
from mpesa.security import security_credential
from mpesa.simulator import SANDBOX_INITIATOR_PASSWORD
from mpesa.simulator import SIM_STATE
from mpesa.simulator import SimulatorConfig
from mpesa.simulator import create_simulator


@dataclass
class RunningSimulator:
    """A simulator on 127.0.0.1: its base URL, app, and the certificate it served over HTTP."""

    url: str
    app: web.Application
    server: TestServer
    certificate: bytes  # as downloaded from GET /simulator/certificate

    def credential(self, password: str = SANDBOX_INITIATOR_PASSWORD) -> str:
        """A SecurityCredential for ``password``, made by the project's own code (security.py)."""
        return security_credential(password, self.certificate)

    def warnings(self) -> list[dict[str, Any]]:
        """Every warning the simulator recorded about requests it was sent."""
        state = self.app[SIM_STATE].snapshot()
        return state["warnings"]  # type: ignore[return-value]

    def write_certificate(self, path: Any) -> Any:
        """Save the certificate where MPESA_CERT_PATH can point, checking it loads."""
        path.write_bytes(self.certificate)
        load_certificate(path)
        return path

    async def close(self) -> None:
        """Stop serving."""
        await self.server.close()


async def serve_on_loopback(app: web.Application, download: str) -> tuple[TestServer, str, bytes]:
    """Serve ``app`` on 127.0.0.1 and download ``download`` from it like a user would:
    (server, base URL, the bytes downloaded)."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}{download}")
        answer.raise_for_status()
    return server, url, answer.content


async def start_simulator(config: SimulatorConfig | None = None) -> RunningSimulator:
    """Serve a (strict, by default) simulator and download its certificate like a user would."""
    app = create_simulator(config or SimulatorConfig())
    server, url, certificate = await serve_on_loopback(app, "/simulator/certificate")
    return RunningSimulator(url=url, app=app, server=server, certificate=certificate)


def describe_warnings(warnings: list[dict[str, Any]]) -> str:
    """One line per simulator warning, for an assertion message."""
    return "\n".join(f"{w['path']} {w['field']}: {w['message']}" for w in warnings)
