"""One page of a listing and the count of the whole listing, for the API's offset paging."""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


class Page(NamedTuple, Generic[Row]):
    items: list[Row]
    total: int


def page(session: Session, query: Select[Any], limit: int, offset: int) -> Page[Any]:
    """Rows `offset`..`offset + limit` of `query` and how many rows it has in all."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(session.scalars(query.limit(limit).offset(offset)).all())
    return Page(items, total or 0)
