"""CloudWatch metric names: a contract between the code that emits them and the template's alarms and dashboard.

Every metric goes to the ``POWERTOOLS_METRICS_NAMESPACE`` namespace (``OrcidSync`` in the template)
with Powertools' ``service`` dimension (``POWERTOOLS_SERVICE_NAME``, ``orcid-sync``). Metrics added
with ``metrics.add_metric`` carry only that dimension; the ones with extra dimensions below are
emitted with ``single_metric`` so their dimensions do not leak onto the rest of the invocation's metrics.
"""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "OrcidSync"
SERVICE: Final = "orcid-sync"

# Emitted by the push worker (dimension: service).
WORKS_CREATED: Final = "WorksCreated"
WORKS_UPDATED: Final = "WorksUpdated"
WORKS_DELETED: Final = "WorksDeleted"
WORKS_ADOPTED: Final = "WorksAdopted"

# Emitted by the pull worker (dimension: service).
PULLED_ROWS: Final = "PulledRows"
"""CSV rows a pull worker wrote for its researchers."""

# Emitted by the ORCID client (dimension: service).
ORCID_THROTTLED: Final = "OrcidThrottled"
"""ORCID answered 503 (past the burst): the rate limiter is too generous or another client shares the quota."""
ORCID_REQUESTS: Final = "OrcidRequests"
"""Every ORCID request, with an extra ``outcome`` dimension (see ``ORCID_OUTCOMES``)."""
OUTCOME_DIMENSION: Final = "outcome"
ORCID_OUTCOMES: Final = ("success", "client_error", "unauthorized", "throttled", "server_error")

# Emitted by the push worker once per researcher (dimension: service).
RESEARCHERS_UPDATED: Final = "ResearchersUpdated"
RESEARCHERS_UNCHANGED: Final = "ResearchersUnchanged"
RESEARCHERS_FAILED: Final = "ResearchersFailed"
RESEARCHERS_DISCONNECTED: Final = "ResearchersDisconnected"
"""A 401 invalid_token: the researcher revoked us (or the token died) and is now disconnected."""

# Emitted by the scheduler each time it selects researchers, with an extra ``status`` dimension
# (the researchers' ORCID connection status: none, active, revoked, disconnected).
RESEARCHERS: Final = "Researchers"
STATUS_DIMENSION: Final = "status"

# Emitted when a job run finishes (adapters/cloudwatch_metrics.py, for the domain's JobMetrics port), with an
# extra ``job_type`` dimension.
JOB_TYPE_DIMENSION: Final = "job_type"
JOB_STATE_DIMENSION: Final = "state"
JOB_DURATION_SECONDS: Final = "JobDurationSeconds"
JOBS_FINISHED: Final = "JobsFinished"
"""One per finished run, with ``job_type`` and ``state`` dimensions."""
JOB_RESEARCHERS_PROCESSED: Final = "JobResearchersProcessed"
JOB_RESEARCHERS_UPDATED: Final = "JobResearchersUpdated"
JOB_RESEARCHERS_FAILED: Final = "JobResearchersFailed"
