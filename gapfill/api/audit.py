"""The auditor's endpoints: the audit window (JSON or CSV, the same rows as `gapfill audit`) and
verification of one clip. Both reuse gapfill.provenance; nothing here queries on its own."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from gapfill.api.auth import catalog_of, require
from gapfill.api.schemas import MAX_INT, AuditRow, VerifyOut, errors
from gapfill.api.tokens import Principal
from gapfill.catalog.queries.clips import clip_path
from gapfill.errors import UserError
from gapfill.provenance.audit import audit_rows, write_audit_csv
from gapfill.times import parse_time

router = APIRouter(prefix="/api", tags=["audit"], responses=errors(401, 403))
Auditor = Annotated[Principal, Depends(require("audit"))]
Verifier = Annotated[Principal, Depends(require("verify"))]
CameraQ = Annotated[str | None, Query(max_length=128, description="Only this camera.")]
FromQ = Annotated[
    str | None, Query(alias="from", max_length=64, description="Window start: ISO 8601 or an age.")
]
ToQ = Annotated[str | None, Query(max_length=64, description="Window end: ISO 8601 or an age.")]


def window(from_: str | None, to: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Parse a window as `gapfill audit --from/--to` does (400 on a bad time)."""
    try:
        start = parse_time(from_, "from") if from_ else None
        end = parse_time(to, "to") if to else None
    except UserError as exc:
        raise HTTPException(400, str(exc)) from None
    if start is not None and end is not None and end <= start:
        raise HTTPException(400, f"to: {to!r} is not after from {from_!r}")
    return start, end


def query_rows(
    request: Request, camera: str | None, from_: str | None, to: str | None
) -> list[dict[str, Any]]:
    start, end = window(from_, to)
    try:
        with catalog_of(request).session() as session:
            return audit_rows(session, camera or None, start, end)
    except UserError as exc:
        raise HTTPException(404, str(exc).removeprefix("--camera: ")) from None


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """Byte for byte what `gapfill audit --csv` prints for the same rows."""
    buffer = io.StringIO()
    write_audit_csv(rows, buffer)
    return buffer.getvalue()


@router.get(
    "/audit",
    response_model=list[AuditRow],
    summary="Synthetic frame ranges in a window, with model, inputs and review (auditor, admin)",
    responses=errors(400, 404),
)
def audit_json(
    request: Request, _user: Auditor, camera: CameraQ = None, from_: FromQ = None, to: ToQ = None
) -> list[dict[str, Any]]:
    return query_rows(request, camera, from_, to)


@router.get(
    "/audit.csv",
    response_class=Response,
    summary="The same rows as CSV, identical to `gapfill audit --csv` (auditor, admin)",
    responses={200: {"content": {"text/csv": {}}}, **errors(400, 404)},
)
def audit_csv(
    request: Request, _user: Auditor, camera: CameraQ = None, from_: FromQ = None, to: ToQ = None
) -> Response:
    body = rows_csv(query_rows(request, camera, from_, to))
    name = f"gapfill-audit-{camera or 'all'}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_safe_filename(name)}"'},
    )


@router.get(
    "/clips/{clip_id}/verify",
    response_model=VerifyOut,
    summary="Re-hash one clip, its originals and model; check C2PA, sidecar and chain "
    "(auditor, admin)",
    responses=errors(404),
)
def verify_clip(
    request: Request, clip_id: Annotated[int, PathParam(ge=1, le=MAX_INT)], _user: Verifier
) -> dict[str, Any]:
    from gapfill.provenance.verify import verify

    catalog = catalog_of(request)
    with catalog.session() as session:
        path = clip_path(session, clip_id)
    if path is None:
        raise HTTPException(404, f"no synthetic clip {clip_id}")
    # The path comes from the catalog row, never from the request; verify only hashes files and
    # reports mismatches, it returns no file content.
    try:
        report = verify(catalog, request.app.state.settings, path=path, all_clips=False)
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    return report.to_json()


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
