"""``/feeds``: the institution's repository as OAI-PMH feeds; a harvest is a job run of type ``feed``."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from orcid_sync import composition
from orcid_sync.domain.feeds.config import (
    FeedTestReport,
    FeedTestRequest,
    RunFeedRequest,
    create_feed,
    delete_feed,
    get_feed,
    list_feeds,
    request_feed_run,
    test_feed,
)
from orcid_sync.domain.feeds.models import FeedConfig, FeedView
from orcid_sync.domain.jobs.models import Job
from orcid_sync.domain.models import utc_now
from orcid_sync.observability import logger

from .audit import audited
from .callers import caller_of
from .openapi_errors import BAD_REQUEST, CONFLICT, NOT_FOUND, IdInPath

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


class FeedList(BaseModel):
    feeds: list[FeedView]


@router.post(
    "/feeds",
    summary="Add a feed (an OAI-PMH endpoint of the repository)",
    tags=["feeds"],
    responses={201: {"description": "The feed"}, 400: BAD_REQUEST, 409: CONFLICT},
)
def create_feed_route(config: Annotated[FeedConfig, Body(embed=False)]) -> Response[FeedView]:
    """The base URL must be https (plain http only for a provider on localhost). Nothing is harvested until
    the feed is run (``POST /feeds/{id}/run``) or the feed schedule is active (``PUT /jobs/schedules/feed``)."""
    feed = create_feed(composition.feed_store(), config, now=utc_now())
    logger.info("feed created", feed_id=feed.feed_id, by=caller_of(router.current_event))
    audited(router.current_event, "feed.create", feed.feed_id, after=config.model_dump(mode="json"))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=feed)


@router.get("/feeds", summary="Every feed and how its harvests went", tags=["feeds"])
def list_feeds_route() -> FeedList:
    return FeedList(feeds=list_feeds(composition.feed_store()))


# Registered before /feeds/<feed_id> routes of the same method so "test" is never taken for a feed id.
@router.post(
    "/feeds/test",
    summary="Test an endpoint: what a feed would import, changing nothing",
    tags=["feeds"],
    responses={200: {"description": "The endpoint and its first records, mapped"}, 400: BAD_REQUEST},
)
def test_feed_route(request: Annotated[FeedTestRequest, Body(embed=False)]) -> FeedTestReport:
    """``Identify``, ``ListMetadataFormats``, ``ListSets`` and the first ``limit`` records as the harvest would map
    them, creators matched to researchers. An endpoint that cannot be harvested is a 400 naming the field."""
    from orcid_sync.domain.feeds.harvest_page import ResearcherMatcher  # noqa: PLC0415 - only this route maps records

    matcher = ResearcherMatcher(composition.researcher_store())
    return test_feed(
        composition.oai_harvester(),
        request,
        researcher_for_orcid=matcher.for_orcid,
        researcher_for_local_id=matcher.for_local_id,
    )


@router.get(
    "/feeds/<feed_id>",
    summary="A feed and how its harvests went",
    tags=["feeds"],
    responses={200: {"description": "The feed"}, 404: NOT_FOUND},
)
def get_feed_route(feed_id: IdInPath) -> FeedView:
    return get_feed(composition.feed_store(), feed_id)


@router.delete(
    "/feeds/<feed_id>",
    summary="Remove a feed",
    tags=["feeds"],
    responses={204: {"description": "Removed"}, 404: NOT_FOUND},
)
def delete_feed_route(feed_id: IdInPath) -> Response[None]:
    """Its assets stay (remove them with ``DELETE /assets/{id}``); a harvest still running fails at its next page."""
    delete_feed(composition.feed_store(), feed_id)
    logger.info("feed deleted", feed_id=feed_id, by=caller_of(router.current_event))
    audited(router.current_event, "feed.delete", feed_id)
    return Response(status_code=204)


@router.post(
    "/feeds/<feed_id>/run",
    summary="Harvest a feed now",
    tags=["feeds"],
    responses={
        202: {"description": "The run (a job of type feed), opened; the harvester pages through the endpoint"},
        400: BAD_REQUEST,
        404: NOT_FOUND,
        409: CONFLICT,
    },
)
def run_feed_route(
    feed_id: IdInPath, request: Annotated[RunFeedRequest | None, Body(embed=False)] = None
) -> Response[Job]:
    """Incremental (from the last successful harvest) unless ``full``; follow it with ``GET /jobs/{id}``.
    409 while another harvest of the feed is running."""
    job = request_feed_run(
        composition.feed_store(),
        composition.job_store(),
        composition.feed_queue(),
        feed_id,
        request or RunFeedRequest(),
        started_by=caller_of(router.current_event) or "admin-api",
        now=utc_now(),
    )
    logger.info("feed run requested", feed_id=feed_id, job_id=job.job_id, full=job.options.get("full"))
    audited(router.current_event, "feed.run", feed_id, after={"job_id": job.job_id, "full": job.options.get("full")})
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)
