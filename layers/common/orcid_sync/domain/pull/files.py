"""Where pull runs keep their files (the port): researchers' CSV parts and the run's assembled CSV.

S3 in AWS and moto (``adapters.s3_pull_files``), a dict in unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StreamedWrite:
    """What storing a stream took: the figures a benchmark reports."""

    bytes: int
    upload_parts: int
    """Multipart parts uploaded; 0 when the object was small enough for one PUT."""
    max_buffered_bytes: int
    """The most bytes the adapter buffered at once (it includes the chunk just read)."""


class PullFiles(Protocol):
    """The objects of pull runs (S3 in AWS and moto; a dict in unit tests)."""

    def put(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` in key order, fetched page by page as the caller iterates."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete up to 1,000 keys; a missing key is not an error."""
        ...

    def write_stream(self, key: str, chunks: Iterable[bytes]) -> StreamedWrite:
        """Store the chunks, in order, as one object without holding it whole; nothing is stored on failure."""
        ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        ...

    def download_url(self, key: str, *, expires_in: int) -> str:
        """A presigned GET URL."""
        ...
