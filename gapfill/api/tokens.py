"""Users and their API tokens: create, list, revoke, look up. Shared by `gapfill users` and the
admin endpoints, so the rules (name syntax, hash-only storage, attribution) live in one place.

A token is shown once, when it is made; the catalog keeps only its SHA-256 (api_tokens.
token_sha256) and its first characters (prefix), so a stolen database does not give anyone access.
Creating and revoking users appends a provenance event naming who did it: every write is
attributed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gapfill.catalog.models import ROLES, ApiToken, User
from gapfill.catalog.queries import users as users_q
from gapfill.errors import UserError
from gapfill.provenance.chain import append_event

# Recognisable in logs and secret scanners; 32 random bytes behind it.
TOKEN_PREFIX = "gf_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
# last_used_at is bookkeeping, not security: write it at most this often per token so that a
# busy reader does not turn every GET into a database write.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The only form of a token the catalog stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UserError(
            f"user name {name!r}: use 1-128 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Principal:
    """Who is making a request, as the API sees it."""

    user_id: int
    name: str
    role: str
    token_id: int


def issue_token(session: Session, user: User, label: str | None = None) -> str:
    """A fresh token for `user`; the caller shows it once and never again."""
    token = new_token()
    session.add(
        ApiToken(
            user_id=user.id,
            token_sha256=hash_token(token),
            prefix=token[: len(TOKEN_PREFIX) + 5],
            label=label,
        )
    )
    session.flush()
    return token


def create_user(session: Session, name: str, role: str, actor: str) -> tuple[User, str]:
    """A new user with one token. Returns (user, token)."""
    check_name(name)
    check_role(role)
    if users_q.user_exists(session, name):
        raise UserError(f"user {name!r} already exists (give it a new token: gapfill users token)")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    token = issue_token(session, user, label="created with the user")
    append_event(session, "user", actor, "user", name, {"op": "add", "role": role})
    return user, token


def new_token_for(session: Session, name: str, actor: str) -> str:
    """Another token for an existing user (re-enabling a revoked user)."""
    user = _user(session, name)
    user.disabled = False
    token = issue_token(session, user, label=f"issued by {actor}")
    append_event(session, "user", actor, "user", name, {"op": "token", "role": user.role})
    return token


def revoke_user(session: Session, name: str, actor: str) -> int:
    """Disable `name` and revoke all its live tokens (its browser sessions die with them).
    Returns how many tokens were revoked."""
    user = _user(session, name)
    now = dt.datetime.now(dt.UTC)
    revoked = users_q.revoke_tokens(session, user.id, now)
    user.disabled = True
    append_event(session, "user", actor, "user", name, {"op": "revoke", "tokens": revoked})
    return revoked


def list_users(session: Session) -> list[dict[str, object]]:
    rows = []
    for user in users_q.users(session):
        live = [t for t in user.tokens if t.revoked_at is None]
        used = [t.last_used_at for t in user.tokens if t.last_used_at is not None]
        rows.append(
            {
                "name": user.name,
                "role": user.role,
                "disabled": user.disabled,
                "live_tokens": len(live),
                "token_prefixes": ",".join(t.prefix for t in live),
                "last_used_at": max(used) if used else None,
                "created_at": user.created_at,
            }
        )
    return rows


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The live user a bearer token belongs to, or None (unknown, revoked, user disabled)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = users_q.token_by_hash(session, hash_token(token))
    if found is None:
        return None
    api_token, user = found
    if api_token.revoked_at is not None or user.disabled:
        return None
    now = dt.datetime.now(dt.UTC)
    if api_token.last_used_at is None or now - api_token.last_used_at > _LAST_USED_RESOLUTION:
        api_token.last_used_at = now
    return Principal(user.id, user.name, user.role, api_token.id)


def principal_for_session(session: Session, user_id: int, token_id: int) -> Principal | None:
    """The user of a browser session, provided the token it logged in with is still live."""
    found = users_q.token_of_user(session, token_id, user_id)
    if found is None:
        return None
    api_token, user = found
    if api_token.revoked_at is not None or user.disabled:
        return None
    return Principal(user.id, user.name, user.role, api_token.id)


def _user(session: Session, name: str) -> User:
    user = users_q.user_by_name(session, name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    return user
