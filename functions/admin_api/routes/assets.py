"""``/assets``: research outputs, one at a time or in batches; the push job sends the approved, visible ones."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import WithJsonSchema

from orcid_sync import composition
from orcid_sync.domain.assets import StoredAsset, delete_asset, get_asset, load_assets, put_asset
from orcid_sync.domain.batches import MAX_BATCH_ROWS, BatchReport
from orcid_sync.domain.models import Asset, AssetInput, utc_now
from orcid_sync.observability import logger

from .audit import audited
from .openapi_errors import BAD_REQUEST, NOT_FOUND, TOO_LARGE, IdInPath, body_size

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

# Batch rows are validated one by one (a bad row must not sink the batch), so the body is parsed as
# plain values; the schema still tells clients each one is an AssetInput.
AssetRow = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/AssetInput"})]


@router.put(
    "/assets/<asset_id>",
    summary="Create or replace an asset",
    tags=["assets"],
    responses={
        200: {"description": "Replaced, or unchanged (`outcome`)"},
        201: {"description": "Created"},
        400: BAD_REQUEST,
        413: TOO_LARGE,
    },
    middlewares=[body_size],
)
def put_asset_route(asset_id: IdInPath, asset: Annotated[AssetInput, Body(embed=False)]) -> Response[StoredAsset]:
    """Unknown types and malformed DOIs, iDs or dates are a 400 naming the field; the ids must agree.

    `outcome` says what was done: `created`, `updated`, or `unchanged` when the asset was stored with
    this content already (nothing is written, `updated_at` stays, and the next push has nothing to
    send for it). A researcher id nobody has is stored anyway (the researcher may be loaded later)
    with a warning in `warnings` (field and reason).
    """
    result = put_asset(
        composition.asset_store(), asset, path_id=asset_id, now=utc_now(), researchers=composition.researcher_store()
    )
    logger.info("asset stored", asset_id=asset_id, outcome=result.asset.outcome, warnings=len(result.asset.warnings))
    if result.asset.outcome != "unchanged":
        audited(router.current_event, "asset.put", asset_id, after={"outcome": result.asset.outcome})
    return Response(
        status_code=201 if result.created else 200, content_type=content_types.APPLICATION_JSON, body=result.asset
    )


@router.post(
    "/assets",
    summary=f"Create or replace up to {MAX_BATCH_ROWS:,} assets",
    tags=["assets"],
    responses={200: {"description": "One outcome per row"}, 400: BAD_REQUEST, 413: TOO_LARGE},
    middlewares=[body_size],
)
def load_assets_route(
    rows: Annotated[list[AssetRow], Body(embed=False, description="Assets as in PUT /assets/{id}")],
) -> BatchReport:
    """Valid rows are stored even when others are rejected; each rejected row says which field and why.

    Each row is `created`, `updated`, `unchanged` (stored with this content already: nothing is
    written, so re-sending a whole export costs no writes and the next push skips it) or `rejected`;
    `counts` adds them up. A row naming a researcher id nobody has is stored with `warnings` (row,
    field, reason): the researcher may be loaded later.
    """
    report = load_assets(composition.asset_store(), rows, now=utc_now(), researchers=composition.researcher_store())
    logger.info("asset batch loaded", counts=report.counts.model_dump())
    if report.counts.created or report.counts.updated:  # an unchanged re-send changed nothing: no entry, no write
        audited(router.current_event, "assets.load", after=report.counts.model_dump(mode="json"))  # never rows
    return report


@router.get(
    "/assets/<asset_id>",
    summary="An asset as stored",
    tags=["assets"],
    responses={200: {"description": "The asset"}, 404: NOT_FOUND},
)
def get_asset_route(asset_id: IdInPath) -> Asset:
    return get_asset(composition.asset_store(), asset_id)


@router.delete(
    "/assets/<asset_id>",
    summary="Delete an asset",
    tags=["assets"],
    responses={204: {"description": "Deleted"}, 404: NOT_FOUND},
)
def delete_asset_route(asset_id: IdInPath) -> Response[None]:
    """The next push removes the ORCID works made from it."""
    delete_asset(composition.asset_store(), asset_id)
    logger.info("asset deleted", asset_id=asset_id)
    audited(router.current_event, "asset.delete", asset_id)
    return Response(status_code=204)
