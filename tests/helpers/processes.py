"""`mpesa-bot simulator` in a child process, for tests of the command line."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from tests.helpers.ports import free_port


@contextlib.contextmanager
def simulator_process(*options: str, banner: str = "", warnings_fail: bool = True) -> Iterator[str]:
    """`mpesa-bot simulator OPTIONS --port P` in a child process; yields its base URL once it
    listens (its first line said ``banner`` and the address), and, with ``warnings_fail``, fails
    the test afterwards if the simulator warned about a request."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bot", "simulator", *options, "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        # the first line is printed once the app is about to serve
        first = proc.stdout.readline().decode()
        assert banner in first and f"127.0.0.1:{port}" in first, first
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        yield base
        if warnings_fail:
            with urllib.request.urlopen(f"{base}/simulator/state") as answer:  # noqa: S310
                warnings = json.load(answer)["warnings"]
            assert warnings == [], f"the simulator warned: {warnings}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
