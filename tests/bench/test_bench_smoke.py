"""The benchmark harness still runs: the token bench, quick, counts exactly one OAuth request."""

from __future__ import annotations

from bench.__main__ import table
from bench.auth import measure as measure_auth
from bench.common import Figure
from bench.common import percentile
from bench.oauth import count_oauth_requests


async def test_a_thousand_concurrent_token_calls_make_one_oauth_request() -> None:
    requests, distinct_tokens, _ = await count_oauth_requests(1_000)

    assert (requests, distinct_tokens) == (1, 1)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert (percentile(values, 50), percentile(values, 99), percentile([], 99)) == (50.0, 99.0, 0.0)


def test_summary_table_shows_each_verdict() -> None:
    figures = [Figure("a", "1/s", ">= 2/s", False), Figure("b", "3/s", ">= 2/s", True)]

    rows = table(figures).splitlines()

    assert [row.split("|")[-1].strip() for row in rows[2:]] == ["FAIL", "PASS"]


async def test_the_auth_timing_bench_sees_both_failure_paths_refused() -> None:
    medians = await measure_auth(rounds=5)

    assert set(medians) == {"valid", "wrong_secret", "unknown_prefix"}
    assert all(ms > 0 for ms in medians.values())
