"""Pull CSV parts and files in the data bucket (the S3 side of ``logic.pull_csv.PullFiles``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from orcid_sync.domain.pull_csv import CSV_CONTENT_TYPE

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class S3PullFiles:
    """Objects under ``pull/`` of one bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

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

    def start_multipart(self, key: str) -> str:
        response = self._s3.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=CSV_CONTENT_TYPE)
        return response["UploadId"]

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        return response["ETag"]

    def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

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
