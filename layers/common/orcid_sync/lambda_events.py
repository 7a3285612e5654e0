"""The Lambda events the functions receive from SQS and S3: the fields they read, as pydantic models.

Powertools' parser models describe every AWS event source, and importing any of them builds all of those
pydantic models: about 40 ms of every worker's cold start (``make bench``, cold-start group), for the four
fields of an SQS record and the five of an S3 notification that the functions read. These models keep the
same names and shapes as Powertools' (``SqsRecordModel``, ``S3Model``) for those fields and ignore the
rest, so a record validates the same way; Powertools' batch processor takes any pydantic model with the
SQS record's ``messageId`` (it reports a failed record by it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Json


class _EventModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SqsAttributes(_EventModel):
    ApproximateReceiveCount: int
    """How many times SQS has delivered the message, this delivery included."""


class SqsMessageAttribute(_EventModel):
    dataType: str
    stringValue: str | None = None


class SqsRecord[BodyT](_EventModel):
    """One SQS message of a batch, its JSON body read as ``BodyT``; subclass it per queue to name the model."""

    messageId: str
    body: Json[BodyT]
    attributes: SqsAttributes
    messageAttributes: dict[str, SqsMessageAttribute] = {}


class S3Bucket(_EventModel):
    name: str


class S3Object(_EventModel):
    key: str
    """URL-encoded, spaces as ``+``: ``urllib.parse.unquote_plus`` gives the object's key."""
    versionId: str | None = None


class S3Entity(_EventModel):
    bucket: S3Bucket
    # S3 names the field "object"; pydantic allows it as a field name.
    object: S3Object | None = None


class S3Record(_EventModel):
    eventName: str
    s3: S3Entity


class S3Notification(_EventModel):
    """An S3 event notification delivered to Lambda."""

    Records: list[S3Record]
