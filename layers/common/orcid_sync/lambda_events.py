"""The S3 notification the token import receives: the fields it reads, as pydantic models.

Powertools' parser models describe every AWS event source, and importing any of them builds all of those
pydantic models: about 25 ms of the token import's cold start (``make bench``, cold-start group), for the
five fields it reads. These keep the names and shapes of Powertools' ``S3Model`` for those fields and
ignore the rest. The queue workers keep Powertools' ``SqsRecordModel``: its batch processor imports the
parser models whatever model it is given, so a model of our own would save them nothing.
"""

from __future__ import annotations

from pydantic import BaseModel

# pydantic ignores the keys a model does not name, as these models must: S3 sends many more.


class S3Bucket(BaseModel):
    name: str


class S3Object(BaseModel):
    key: str
    """URL-encoded, spaces as ``+``: ``urllib.parse.unquote_plus`` gives the object's key."""
    versionId: str | None = None


class S3Entity(BaseModel):
    bucket: S3Bucket
    # S3 names the field "object"; pydantic allows it as a field name.
    object: S3Object | None = None


class S3Record(BaseModel):
    eventName: str
    s3: S3Entity


class S3Notification(BaseModel):
    """An S3 event notification delivered to Lambda."""

    Records: list[S3Record]
