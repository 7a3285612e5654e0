"""The benchmarks' per-second request curve: from the sampled counters to the seconds, and how it is drawn."""

from __future__ import annotations

from typing import Any

from bench.curve import curves_markdown, sparkline
from bench.measure import RateSampler


def sampler(samples: list[tuple[float, int]], refused: list[int]) -> RateSampler:
    made = RateSampler(sandbox=None)  # type: ignore[arg-type]  # never asked: the samples are given
    made.samples, made.refused = samples, refused
    return made


def test_each_second_counts_the_requests_between_its_ends_and_the_seconds_add_up() -> None:
    # Counters read every 0.5 s: 10 requests a second for 3 s from t=1 (nothing before), 2 refused in the second
    times = [0.5 * k for k in range(10)]
    totals = [0, 0, 5, 10, 15, 20, 25, 30, 30, 30]
    refused = [0, 0, 0, 0, 1, 2, 2, 2, 2, 2]

    per_second = sampler(list(zip(times, totals, strict=True)), refused).per_second()

    assert per_second["requests"] == [10, 10, 10]
    assert sum(per_second["requests"]) == 30
    assert per_second["rate_limited_503"] == [0, 2, 0]


def test_no_request_no_curve() -> None:
    assert sampler([(0.0, 0), (0.2, 0)], [0, 0]).per_second() == {"requests": [], "rate_limited_503": []}


def test_the_sparkline_is_full_at_orcids_limit_and_blank_at_zero() -> None:
    assert sparkline([0, 3, 12, 21, 24, 40], 24) == " ▁▄▇██"


def test_only_scenarios_under_injected_latency_are_drawn() -> None:
    def scenario(title: str, latency: float | None) -> dict[str, Any]:
        return {
            "title": title,
            "conditions": {"orcid_latency_ms": latency} if latency else {},
            "per_second": {"requests": [30, 24, 24, 10], "rate_limited_503": [0, 0, 1, 0]},
        }

    results = {"sandbox_rate_limit": {"rate": 24, "burst": 40}, "scenarios": [scenario("A", None), scenario("B", 250)]}

    text = "\n".join(curves_markdown(results))

    assert "**B**: 88 requests in 4 s, 1 x 503" in text
    assert "**A**" not in text
    assert "| 0 | 30 | 24 | 24 (1 x 503) | 10 |" in text
