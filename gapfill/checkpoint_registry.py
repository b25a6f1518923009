"""Which MALT checkpoint repairs a camera, and its row in the catalog's `models` table.

Every clip names the exact model that made it by the sha256 of its checkpoint folder (config +
weights, gapfill.network.checkpoint.checkpoint_sha256), so a model is registered before its first
repair, with a `model` provenance event. A camera with a fine-tuned child model
(cameras.default_model_id) uses it; every other camera uses the configured `model_path`, else the
checkpoint shipped in the package.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Model
from gapfill.catalog.queries.checkpoints import model_by_name, model_by_sha256
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.network.checkpoint import checkpoint_sha256
from gapfill.network.config import CONFIG_NAME, WEIGHTS_NAME, default_checkpoint_dir, read_config
from gapfill.provenance.chain import append_event, lock_chain

DEFAULT_MODEL_NAME = "malt-default"

log = logging.getLogger("gapfill.repair")


def configured_checkpoint(settings: Settings) -> Path:
    """The checkpoint folder repairs use unless a camera has its own model."""
    folder = settings.model_path or default_checkpoint_dir()
    if not (folder / WEIGHTS_NAME).is_file() or not (folder / CONFIG_NAME).is_file():
        raise UserError(f"{folder}: not a MALT checkpoint (needs {CONFIG_NAME} and {WEIGHTS_NAME})")
    read_config(folder)  # refuses a checkpoint of the wrong format version, in one line
    return folder


def register_model(
    session: Session,
    folder: Path,
    actor: str,
    *,
    name: str | None = None,
    parent: Model | None = None,
    camera: Camera | None = None,
    training_summary: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Model:
    """The `models` row of the checkpoint in `folder`, inserted (with its event) if new.

    A row is found by its sha256: the same bytes under another path are the same model. A name
    already taken by different bytes gets the first 8 hex digits of the hash appended, so a
    retrained default never silently takes over the provenance of the old one.
    """
    folder = Path(folder).resolve()
    digest = checkpoint_sha256(folder)
    lock_chain(session)  # two workers registering the same new model must not both insert it
    existing = model_by_sha256(session, digest)
    if existing is not None:
        return existing
    if name is None:
        name = DEFAULT_MODEL_NAME if folder == default_checkpoint_dir().resolve() else folder.name
    if model_by_name(session, name) is not None:
        name = f"{name}-{digest[:8]}"
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    model = Model(
        name=name,
        sha256=digest,
        path=str(folder),
        parent_id=parent.id if parent is not None else None,
        camera_id=camera.id if camera is not None else None,
        training_summary=training_summary or {},
        metrics=metrics or {},
    )
    session.add(model)
    session.flush()
    append_event(
        session,
        "model",
        actor,
        "model",
        digest,
        {
            "name": name,
            "path": str(folder),
            "sha256": digest,
            "parent_sha256": parent.sha256 if parent is not None else None,
            "camera": camera.name if camera is not None else None,
            "config": config,
            "training_summary": training_summary or {},
        },
    )
    return model


def model_for_camera(session: Session, settings: Settings, camera: Camera, actor: str) -> Model:
    """The model that repairs `camera`: its fine-tuned child if it has one, else the default."""
    if camera.default_model_id is not None:
        model = session.get(Model, camera.default_model_id)
        if model is not None and Path(model.path).is_dir():
            return model
        # Repair goes on with the default; `gapfill verify` reports the missing model file.
        log.warning(
            "camera model missing, using the default",
            extra={"camera": camera.name, "model_id": camera.default_model_id},
        )
    return register_model(session, configured_checkpoint(settings), actor)
