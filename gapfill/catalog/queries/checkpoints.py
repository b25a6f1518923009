"""Rows of the models table: the MALT checkpoints clips name, by hash and by name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gapfill.catalog.models import Model


def model_by_sha256(session: Session, sha256: str) -> Model | None:
    return session.scalar(select(Model).where(Model.sha256 == sha256))


def model_by_name(session: Session, name: str) -> Model | None:
    return session.scalar(select(Model).where(Model.name == name))


def all_models(session: Session) -> list[Model]:
    return list(session.scalars(select(Model).order_by(Model.id)))
