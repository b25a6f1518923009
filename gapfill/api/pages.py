"""Server-rendered pages: login, review queue, clip review, audit. Templates under templates/,
one script and one stylesheet under static/; nothing is loaded from another origin.

Pages use the same role rules as the API. Forms that write carry the session's CSRF token; the
login form carries a double-submit token (cookie + field) so another site cannot log a browser in
under someone else's token.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gapfill.api.auth import (
    LOGIN_CSRF_COOKIE,
    PERMISSIONS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    catalog_of,
    client_address,
    new_session,
    require,
    session_csrf,
)
from gapfill.api.browse import clip_detail, clip_rows
from gapfill.api.review import review_clip
from gapfill.api.tokens import Principal, principal_for_token
from gapfill.catalog.queries.cameras import camera_names
from gapfill.fill.fill_gap import describe_model_change

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Rows per review queue page: enough to work through, small enough to render at once.
QUEUE_PAGE = 50


def _utc(value: dt.datetime | None) -> str:
    """Times on pages: UTC, to the millisecond (frames at 30 fps are 33 ms apart)."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


TEMPLATES.env.filters["utc"] = _utc
TEMPLATES.env.filters["model_change"] = describe_model_change
router = APIRouter(include_in_schema=False)
PageReader = Annotated[Principal, Depends(require("read", page=True))]
PageReviewer = Annotated[Principal, Depends(require("review", page=True))]
PageAuditor = Annotated[Principal, Depends(require("audit", page=True))]


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    user: Principal | None = getattr(request.state, "principal", None)
    base = {
        "user": user,
        "csrf_token": session_csrf(request),
        "can": {p: user is not None and user.role in r for p, r in PERMISSIONS.items()},
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _local(target: str | None) -> str | None:
    """Only same-site paths are followed after login: no open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _home(role: str) -> str:
    return "/audit" if role == "auditor" else "/queue"


@router.get("/", response_class=HTMLResponse)
def index(user: PageReader) -> Response:
    return RedirectResponse(_home(user.role), status_code=303)


def _login_page(
    request: Request, next: str | None, error: str | None = None, status_code: int = 200
) -> Response:
    """The login form with a fresh double-submit token (cookie + hidden field)."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "next": _local(next) or "", "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.app.state.cookie_secure,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    wait = request.app.state.login_limiter.check(client_address(request))
    if wait is not None:
        raise HTTPException(
            429,
            f"too many login attempts; try again in {int(wait)} s",
            headers={"Retry-After": str(int(wait))},
        )
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise HTTPException(403, "login form expired or forged: reload the login page")
    with catalog_of(request).session() as session:
        principal = principal_for_token(session, token.strip())
    if principal is None or (name.strip() and name.strip() != principal.name):
        # One message for every failure: do not tell a guesser which part was wrong.
        return _login_page(request, next, "Login failed.", status_code=401)
    response = RedirectResponse(_local(next) or _home(principal.role), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.signer.dumps(new_session(principal)),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.app.state.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, _user: PageReader) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    _user: PageReader,
    camera: Annotated[str, Query(max_length=128)] = "",
    after: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Pending clips, oldest first, QUEUE_PAGE at a time: "Next page" carries the cursor of the
    last row shown (keyset paging), so a deep page costs what the first one does."""
    with catalog_of(request).session() as session:
        cameras = camera_names(session)
        page = clip_rows(session, camera or None, "pending", limit=QUEUE_PAGE, after=after or None)
    filters = {"camera": camera} if camera else {}
    return render(
        request,
        "queue.html",
        {
            "clips": page.rows,
            "total": page.total,
            "cameras": cameras,
            "camera": camera,
            "first_url": "/queue" + (f"?{urlencode(filters)}" if filters else ""),
            "next_url": (
                f"/queue?{urlencode({**filters, 'after': page.next_after})}"
                if page.next_after
                else None
            ),
            "paged": bool(after),
        },
    )


@router.get("/clips/{clip_id}", response_class=HTMLResponse)
def clip_page(
    request: Request,
    clip_id: Annotated[int, PathParam(ge=1)],
    _user: PageReader,
    error: str | None = None,
) -> Response:
    clip = clip_detail(request, clip_id)
    player = {
        "id": clip["id"],
        "fps": clip["fps"],
        "frame_count": clip["frame_count"],
        "start_time": clip["start_time"].isoformat(),
        "spans": [
            {"frame_start": s["frame_start"], "frame_end": s["frame_end"]} for s in clip["spans"]
        ],
    }
    return render(
        request,
        "clip.html",
        {"clip": clip, "player_json": json.dumps(player), "error": error},
    )


@router.post("/clips/{clip_id}/review", response_class=HTMLResponse)
def review_form(
    request: Request,
    clip_id: Annotated[int, PathParam(ge=1)],
    user: PageReviewer,
    decision: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if decision not in ("approved", "rejected"):
        raise HTTPException(400, "decision: must be approved or rejected")
    try:
        review_clip(catalog_of(request), clip_id, decision, comment, user)  # type: ignore[arg-type]
    except HTTPException as exc:
        if exc.status_code not in (400, 409):
            raise
        # Show the reason on the page the engineer is looking at.
        return clip_page(request, clip_id, user, error=str(exc.detail))
    return RedirectResponse(f"/clips/{clip_id}", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    _user: PageAuditor,
    camera: Annotated[str, Query(max_length=128)] = "",
    from_: Annotated[str, Query(alias="from", max_length=64)] = "",
    to: Annotated[str, Query(max_length=64)] = "",
    run: str = "",
) -> Response:
    from gapfill.api.audit import query_rows

    with catalog_of(request).session() as session:
        cameras = camera_names(session)
    rows: list[dict[str, Any]] | None = None
    error = None
    if run:
        try:
            rows = query_rows(request, camera or None, from_ or None, to or None)
        except HTTPException as exc:
            error = str(exc.detail)
    params = {k: v for k, v in {"camera": camera, "from": from_, "to": to}.items() if v}
    return render(
        request,
        "audit.html",
        {
            "cameras": cameras,
            "camera": camera,
            "from_": from_,
            "to": to,
            "rows": rows,
            "error": error,
            "query": params,
        },
    )
