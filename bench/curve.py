"""The per-second ORCID request curve of a scenario, as text: a sparkline and a table (BENCHMARKS.md, the terminal).

``results.json`` keeps each scenario's ``per_second`` counts (see ``bench.measure.RateSampler.per_second``);
only the scenarios run under injected ORCID latency are drawn, since they are the ones whose pace the
shared rate limit, not moto, decides.
"""

from __future__ import annotations

from itertools import batched
from typing import Any

BARS = "▁▂▃▄▅▆▇█"
ROW_SECONDS = 15


def sparkline(values: list[int], top: float) -> str:
    """One character per value: a blank for 0, ``▁`` up to ``█`` at ``top`` or above, a step per ``top / 7``."""
    steps = len(BARS) - 1
    return "".join(" " if v <= 0 else BARS[min(steps, int(v / top * steps + 1e-9))] for v in values)


def drawn(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenarios with a per-second curve worth drawing: those run under injected ORCID latency."""
    return [
        s
        for s in results.get("scenarios", [])
        if s.get("conditions", {}).get("orcid_latency_ms") and s.get("per_second", {}).get("requests")
    ]


def curve_markdown(scenario: dict[str, Any], *, limit: float) -> list[str]:
    """A scenario's requests per second: a sparkline (a full bar at ORCID's ``limit`` or more), then the counts."""
    per_second = scenario["per_second"]
    requests: list[int] = per_second["requests"]
    refused: list[int] = per_second.get("rate_limited_503") or [0] * len(requests)
    inner = list(requests[1:-1]) or requests  # the first and last seconds are partial
    lines = [
        f"**{scenario['title']}**: {sum(requests):,} requests in {len(requests)} s, {sum(refused)} x 503; per "
        f"second between the first and the last: {min(inner)} to {max(inner)}, mean {sum(inner) / len(inner):.1f} "
        f"(█ = {limit:g} or more, ORCID's limit; a step down per {limit / 7:.1f})",
        "",
        "```",
        sparkline(requests, limit),
        "```",
        "",
        "| s | " + " | ".join(f"+{k}" for k in range(ROW_SECONDS)) + " |",
        "|---" * (ROW_SECONDS + 1) + "|",
    ]
    for row, chunk in enumerate(batched(zip(requests, refused, strict=True), ROW_SECONDS, strict=False)):
        cells = [f"{count}" + (f" ({rejected} x 503)" if rejected else "") for count, rejected in chunk]
        cells += [""] * (ROW_SECONDS - len(cells))
        lines.append(f"| {row * ROW_SECONDS} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def curves_markdown(results: dict[str, Any]) -> list[str]:
    """The request curves of every drawn scenario, under a heading line; nothing if there are none."""
    scenarios = drawn(results)
    if not scenarios:
        return []
    limit = float(results.get("sandbox_rate_limit", {}).get("rate", 24))
    parts = ["ORCID requests per second under injected latency (the sandbox's counters, read every 0.2 s):", ""]
    for scenario in scenarios:
        parts += curve_markdown(scenario, limit=limit)
    return parts


def curves_text(results: dict[str, Any]) -> list[str]:
    """The sparklines alone, for the terminal."""
    limit = float(results.get("sandbox_rate_limit", {}).get("rate", 24))
    return [
        f"{s['title']}: {sparkline(s['per_second']['requests'], limit)}"
        f" ({sum(s['per_second'].get('rate_limited_503', []))} x 503)"
        for s in drawn(results)
    ]
