"""Token import: a file uploaded through ``POST /tokens/uploads`` lands in ``uploads/`` and is imported here.

The S3 notification is delivered at least once (and retried after a failure); the upload's record
makes a second delivery a no-op, and the file, which holds plaintext tokens, is deleted once its
outcome is recorded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from orcid_sync import composition
from orcid_sync.config import get_settings
from orcid_sync.domain.models import utc_now
from orcid_sync.domain.tokens.uploads import process_upload
from orcid_sync.lambda_events import S3Notification
from orcid_sync.observability import logger, metrics, tracer


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = S3Notification.model_validate(event)
    bucket = get_settings().data_bucket
    results: list[dict[str, Any]] = []
    for record in notification.Records:
        s3_object = record.s3.object
        if not record.eventName.startswith("ObjectCreated") or record.s3.bucket.name != bucket or s3_object is None:
            logger.warning("ignoring an event this function does not handle", event_name=record.eventName)
            continue
        # S3 sends keys URL-encoded (spaces as "+").
        key = unquote_plus(s3_object.key)
        upload = process_upload(
            composition.upload_store(),
            composition.upload_objects(),
            composition.token_importer,
            key=key,
            version_id=s3_object.versionId,
            seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
            now=utc_now,
            runs=composition.upload_runs(),
        )
        results.append({"key": key, "status": upload.status.value if upload else "ignored"})
    return {"uploads": results}
