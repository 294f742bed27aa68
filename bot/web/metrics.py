"""/metrics in the Prometheus text format, written by hand (no client library)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items())
    return "{" + inner + "}"


class Exposition:
    """Builds one Prometheus text exposition: each metric's HELP, TYPE and samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def metric(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], int | float]],
    ) -> None:
        """Add one metric (kind: counter or gauge) with its labelled samples."""
        self._lines.append(f"# HELP {name} {_escape(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {value}")

    def render(self) -> str:
        """The exposition text, ending with a newline."""
        return "\n".join(self._lines) + "\n"


def render_metrics(
    *,
    callbacks: Mapping[tuple[str, str], int],
    notification_failures: Mapping[str, int],
    status_counts: Mapping[str, Mapping[str, int]],
) -> str:
    """The whole /metrics page: in-process counters and database gauges."""
    page = Exposition()
    page.metric(
        "paybot_callbacks_total",
        "counter",
        "Daraja callbacks received by this process, by kind and outcome.",
        (({"kind": k, "outcome": o}, n) for (k, o), n in sorted(callbacks.items())),
    )
    page.metric(
        "paybot_notification_failures_total",
        "counter",
        "Failed notification delivery attempts in this process, by channel.",
        (({"channel": c}, n) for c, n in sorted(notification_failures.items())),
    )
    for table, help_text in (
        ("payments", "STK payments in the database, by status."),
        ("payouts", "B2C payouts in the database, by status."),
        ("notifications", "Outbox notifications in the database, by status."),
    ):
        counts = status_counts.get(table, {})
        page.metric(
            f"paybot_{table}",
            "gauge",
            help_text,
            (({"status": s}, n) for s, n in sorted(counts.items())),
        )
    return page.render()
