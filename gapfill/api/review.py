"""Approve or reject a synthetic clip: the clip row and a `review` provenance event change in one
transaction, so the chain never records a decision the catalog lacks, or the other way round.

The update is conditional on the state the reviewer saw (`WHERE review_state = :seen`), so two
engineers deciding at once cannot both win: the second gets 409 and reloads.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam

from gapfill.api.auth import catalog_of, require
from gapfill.api.schemas import MAX_INT, ErrorOut, ReviewIn, ReviewOut, errors
from gapfill.api.tokens import Principal
from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import CLIP_SUBJECT, REVIEW_ACTION
from gapfill.catalog.queries.clips import clip_by_id, set_review
from gapfill.provenance.chain import append_event

Decision = Literal["approved", "rejected"]

router = APIRouter(
    prefix="/api/clips", tags=["review"], responses=errors(400, 401, 403, 404, 409, 413)
)
Reviewer = Annotated[Principal, Depends(require("review"))]


def review_clip(
    catalog: Catalog, clip_id: int, decision: Decision, comment: str | None, user: Principal
) -> ReviewOut:
    """Record `user`'s decision on clip `clip_id`. A rejection needs a comment saying why."""
    comment = (comment or "").strip() or None
    if decision == "rejected" and comment is None:
        raise HTTPException(400, "comment: say why the reconstruction is rejected")
    now = dt.datetime.now(dt.UTC)
    with catalog.session() as session:
        clip = clip_by_id(session, clip_id)
        if clip is None:
            raise HTTPException(404, f"no synthetic clip {clip_id}")
        seen = clip.review_state
        if seen == decision:
            raise HTTPException(409, f"clip {clip_id} is already {decision}")
        if not set_review(session, clip_id, seen, decision, user.user_id, now, comment):
            raise HTTPException(409, f"clip {clip_id} was reviewed meanwhile; reload it")
        event = append_event(
            session,
            REVIEW_ACTION,
            user.name,
            CLIP_SUBJECT,
            clip.provenance_id,
            {
                "clip_id": clip_id,
                "decision": decision,
                "previous_state": seen,
                "comment": comment,
                "reviewer_role": user.role,
                "reviewed_at": now.isoformat(timespec="microseconds"),
                "clip_sha256": clip.sha256,
            },
        )
        seq = event.seq
    return ReviewOut(
        clip_id=clip_id,
        review_state=decision,
        reviewer=user.name,
        reviewed_at=now,
        review_comment=comment,
        provenance_seq=seq,
    )


ClipId = Annotated[int, PathParam(ge=1, le=MAX_INT, description="synthetic_clips.id")]


@router.post(
    "/{clip_id}/approve",
    response_model=ReviewOut,
    summary="Approve a reconstruction (engineer, admin)",
    responses={409: {"model": ErrorOut, "description": "Already approved, or reviewed meanwhile."}},
)
def approve(
    request: Request, clip_id: ClipId, user: Reviewer, body: ReviewIn | None = None
) -> ReviewOut:
    return review_clip(
        catalog_of(request), clip_id, "approved", body.comment if body else None, user
    )


@router.post(
    "/{clip_id}/reject",
    response_model=ReviewOut,
    summary="Reject a reconstruction with a comment (engineer, admin)",
    responses={409: {"model": ErrorOut, "description": "Already rejected, or reviewed meanwhile."}},
)
def reject(request: Request, clip_id: ClipId, user: Reviewer, body: ReviewIn) -> ReviewOut:
    return review_clip(catalog_of(request), clip_id, "rejected", body.comment, user)
