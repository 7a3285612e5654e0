"""Large token uploads: their records in the state table and their files in the data bucket.

An upload moves ``pending`` → ``processing`` → ``done`` | ``failed``. ``processing`` is a lease: a
redelivered S3 event finds it held and does nothing, while an invocation that died (timeout, crash)
leaves a lease that expires, so the next delivery takes the upload over.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, TextIO, cast

from botocore.exceptions import ClientError

from orcid_sync.domain.tokens.upload_models import RECORD_DAYS, UploadRecord, UploadStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client


def _pk(upload_id: str) -> str:
    return f"upload#{upload_id}"


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoUploadStore:
    """Upload records in the state table (pk ``id`` = ``upload#<id>``), expiring through its TTL attribute."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, record: UploadRecord) -> None:
        item = self._item(record)
        item["expiration"] = int((record.created_at + timedelta(days=RECORD_DAYS)).timestamp())
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(id)")

    def get(self, upload_id: str) -> UploadRecord | None:
        item = self._table.get_item(Key={"id": _pk(upload_id)}, ConsistentRead=True).get("Item")
        return self._record(item) if item else None

    def claim(self, upload_id: str, *, now: datetime, lease_until: datetime) -> UploadRecord | None:
        try:
            response = self._table.update_item(
                Key={"id": _pk(upload_id)},
                UpdateExpression=(
                    "SET #status = :processing, attempts = if_not_exists(attempts, :zero) + :one, "
                    "lease_until = :lease, started_at = :now, updated_at = :now"
                ),
                ConditionExpression=(
                    "attribute_exists(id) AND (#status = :pending OR (#status = :processing AND lease_until < :now))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":processing": UploadStatus.PROCESSING.value,
                    ":pending": UploadStatus.PENDING.value,
                    ":zero": 0,
                    ":one": 1,
                    ":lease": lease_until.isoformat(),
                    ":now": now.isoformat(),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return self._record(response["Attributes"])

    def finish(self, record: UploadRecord) -> bool:
        item = self._item(record)
        fields = [name for name in item if name not in ("id", "upload_id", "attempts", "lease_until")]
        try:
            self._table.update_item(
                Key={"id": _pk(record.upload_id)},
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in fields) + " REMOVE lease_until",
                ConditionExpression="#status = :held AND attempts = :attempts",
                ExpressionAttributeNames={f"#{name}": name for name in fields},
                ExpressionAttributeValues={
                    **{f":{name}": item[name] for name in fields},
                    ":held": UploadStatus.PROCESSING.value,
                    ":attempts": record.attempts,
                },
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def release(self, upload_id: str, *, attempts: int, message: str, now: datetime) -> None:
        try:
            self._table.update_item(
                Key={"id": _pk(upload_id)},
                UpdateExpression="SET #status = :pending, message = :message, updated_at = :now REMOVE lease_until",
                ConditionExpression="#status = :held AND attempts = :attempts",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": UploadStatus.PENDING.value,
                    ":held": UploadStatus.PROCESSING.value,
                    ":attempts": attempts,
                    ":message": message,
                    ":now": now.isoformat(),
                },
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    @staticmethod
    def _item(record: UploadRecord) -> dict[str, Any]:
        item = record.model_dump(mode="json", exclude_none=True, exclude={"rejected_preview"})
        if record.rejected_preview is not None:
            # A JSON string: DynamoDB would turn numbers into Decimals and reject empty strings in maps.
            item["rejected_preview"] = json.dumps(record.rejected_preview)
        item["id"] = _pk(record.upload_id)
        return item

    @staticmethod
    def _record(item: dict[str, Any]) -> UploadRecord:
        values = {k: v for k, v in item.items() if k not in ("id", "expiration")}
        values["attempts"] = int(values.get("attempts", 0))
        values["rows"] = int(values.get("rows", 0))
        values["counts"] = {k: int(v) for k, v in values.get("counts", {}).items()}
        if "rejected_preview" in values:
            values["rejected_preview"] = json.loads(values["rejected_preview"])
        return UploadRecord.model_validate(values)


class S3UploadObjects:
    """Uploads and reports in the data bucket (SSE-KMS by the bucket's default encryption)."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def upload_url(self, key: str, *, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "put_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in, HttpMethod="PUT"
        )

    def download_url(self, key: str, *, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    def put_upload(self, key: str, body: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)

    def open_text(self, key: str, version_id: str | None) -> TextIO | None:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            body = self._s3.get_object(**kwargs)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404"):
                return None
            raise
        # StreamingBody is an io.IOBase: the wrapper reads it in small blocks, never the whole object.
        return io.TextIOWrapper(cast(IO[bytes], body), encoding="utf-8-sig", newline="")

    def delete(self, key: str, version_id: str | None) -> None:
        if version_id:
            self._s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version_id)
        else:
            self._s3.delete_object(Bucket=self._bucket, Key=key)

    def put_report(self, key: str, body: IO[bytes]) -> None:
        self._s3.upload_fileobj(body, self._bucket, key, ExtraArgs={"ContentType": "application/json"})
