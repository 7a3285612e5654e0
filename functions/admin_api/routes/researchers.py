"""``/researchers``: the institution's researchers, one at a time or in batches, and their ORCID connection."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import WithJsonSchema

from orcid_sync import composition
from orcid_sync.config import get_settings
from orcid_sync.domain.batches import MAX_BATCH_ROWS, BatchReport
from orcid_sync.domain.me.outputs import OutputsView, researcher_outputs
from orcid_sync.domain.models import OrcidStatus, ResearcherInput
from orcid_sync.domain.ports import Page
from orcid_sync.domain.researchers import (
    ResearcherView,
    StoredResearcher,
    get_researcher,
    list_researchers,
    load_researchers,
    put_researcher,
)
from orcid_sync.observability import logger

from .audit import audited
from .openapi_errors import BAD_REQUEST, CONFLICT, NOT_FOUND, TOO_LARGE, IdInPath, body_size

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

# Batch rows are validated one by one (a bad row must not sink the batch), so the body is parsed as
# plain objects; the schema still tells clients each one is a ResearcherInput.
ResearcherRow = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/ResearcherInput"})]


@router.put(
    "/researchers/<researcher_id>",
    summary="Create or update a researcher",
    tags=["researchers"],
    responses={
        200: {"description": "Updated, or unchanged (`outcome`)"},
        201: {"description": "Created"},
        400: BAD_REQUEST,
        409: CONFLICT,
        413: TOO_LARGE,
    },
    middlewares=[body_size],
)
def put_researcher_route(
    researcher_id: IdInPath, profile: Annotated[ResearcherInput, Body(embed=False)]
) -> Response[StoredResearcher]:
    """Upsert the institution's fields; an iD the researcher authenticated at ORCID cannot be replaced (409).

    `outcome` is `created`, `updated`, or `unchanged` when the profile was stored as sent already
    (nothing is written).
    """
    result = put_researcher(composition.researcher_store(), profile, path_id=researcher_id, links=get_settings())
    logger.info("researcher stored", researcher_id=researcher_id, outcome=result.researcher.outcome)
    if result.researcher.outcome != "unchanged":
        audited(router.current_event, "researcher.put", researcher_id, after={"outcome": result.researcher.outcome})
    return Response(
        status_code=201 if result.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=result.researcher,
    )


@router.post(
    "/researchers",
    summary=f"Create or update up to {MAX_BATCH_ROWS:,} researchers",
    tags=["researchers"],
    responses={200: {"description": "One outcome per row"}, 400: BAD_REQUEST, 413: TOO_LARGE},
    middlewares=[body_size],
)
def load_researchers_route(
    rows: Annotated[list[ResearcherRow], Body(embed=False, description="Researchers as in PUT /researchers/{id}")],
) -> BatchReport:
    """Valid rows are stored even when others are rejected; each rejected row says which field and why.

    Each row is `created`, `updated`, `unchanged` (the profile is stored as sent already: nothing is
    written) or `rejected`; `counts` adds them up.
    """
    report = load_researchers(composition.researcher_store(), rows)
    logger.info("researcher batch loaded", counts=report.counts.model_dump())
    if report.counts.created or report.counts.updated:  # an unchanged re-send changed nothing: no entry, no write
        audited(router.current_event, "researchers.load", after=report.counts.model_dump(mode="json"))  # never rows
    return report


@router.get(
    "/researchers/<researcher_id>",
    summary="A researcher and their ORCID connection",
    tags=["researchers"],
    responses={200: {"description": "The researcher"}, 404: NOT_FOUND},
)
def get_researcher_route(researcher_id: IdInPath) -> ResearcherView:
    """The profile, ORCID iD, connection status, scopes, connected-at and last sync date (never the token)."""
    return get_researcher(composition.researcher_store(), researcher_id, get_settings())


@router.get(
    "/researchers/<researcher_id>/outputs",
    summary="A researcher's outputs and where each stands with ORCID",
    tags=["researchers"],
    responses={200: {"description": "Every asset of the researcher's, its state and why"}, 404: NOT_FOUND},
)
def researcher_outputs_route(researcher_id: IdInPath) -> OutputsView:
    """What the researcher's "My ORCID" page shows: every asset of theirs with its `state` and a plain-English
    `reason`, our work's `put_code` on their record, ORCID's message when it refused one, whether they opted out
    ("don't send this one"), and `counts` per state.

    States: `on_orcid`, `will_be_added`, `will_be_updated` (the next push), `not_approved`, `not_visible`,
    `type_not_sent` (the settings leave its type out), `not_sending` (send_assets is off), `opted_out`,
    `deleted_by_researcher` (they deleted it on ORCID; only they bring it back), `refused_by_orcid`, `held_back`
    (a duplicate identifier, a field ORCID would refuse). Read from the ledger and the assets: no ORCID request.
    """
    view = researcher_outputs(composition.outputs_ports(), researcher_id)
    logger.info("researcher outputs read", researcher_id=researcher_id, outputs=len(view.outputs))
    return view


@router.get(
    "/researchers",
    summary="List researchers, optionally by ORCID status",
    tags=["researchers"],
    responses={200: {"description": "One page; pass next_cursor back as cursor for the next"}, 400: BAD_REQUEST},
)
def list_researchers_route(
    status: Annotated[OrcidStatus | None, Query(description="Only researchers with this ORCID status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[ResearcherView]:
    return list_researchers(
        composition.researcher_store(), status=status, limit=limit, cursor=cursor, links=get_settings()
    )
