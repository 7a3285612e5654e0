"""Token import: a file uploaded through ``POST /tokens/uploads`` lands in ``uploads/`` and is imported here.

The S3 notification is delivered at least once (and retried after a failure); the upload's record
makes a second delivery a no-op, and the file, which holds plaintext tokens, is deleted once its
outcome is recorded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from orcid_sync import composition
from orcid_sync.adapters.upload_store import DynamoUploadStore, S3UploadObjects
from orcid_sync.config import get_settings
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.token_uploads import JobUploadRuns, process_upload
from orcid_sync.domain.tokens import TokenImporter, TokenProbe
from orcid_sync.observability import logger, metrics, tracer


class _Bucket(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    versionId: str | None = None


class _S3(BaseModel):
    model_config = ConfigDict(extra="ignore")
    bucket: _Bucket
    object: _Object


class S3NotificationRecord(BaseModel):
    """The part of an S3 event notification record this function reads."""

    model_config = ConfigDict(extra="ignore")
    eventName: str
    s3: _S3


class S3Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Records: list[S3NotificationRecord]


def token_probe() -> TokenProbe:
    """Only built when verification is asked for: it reads the ORCID secret and opens an HTTP session."""
    # The probe's ORCID client (requests, ORCID's models) is imported only when a verification asks for it.
    from orcid_sync.domain.token_probe import PROBE_RETRY, client_probe  # noqa: PLC0415

    return client_probe(composition.member_api_client(retry=PROBE_RETRY))


def _importer(verify: bool) -> TokenImporter:
    return TokenImporter(
        researchers=composition.researcher_store(),
        tokens=composition.token_store(),
        cipher=composition.token_cipher(),
        signing_key=composition.app_secrets().signing_key,
        probe=token_probe() if verify else None,
    )


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    notification = S3Notification.model_validate(event)
    uploads = DynamoUploadStore(composition.dynamodb().Table(settings.state_table))
    objects = S3UploadObjects(boto3.client("s3"), settings.data_bucket)
    runs = JobUploadRuns(composition.job_store(), composition.notifier())
    results: list[dict[str, Any]] = []
    for record in notification.Records:
        if not record.eventName.startswith("ObjectCreated") or record.s3.bucket.name != settings.data_bucket:
            logger.warning("ignoring an event this function does not handle", event_name=record.eventName)
            continue
        # S3 sends keys URL-encoded (spaces as "+").
        key = unquote_plus(record.s3.object.key)
        upload = process_upload(
            uploads,
            objects,
            _importer,
            key=key,
            version_id=record.s3.object.versionId,
            seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
            now=utc_now,
            runs=runs,
        )
        results.append({"key": key, "status": upload.status.value if upload else "ignored"})
    return {"uploads": results}
