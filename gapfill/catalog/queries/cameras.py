"""Cameras by name, their names, and the `gapfill cameras` statistics."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Recording
from gapfill.errors import UserError


def camera_by_name(session: Session, name: str) -> Camera | None:
    return session.scalar(select(Camera).where(Camera.name == name))


def camera_id(session: Session, name: str) -> int | None:
    """The id of the camera called `name`, or None when there is none."""
    return session.scalar(select(Camera.id).where(Camera.name == name))


def option_camera_id(session: Session, name: str | None) -> int | None:
    """The id of the camera a command's --camera names (None when not given); an unknown name is
    refused in one line rather than answered with an empty listing for a typo."""
    if name is None:
        return None
    found = camera_id(session, name)
    if found is None:
        raise UserError(f"--camera: no camera named {name!r} in the catalog")
    return found


def camera_names(session: Session, name: str | None = None) -> list[str]:
    """Every camera's name in order (only `name`'s, if it exists, when given)."""
    query = select(Camera.name).order_by(Camera.name)
    if name is not None:
        query = query.where(Camera.name == name)
    return list(session.scalars(query))


def cameras(session: Session, name: str | None = None) -> list[Camera]:
    """Cameras by name (only the one called `name` when given; empty if there is none)."""
    query = select(Camera).order_by(Camera.name)
    if name is not None:
        query = query.where(Camera.name == name)
    return list(session.scalars(query))


def camera_recording_stats(
    session: Session,
) -> list[tuple[Camera, int, dt.datetime | None, dt.datetime | None]]:
    """(camera, recordings, first start, last end) for every camera, by name."""
    rows = session.execute(
        select(
            Camera,
            func.count(Recording.id),
            func.min(Recording.start_time),
            func.max(Recording.end_time),
        )
        .outerjoin(Recording, Recording.camera_id == Camera.id)
        .group_by(Camera.id)
        .order_by(Camera.name)
    ).all()
    return [(cam, count, first, last) for cam, count, first, last in rows]
