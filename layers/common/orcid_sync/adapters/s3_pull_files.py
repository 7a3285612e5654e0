"""Pull CSV parts and files in the data bucket (the S3 side of ``domain.pull_csv.PullFiles``).

A stream (the assembled CSV) goes up as one PUT when it is small, else as a multipart upload fed
through a buffer of ``part_size`` bytes: S3 wants every part but the last to be at least 5 MiB,
and the buffer bounds what one Lambda holds however large the file grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from orcid_sync.domain.pull.files import StreamedWrite

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
"""S3's smallest multipart part (all but the last)."""
DEFAULT_PART_SIZE = 8 * MIB


class S3PullFiles:
    """Objects under ``pull/`` of one bucket."""

    def __init__(self, s3: S3Client, bucket: str, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum), got {part_size}")
        self._s3 = s3
        self._bucket = bucket
        self._part_size = part_size

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=CSV_CONTENT_TYPE)

    def read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def list_keys(self, prefix: str) -> Iterator[str]:
        kwargs = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            response = self._s3.list_objects_v2(**kwargs)  # type: ignore[arg-type]
            for item in response.get("Contents", []):
                yield item["Key"]
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        response = self._s3.delete_objects(
            Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"S3 did not delete {len(errors)} of {len(keys)} objects, e.g. {first.get('Key')}: {first.get('Code')}"
            )

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> StreamedWrite:
        """One PUT if everything fits in a part, else a multipart upload; a failed upload is aborted.

        Memory holds the buffer (at most ``part_size`` plus the chunk just added) and its copy on the way to S3.
        """
        buffer = bytearray()
        upload_id: str | None = None
        etags: list[str] = []
        written = max_buffered = 0
        try:
            for chunk in chunks:
                buffer += chunk
                del chunk
                max_buffered = max(max_buffered, len(buffer))
                if len(buffer) >= self._part_size:
                    if upload_id is None:
                        upload_id = self._start_multipart(key)
                    etags.append(self._upload_part(key, upload_id, len(etags) + 1, bytes(buffer)))
                    written += len(buffer)
                    buffer.clear()
            if upload_id is None:
                self.put(key, bytes(buffer))
            else:
                if buffer:
                    etags.append(self._upload_part(key, upload_id, len(etags) + 1, bytes(buffer)))
                self._complete_multipart(key, upload_id, etags)
            written += len(buffer)
        except BaseException:
            if upload_id is not None:
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
            raise
        return StreamedWrite(bytes=written, upload_parts=len(etags), max_buffered_bytes=max_buffered)

    def _start_multipart(self, key: str) -> str:
        response = self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=CSV_CONTENT_TYPE)
        return response["UploadId"]

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return response["ETag"]

    def _complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]},
        )

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def download_url(self, key: str, *, expires_in: int) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )
