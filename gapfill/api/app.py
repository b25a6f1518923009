"""The FastAPI application: `create_app(settings)` wires the catalog, the routers, the review UI
and the protections every response gets (security headers, request size limit, one-line JSON
errors).

OpenAPI is at /api/openapi.json. The interactive Swagger/ReDoc pages are off: they load scripts
from a CDN, which the Content-Security-Policy (rightly) forbids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gapfill.api import admin, audit, browse, clip_media, pages, review
from gapfill.api.auth import (
    SESSION_COOKIE,
    LoginRateLimiter,
    LoginRequired,
    SessionSigner,
    session_secret,
)
from gapfill.api.clip_media import FrameStore
from gapfill.api.schemas import ErrorOut, errors
from gapfill.catalog.db import Catalog, open_catalog
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.version import __version__

STATIC_DIR = Path(__file__).parent / "static"
# Forms and small JSON bodies only: nothing the API accepts is anywhere near this.
MAX_BODY_BYTES = 1 << 20

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}

TAGS = [
    {"name": "auth", "description": "Who the caller is. Send `Authorization: Bearer <token>`."},
    {"name": "catalog", "description": "Cameras, recordings, defects, repair jobs, models."},
    {"name": "clips", "description": "Synthetic clips and the exact synthetic frame spans."},
    {"name": "media", "description": "Clip video (HTTP Range) and single decoded frames, by id."},
    {"name": "review", "description": "Approve or reject a reconstruction (engineer, admin)."},
    {"name": "audit", "description": "Audit window as JSON/CSV, and verification (auditor)."},
    {"name": "provenance", "description": "The append-only, hash-chained event log."},
    {"name": "users", "description": "Users and tokens (admin)."},
]


class SecurityHeadersMiddleware:
    """Adds the security headers to every response (a route may still set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                # Catalog data is not for shared caches; static files may be cached.
                if not scope["path"].startswith("/static/"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """413 for a request body over `limit` bytes, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            response = JSONResponse(
                {"detail": f"request body too large (limit {self.limit} bytes)"}, status_code=413
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"request body too large (limit {self.limit} bytes)")
            return message

        await self.app(scope, counting_receive, send)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _one_line(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    loc = first.get("loc", ())
    if first.get("type") == "json_invalid":
        loc = ("body",)  # the rest of its loc is a character position, not a field
    where = ".".join(str(p) for p in loc if p != "body") or ("body" if loc else "request")
    more = len(exc.errors()) - 1
    return f"{where}: {first.get('msg', 'invalid')}" + (f" (and {more} more)" if more else "")


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    cookie_secure: bool = True,
    login_attempts: int = 10,
    login_window_s: float = 60.0,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The API and review UI for one installation.

    cookie_secure=False drops the Secure flag of the session cookie, for plain http on
    127.0.0.1 only (tests, a local demo); anything reachable from a network must use https.
    """
    owned = catalog is None
    catalog = catalog or open_catalog(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            catalog.dispose()

    app = FastAPI(
        title="gapfill",
        version=__version__,
        description="Review and audit of synthetic reconstructions of equipment-camera "
        "recordings. Every synthetic frame is flagged; every review is a provenance event.",
        openapi_tags=TAGS,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.signer = SessionSigner(session_secret(settings))
    app.state.cookie_secure = cookie_secure
    app.state.login_limiter = LoginRateLimiter(login_attempts, login_window_s)
    app.state.frames = FrameStore()

    for module in (browse, clip_media, review, audit, admin, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # For load balancers and Kubernetes probes: no token, no body worth guarding, and left out of
    # the OpenAPI document because it is not part of the API a client programs against.
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            catalog.require_schema()  # reachable, and migrated to the schema this code needs
        except UserError as exc:
            return JSONResponse({"status": "unhealthy", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    app.add_middleware(BodyLimitMiddleware, limit=max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    _install_error_handlers(app)
    _document_errors_and_auth(app)
    return app


def _document_errors_and_auth(app: FastAPI) -> None:
    """Make the OpenAPI document say what the API really does.

    - A validation error is answered with `{"detail": "<one line>"}` (the handler below), not
      FastAPI's list of error objects, so every 422 points at ErrorOut.
    - Every operation takes a bearer token or a session cookie; the schemes are declared so
      that clients and generators know how to authenticate.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # FastAPI caches this dict in app.openapi_schema
        components = schema.setdefault("components", {})
        models = components.setdefault("schemas", {})
        models.setdefault("ErrorOut", ErrorOut.model_json_schema())
        for name in ("HTTPValidationError", "ValidationError"):
            models.pop(name, None)
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token."},
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"session": []}]
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None:
                    invalid["description"] = errors(422)[422]["description"]
                    invalid["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers: dict[str, Any] = dict(exc.headers or {})
        if _wants_html(request):
            page = pages.render(
                request,
                "error.html",
                {"status": exc.status_code, "detail": exc.detail},
                status_code=exc.status_code,
            )
            page.headers.update(headers)  # e.g. Retry-After of the login rate limit
            return page
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(UserError)
    async def _user_error(_request: Request, exc: UserError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)
