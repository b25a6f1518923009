"""API users and their tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gapfill.catalog.models import ApiToken, User


def user_by_name(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def user_exists(session: Session, name: str) -> bool:
    return session.scalar(select(User.id).where(User.name == name)) is not None


def users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def revoke_tokens(session: Session, user_id: int, now: dt.datetime) -> int:
    """Revoke the user's live tokens; returns how many there were."""
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    return int(revoked or 0)


def token_by_hash(session: Session, token_sha256: str) -> tuple[ApiToken, User] | None:
    """The token with this hash and its user, revoked or not."""
    found = session.execute(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == token_sha256)
    ).first()
    return (found[0], found[1]) if found else None


def token_of_user(session: Session, token_id: int, user_id: int) -> tuple[ApiToken, User] | None:
    """Token `token_id` with its user, if it belongs to user `user_id` (revoked or not)."""
    found = session.execute(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.id == token_id, User.id == user_id)
    ).first()
    return (found[0], found[1]) if found else None
