"""Job runs' metrics in CloudWatch (embedded metric format through Powertools); names in ``metric_names``."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from orcid_sync import metric_names
from orcid_sync.domain.jobs.models import Job
from orcid_sync.domain.models import OrcidStatus
from orcid_sync.observability import metrics


class CloudWatchJobMetrics:
    """The ``JobMetrics`` port; every metric is its own ``single_metric``.

    single_metric: the job_type/state/status dimensions must not spill onto the function's other metrics.
    """

    def _namespace(self) -> str:
        return metrics.namespace or metric_names.NAMESPACE

    def job_finished(self, job: Job) -> None:
        namespace = self._namespace()
        with single_metric(
            name=metric_names.JOBS_FINISHED, unit=MetricUnit.Count, value=1, namespace=namespace
        ) as metric:
            metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)
            metric.add_dimension(name=metric_names.JOB_STATE_DIMENSION, value=job.state.value)
        for name, value in (
            (metric_names.JOB_RESEARCHERS_PROCESSED, job.counts.researchers_processed),
            (metric_names.JOB_RESEARCHERS_UPDATED, job.counts.researchers_updated),
            (metric_names.JOB_RESEARCHERS_FAILED, job.counts.researchers_failed),
        ):
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
                metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)
        if job.duration_seconds is not None:
            with single_metric(
                name=metric_names.JOB_DURATION_SECONDS,
                unit=MetricUnit.Seconds,
                value=job.duration_seconds,
                namespace=namespace,
            ) as metric:
                metric.add_dimension(name=metric_names.JOB_TYPE_DIMENSION, value=job.type.value)

    def researcher_census(self, counts: Mapping[OrcidStatus, int]) -> None:
        namespace = self._namespace()
        for status in OrcidStatus:
            with single_metric(
                name=metric_names.RESEARCHERS, unit=MetricUnit.Count, value=counts.get(status, 0), namespace=namespace
            ) as metric:
                metric.add_dimension(name=metric_names.STATUS_DIMENSION, value=status.value)
