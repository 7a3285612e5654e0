"""The push worker: each SQS message is one researcher of a push job (see ``orcid_sync.domain.push``).

A message that fails (ORCID kept answering 5xx, DynamoDB hiccup) is reported as a batch item
failure and comes back; everything that succeeded before the failure is in the ledger, so the
retry sends only the rest. On its last delivery a failing researcher is counted as failed, so the
job still finishes; the message then goes to the dead-letter queue.

One worker per researcher: a message whose researcher another worker is pushing (another job, or a
duplicate of this one) is handed back: a copy goes to the queue with a delay and the message itself
succeeds, so waiting costs none of its SQS receives (see ``process_push_task``). After
``MAX_HANDBACKS`` copies it fails like any other error instead, so a stuck lease ends in the DLQ alarm.

The researchers of a batch are pushed at once, one thread each (:class:`ConcurrentBatchProcessor`):
a worker waits for ORCID most of the time, so several researchers' requests in flight per worker let
the shared rate limit, not ORCID's latency times the worker count, bound the fleet's request rate. A
push that nears the invocation's timeout stops before its next request and is handed back the same
way, to go on in another invocation.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from orcid_sync import composition, metric_names
from orcid_sync.adapters import messaging
from orcid_sync.adapters.orcid_api.request_stats import NO_ANSWER, RequestStats
from orcid_sync.config import get_settings
from orcid_sync.domain.jobs.models import JobType, ResearcherTask
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.push import OutOfTimeError, PushOutcome, ResearcherBusyError, process_push_task
from orcid_sync.observability import logger, metrics, tracer

# Stop taking new researchers when less than this is left: one researcher's push fits in it.
_MIN_REMAINING_MS = 60_000
MAX_HANDBACKS = 30
"""Copies of a task handed back while its researcher is busy; at 60 s apart at most, far beyond a lapsed lease."""


class PushTaskRecord(SqsRecordModel):
    body: Json[ResearcherTask]


class NoTimeToStartError(RuntimeError):
    """Too little time left in this invocation to push another researcher; SQS brings the message back."""


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor, but the records are processed at once, one thread each.

    Each thread pushes one researcher (its lease, its ledger, its requests); the shared rate limit
    paces their ORCID requests together. Results and failures are collected as Powertools does.
    """

    def process(self) -> list[tuple[Any, ...]]:
        records = list(self.records)
        if len(records) < 2:
            return list(super().process())
        with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="push-record") as pool:
            return list(pool.map(self._process_record, records))


processor = ConcurrentBatchProcessor(event_type=EventType.SQS, model=PushTaskRecord)
# Powertools' metric set is shared by the invocation's threads.
_metrics_lock = threading.Lock()


def _seconds_left(context: LambdaContext | None) -> Callable[[], float]:
    """The invocation's time left, for the push to stop before a request it could not finish (unbounded in tests)."""
    if context is None:
        return lambda: math.inf
    return lambda: context.get_remaining_time_in_millis() / 1000


@tracer.capture_method(capture_response=False)
def record_handler(record: PushTaskRecord, lambda_context: LambdaContext | None = None) -> None:
    task = record.body
    if task.job_type is not JobType.PUSH:
        raise ValueError(f"the push queue got a {task.job_type.value} task for job {task.job_id}")
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < _MIN_REMAINING_MS:
        raise NoTimeToStartError(f"not enough time left for researcher {task.researcher_id}")
    worker = composition.push_worker_ports()
    try:
        outcome = process_push_task(
            task,
            replace(worker.push, time_left=_seconds_left(lambda_context)),
            worker.jobs,
            finishers=worker.finishers,
            notifier=worker.notifier,
            now=utc_now,
            last_attempt=int(record.attributes.ApproximateReceiveCount) >= worker.env.max_receive_count,
            leases=worker.leases,
        )
    except ResearcherBusyError as busy:
        _hand_back(record, busy)
        return
    except OutOfTimeError:
        _continue_later(record)
        return
    if not task.dry_run:
        with _metrics_lock:
            _add_outcome_metrics(outcome)
    logger.info(
        "researcher pushed",
        job_id=task.job_id,
        researcher_id=task.researcher_id,
        dry_run=task.dry_run,
        failed=outcome.failed,
        counts=outcome.counts.nonzero(),
    )


def _handbacks(record: PushTaskRecord) -> int:
    attribute = record.messageAttributes.get(messaging.HANDBACKS_ATTRIBUTE)
    value = attribute.stringValue if attribute is not None else None
    return int(value) if value and value.isdigit() else 0


def _hand_back(record: PushTaskRecord, busy: ResearcherBusyError) -> None:
    """Send a delayed copy of the task and let this message succeed; past MAX_HANDBACKS, fail it instead."""
    task = record.body
    handbacks = _handbacks(record)
    if handbacks >= MAX_HANDBACKS:
        raise busy
    delay = busy.retry_after(handbacks, utc_now())
    composition.task_queue(JobType.PUSH).hand_back(task, delay_seconds=delay, handbacks=handbacks + 1)
    logger.info(
        "researcher busy; task handed back",
        job_id=task.job_id,
        researcher_id=task.researcher_id,
        held_by_job=busy.held.job_id,
        delay_seconds=delay,
        handbacks=handbacks + 1,
    )


def _continue_later(record: PushTaskRecord) -> None:
    """The push stopped short of the invocation's timeout (all it did is recorded): a copy goes on at once."""
    task = record.body
    handbacks = _handbacks(record)
    if handbacks >= MAX_HANDBACKS:
        raise OutOfTimeError(f"researcher {task.researcher_id} ran out of time {handbacks} times")
    composition.task_queue(JobType.PUSH).hand_back(task, delay_seconds=0, handbacks=handbacks + 1)
    logger.info(
        "push out of time; task handed back to continue",
        job_id=task.job_id,
        researcher_id=task.researcher_id,
        handbacks=handbacks + 1,
    )


def _add_outcome_metrics(outcome: PushOutcome) -> None:
    """One researcher's push as metrics: the works it wrote, how the researcher came out, a lost connection."""
    counts = outcome.counts
    for name, value in (
        (metric_names.WORKS_CREATED, counts.works_created),
        (metric_names.WORKS_UPDATED, counts.works_updated),
        (metric_names.WORKS_DELETED, counts.works_deleted),
        (metric_names.WORKS_ADOPTED, counts.works_adopted),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.failed:
        researcher_metric = metric_names.RESEARCHERS_FAILED
    elif outcome.updated:
        researcher_metric = metric_names.RESEARCHERS_UPDATED
    else:
        researcher_metric = metric_names.RESEARCHERS_UNCHANGED
    metrics.add_metric(name=researcher_metric, unit=MetricUnit.Count, value=1)
    if outcome.token_problem is not None:  # ORCID refused the token: the researcher is disconnected
        metrics.add_metric(name=metric_names.RESEARCHERS_DISCONNECTED, unit=MetricUnit.Count, value=1)


def _outcome_class(status: str) -> str:
    """An HTTP status (or no answer) as one of ``metric_names.ORCID_OUTCOMES``."""
    if status == NO_ANSWER:
        return "server_error"
    code = int(status)
    if 200 <= code < 300:
        return "success"
    if code == 401:
        return "unauthorized"
    if code in (429, 503):
        return "throttled"
    return "server_error" if code >= 500 else "client_error"


def _emit_request_metrics(stats: RequestStats, before: Mapping[str, int], throttled_before: int) -> None:
    """This invocation's ORCID requests by outcome, and its 503/429 answers (the throttling alarm)."""
    by_class: Counter[str] = Counter()
    for status, count in stats.by_outcome().items():
        by_class[_outcome_class(status)] += count - before.get(status, 0)
    for outcome, count in by_class.items():
        if count:
            # single_metric: the outcome dimension must not spill onto the invocation's other metrics.
            with single_metric(name=metric_names.ORCID_REQUESTS, unit=MetricUnit.Count, value=count) as metric:
                metric.add_dimension(name=metric_names.OUTCOME_DIMENSION, value=outcome)
    throttled = stats.throttled - throttled_before
    if throttled:
        metrics.add_metric(name=metric_names.ORCID_THROTTLED, unit=MetricUnit.Count, value=throttled)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, object]:
    get_settings()  # fail fast on a misconfigured stack
    stats = composition.push_worker_ports().requests  # built here, once, before the batch's threads need it
    before, throttled_before = stats.by_outcome(), stats.throttled
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        _emit_request_metrics(stats, before, throttled_before)
