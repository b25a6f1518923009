"""Who is asking, and may they: bearer tokens, signed browser sessions, CSRF, roles, login rate.

Two ways in:
- `Authorization: Bearer gf_...` (scripts). Not ambient, so no CSRF check is needed.
- A session cookie set by POST /login (browsers): HMAC-SHA256-signed with the site secret,
  HTTP-only, SameSite=Strict, Secure unless switched off for plain-http tests. It carries the
  token id it was opened with, so revoking the token ends the session. Because a browser sends
  the cookie by itself, every cookie-authenticated write must also carry the session's CSRF token
  (form field `csrf_token` or header `X-CSRF-Token`): a page on another site cannot read it.

Roles: viewer reads; engineer reads and reviews; auditor reads, exports audits and verifies;
admin does everything, including users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request

from gapfill.api.tokens import Principal, principal_for_session, principal_for_token
from gapfill.catalog.db import Catalog
from gapfill.config import Settings

SESSION_COOKIE = "gapfill_session"
LOGIN_CSRF_COOKIE = "gapfill_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"viewer", "engineer", "auditor", "admin"}),
    "review": frozenset({"engineer", "admin"}),
    "audit": frozenset({"auditor", "admin"}),
    "verify": frozenset({"auditor", "admin"}),
    "users": frozenset({"admin"}),
}
# How a refusal names what was refused.
_DOING = {
    "read": "read the catalog",
    "review": "review clips",
    "audit": "export audits",
    "verify": "verify clips",
    "users": "manage users",
}


class LoginRequired(Exception):
    """A page was asked for without a session: the browser is sent to the login page."""


def session_secret(settings: Settings) -> bytes:
    """settings.secret_key, or a random key generated once into data_dir (mode 0600) so that
    sessions survive a restart without anyone having to configure one."""
    configured = settings.secret_key.get_secret_value()
    if configured:
        return configured.encode("utf-8")
    path = Path(settings.data_dir) / "session.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes starting together must not each write their own key.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex())
    return key


class SessionSigner:
    """Sign and check session cookie values: base64url(JSON) + "." + base64url(HMAC-SHA256)."""

    def __init__(self, secret: bytes) -> None:
        # A purpose-bound key: the site secret may sign other things one day.
        self._key = hmac.new(secret, b"gapfill session cookie v1", hashlib.sha256).digest()

    def dumps(self, data: dict[str, Any]) -> str:
        body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def loads(self, value: str) -> dict[str, Any] | None:
        if not value.isascii():
            return None  # never one of ours (and the MAC below needs ASCII): no session
        body, _, signature = value.partition(".")
        try:
            given = _unb64(signature)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or float(data.get("exp", 0)) < time.time():
            return None
        return data

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError("bad base64") from exc


def new_session(principal: Principal) -> dict[str, Any]:
    return {
        "uid": principal.user_id,
        "tid": principal.token_id,
        "csrf": secrets.token_urlsafe(24),
        "exp": int(time.time()) + SESSION_SECONDS,
    }


class LoginRateLimiter:
    """At most `attempts` logins per `window` seconds from one client address (in-process: each
    server process counts its own, which still bounds token guessing to a crawl)."""

    def __init__(self, attempts: int = 10, window: float = 60.0) -> None:
        self.attempts = attempts
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> float | None:
        """Record an attempt; None if allowed, else seconds until the next one is."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:  # forget idle addresses so memory stays bounded
                for key in [k for k, q in self._seen.items() if not q or q[-1] < now - self.window]:
                    del self._seen[key]
            recent = self._seen.setdefault(address, deque())
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.attempts:
                return max(1.0, recent[0] + self.window - now)
            recent.append(now)
            return None


def catalog_of(request: Request) -> Catalog:
    return request.app.state.catalog


def _authenticate(request: Request) -> tuple[Principal, dict[str, Any] | None] | None:
    """(principal, session data or None for bearer) or None when not authenticated."""
    header = request.headers.get("authorization")
    catalog = catalog_of(request)
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "Authorization header must be 'Bearer <token>'")
        with catalog.session() as session:
            principal = principal_for_token(session, token.strip())
        if principal is None:
            raise HTTPException(401, "invalid or revoked token")
        return principal, None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    data = request.app.state.signer.loads(cookie)
    if data is None:
        return None
    with catalog.session() as session:
        principal = principal_for_session(session, int(data["uid"]), int(data["tid"]))
    return (principal, data) if principal is not None else None


def current_principal(request: Request) -> Principal:
    """The authenticated caller of an API route; 401 otherwise."""
    found = _authenticate(request)
    if found is None:
        raise HTTPException(
            401, "not authenticated: send 'Authorization: Bearer <token>' or log in"
        )
    request.state.principal, request.state.session = found
    return found[0]


def page_principal(request: Request) -> Principal:
    """Like current_principal, but a page without a session redirects to /login."""
    try:
        found = _authenticate(request)
    except HTTPException:
        found = None
    if found is None:
        raise LoginRequired()
    request.state.principal, request.state.session = found
    return found[0]


def session_csrf(request: Request) -> str:
    """The CSRF token pages embed in their forms (empty for bearer requests)."""
    data = getattr(request.state, "session", None)
    return str(data["csrf"]) if data else ""


async def check_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated write that does not carry the session's CSRF token."""
    data = getattr(request.state, "session", None)
    if data is None or request.method in SAFE_METHODS:
        return  # bearer tokens are not sent by browsers on their own
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, str(data["csrf"])):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


def require(permission: str, page: bool = False) -> Callable[..., Any]:
    """A dependency giving the caller if their role has `permission` (403 otherwise); writes
    made with a session cookie must also pass the CSRF check."""
    allowed = PERMISSIONS[permission]
    who = page_principal if page else current_principal

    async def dependency(request: Request, principal: Principal = Depends(who)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                403,
                f"role {principal.role} may not {_DOING[permission]} (needs one of "
                f"{', '.join(sorted(allowed))})",
            )
        await check_csrf(request)
        return principal

    return dependency


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
