"""What a scenario measures: ORCID requests (from the sandbox), AWS calls (in this process), time and memory.

The local stack runs every function in this process, so the functions' boto3 clients are this
process's clients. :class:`AwsCallCounter` wraps ``BaseClient._make_api_call``, the one method every
boto3 client (and resource) call goes through, whatever session made the client: a call is counted
once, however many HTTP attempts botocore's retries make inside it, and a batch call (BatchWriteItem
of 25 items) is one call. The local glue only calls SQS, S3 and EventBridge, and the harness makes no
DynamoDB or KMS call inside a measured window, so the DynamoDB and KMS figures are the functions' own.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from botocore.client import BaseClient

SAMPLE_SECONDS = 0.2  # how often the rate sampler reads the sandbox's counters


class AwsCallCounter:
    """Counts boto3 API calls by (service, operation) for the whole process; install once, before the stack."""

    _installed: AwsCallCounter | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        # Seconds spent inside the calls (moto runs in this process: this is mostly moto's own work).
        self._seconds: dict[tuple[str, str], float] = {}

    @classmethod
    def install(cls) -> AwsCallCounter:
        """The process's counter (wrapping ``_make_api_call`` once, however often this is called)."""
        if cls._installed is not None:
            return cls._installed
        counter = cls()
        original = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore builds it per client class

        def counted(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                counter.add(client.meta.service_model.service_name, operation_name, time.perf_counter() - started)

        BaseClient._make_api_call = counted  # type: ignore[attr-defined]
        cls._installed = counter
        return counter

    def add(self, service: str, operation: str, seconds: float = 0.0) -> None:
        with self._lock:
            self._counts[(service, operation)] += 1
            self._seconds[(service, operation)] = self._seconds.get((service, operation), 0.0) + seconds

    def snapshot(self) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], float]]:
        with self._lock:
            return Counter(self._counts), dict(self._seconds)

    def since(
        self, before: tuple[Counter[tuple[str, str]], dict[tuple[str, str], float]]
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        """Calls made since ``before`` and the seconds spent in them, as ``{service: {operation: n}}`` each."""
        counts, now_seconds = self.snapshot()
        counts.subtract(before[0])
        seconds = {key: value - before[1].get(key, 0.0) for key, value in now_seconds.items()}
        by_service: dict[str, dict[str, int]] = {}
        time_by_service: dict[str, dict[str, float]] = {}
        for (service, operation), count in sorted(counts.items()):
            if count > 0:
                by_service.setdefault(service, {})[operation] = count
                time_by_service.setdefault(service, {})[operation] = round(seconds.get((service, operation), 0.0), 3)
        return by_service, time_by_service


class Sandbox:
    """The local ORCID sandbox's ``/_sandbox`` endpoints (never rate-limited, never counted)."""

    def __init__(self, orcid_url: str) -> None:
        self.url = orcid_url.rstrip("/")
        self.http = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.url}{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise requests.HTTPError(
                f"{method} {path}: {response.status_code} {response.text[:500]}", response=response
            )
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        return dict(self.call("GET", "/_sandbox/stats"))

    def reset_stats(self) -> None:
        self.call("POST", "/_sandbox/stats/reset")

    def set_rate_limit(self, rate: float, burst: int) -> None:
        self.call("PUT", "/_sandbox/rate-limit", json={"rate": rate, "burst": burst})

    def set_faults(self, **knobs: Any) -> None:
        """Replace every fault knob (omitted knobs go back to their defaults, i.e. no faults)."""
        self.call("PUT", "/_sandbox/faults", json=knobs)

    def create_researcher(self, *, given_names: str, family_name: str, client_id: str, scope: str) -> dict[str, Any]:
        """A sandbox record with a token granted to ``client_id`` (as if they had clicked Authorize)."""
        return dict(
            self.call(
                "POST",
                "/_sandbox/researchers",
                json={
                    "given_names": given_names,
                    "family_name": family_name,
                    "grant": {"client_id": client_id, "scope": scope},
                },
            )
        )

    def register_client(self, client_id: str, name: str) -> None:
        """Register (or replace) another member's client, so that works can have it as their source."""
        self.call(
            "POST",
            "/_sandbox/clients",
            json={"client_id": client_id, "client_secret": "unused", "redirect_uris": [], "name": name},
        )

    def add_work(self, orcid: str, work: dict[str, Any], *, source_client_id: str | None) -> int:
        answer = self.call(
            "POST", f"/_sandbox/records/{orcid}/works", json={"work": work, "source_client_id": source_client_id}
        )
        return int(answer["put_code"])

    def record(self, orcid: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/_sandbox/records/{orcid}"))


@dataclass
class RateSampler:
    """Reads the sandbox's request counter every ``SAMPLE_SECONDS`` to find the achieved request rate.

    With ``client_id``, it also reads the 503s the sandbox's rate limit sent that client, for the
    per-second curve (:meth:`per_second`).
    """

    sandbox: Sandbox
    client_id: str | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-rate-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def _sample(self) -> None:
        try:
            stats = self.sandbox.stats()
        except requests.RequestException:
            return
        self.samples.append((time.monotonic(), int(stats["total"])))
        self.refused.append(int(stats.get("rate_limited_by_client", {}).get(self.client_id or "", 0)))

    def per_second(self) -> dict[str, list[int]]:
        """Requests (and rate-limit 503s) in each second of the active window, from its first request on.

        The counters are read every ``SAMPLE_SECONDS``; each second's count is the difference of the
        counters interpolated at its two ends, rounded so that the seconds add up to the total.
        """
        if len(self.samples) < 2 or self.samples[-1][1] == 0:
            return {"requests": [], "rate_limited_503": []}
        start = next(i for i, (_, total) in enumerate(self.samples) if total > 0)
        final = self.samples[-1][1]
        end = next(i for i, (_, total) in enumerate(self.samples) if total == final)
        opened = self.samples[max(0, start - 1)][0]
        seconds = max(1, math.ceil(self.samples[end][0] - opened))
        times = [t for t, _ in self.samples]

        def at(series: list[int], moment: float) -> float:
            if moment <= times[0]:
                return float(series[0])
            if moment >= times[-1]:
                return float(series[-1])
            i = bisect.bisect_right(times, moment)
            (t0, t1), (v0, v1) = (times[i - 1], times[i]), (series[i - 1], series[i])
            return v0 + (v1 - v0) * (moment - t0) / (t1 - t0) if t1 > t0 else float(v1)

        def counts(series: list[int]) -> list[int]:
            marks = [round(at(series, opened + k)) for k in range(seconds + 1)]
            return [max(0, b - a) for a, b in itertools.pairwise(marks)]

        totals = [total for _, total in self.samples]
        return {"requests": counts(totals), "rate_limited_503": counts(self.refused)}

    def summary(self) -> dict[str, float]:
        """Mean rate over the active window (first to last request seen) and the busiest 1-second window."""
        if len(self.samples) < 2 or self.samples[-1][1] == 0:
            return {"active_seconds": 0.0, "mean_per_second": 0.0, "peak_1s_per_second": 0.0}
        # The window opens at the last sample that still read zero and closes at the first that reads the total.
        start = next(i for i, (_, total) in enumerate(self.samples) if total > 0)
        final = self.samples[-1][1]
        end = next(i for i, (_, total) in enumerate(self.samples) if total == final)
        opened = self.samples[max(0, start - 1)][0]
        closed = self.samples[end][0]
        active = max(closed - opened, SAMPLE_SECONDS)
        peak = 0.0
        j = 0
        for i in range(len(self.samples)):
            while j < len(self.samples) and self.samples[j][0] - self.samples[i][0] < 1.0:
                j += 1
            if j >= len(self.samples):
                break
            span = self.samples[j][0] - self.samples[i][0]
            peak = max(peak, (self.samples[j][1] - self.samples[i][1]) / span)
        return {"active_seconds": active, "mean_per_second": final / active, "peak_1s_per_second": peak}


def _vm_hwm_mb(process: int | str) -> float | None:
    """A process's peak resident set so far (``VmHWM`` of ``/proc/<process>/status``), in MiB; None if unreadable."""
    try:
        for line in Path(f"/proc/{process}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """The process's peak resident set so far, in MiB.

    Linux's VmHWM belongs to the process image and starts afresh at exec; ru_maxrss does not (a child
    started from a big parent reports the parent's peak), so it is only the fallback elsewhere.
    """
    peak = _vm_hwm_mb("self")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) another process has used so far, from ``/proc``; 0 without one."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    except OSError:
        return 0.0
    # After the command's closing parenthesis: state is field 3, utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_rss_mb(pid: int | None) -> float:
    """Another process's peak resident set so far (``VmHWM``), in MiB; 0 without one."""
    return (_vm_hwm_mb(pid) or 0.0) if pid is not None else 0.0


def orcid_figures(stats: dict[str, Any], client_id: str) -> dict[str, Any]:
    """The sandbox's counters for our client, by method and by route, with the 503s the rate limit sent."""
    by_method: Counter[str] = Counter()
    by_route: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for row in stats.get("requests", []):
        by_method[row["method"]] += row["count"]
        by_route[f"{row['method']} {row['route']}"] += row["count"]
        by_status[str(row["status"])] += row["count"]
    return {
        "total": int(stats.get("requests_by_client", {}).get(client_id, stats.get("total", 0))),
        "all_clients": int(stats.get("total", 0)),
        "by_method": dict(sorted(by_method.items())),
        "by_route": dict(sorted(by_route.items())),
        "by_status": dict(sorted(by_status.items())),
        "rate_limited_503": int(stats.get("rate_limited_by_client", {}).get(client_id, 0)),
        "status_503": int(by_status.get("503", 0)),
        "faults": dict(stats.get("faults", {})),
    }


@dataclass
class Window:
    """One measured window: filled in when the ``measure`` block ends."""

    wall_seconds: float = 0.0
    orcid: dict[str, Any] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)
    aws: dict[str, dict[str, int]] = field(default_factory=dict)
    aws_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    per_second: dict[str, list[int]] = field(default_factory=dict)
    # CPU the local stack's process (the sandbox, the functions, the harness; moto too unless it runs apart) used.
    cpu_seconds: float = 0.0
    # CPU and peak memory of moto's own process, when the stack serves it from one (the benchmarks do).
    aws_cpu_seconds: float = 0.0
    aws_peak_rss_mb: float = 0.0


@contextmanager
def measure(sandbox: Sandbox, aws: AwsCallCounter, client_id: str, aws_pid: int | None = None) -> Iterator[Window]:
    """Zero the sandbox's counters, then time the block and collect what it cost (``aws_pid``: moto's process)."""
    window = Window()
    sandbox.reset_stats()
    before = aws.snapshot()
    sampler = RateSampler(sandbox, client_id)
    sampler.start()
    started = time.monotonic()
    cpu_before = time.process_time()
    aws_cpu_before = process_cpu_seconds(aws_pid)
    try:
        yield window
    finally:
        window.wall_seconds = time.monotonic() - started
        window.cpu_seconds = time.process_time() - cpu_before
        window.aws_cpu_seconds = process_cpu_seconds(aws_pid) - aws_cpu_before
        window.aws_peak_rss_mb = process_peak_rss_mb(aws_pid)
        sampler.stop()
        window.rate = sampler.summary()
        window.per_second = sampler.per_second()
        window.orcid = orcid_figures(sandbox.stats(), client_id)
        window.aws, window.aws_seconds = aws.since(before)
        window.peak_rss_mb = peak_rss_mb()
