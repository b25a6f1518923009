"""Workers finish what a crash cut off, as `gapfill repair` does before a batch: a clip whose rows
were committed but which a kill left under its pending name without a sidecar is renamed into place
and gets its sidecar back; stale partial files go, the pending file of a recorded clip never does;
several workers recovering at once do it once and never trip over each other. Runs on SQLite and
PostgreSQL (the `catalog` fixture)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

from sqlalchemy import update
from test_verify import Repaired, lines, make_repaired_clip, make_settings

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import SyntheticClip
from gapfill.config import Settings
from gapfill.jobs import recovery
from gapfill.jobs.worker import Worker, WorkerOptions
from gapfill.provenance.sidecar import sidecar_path
from gapfill.repair.run import finish_interrupted, pending_path


def crash_after_commit(catalog: Catalog, clip: Repaired, age: dt.timedelta) -> Path:
    """The state a repair killed between its commit and its rename leaves (run.py, step 5):
    rows and repair event recorded, the file still under its pending name, no sidecar."""
    pending = pending_path(clip.clip_path)
    os.replace(clip.clip_path, pending)
    sidecar_path(clip.clip_path).unlink()
    with catalog.session() as session:
        session.execute(
            update(SyntheticClip)
            .where(SyntheticClip.id == clip.clip_id)
            .values(created_at=dt.datetime.now(dt.UTC) - age)
        )
        session.commit()
    return pending


def site(catalog: Catalog, tmp_path: Path) -> tuple[Settings, Repaired]:
    settings = make_settings(catalog, tmp_path)
    return settings, make_repaired_clip(catalog, settings, tmp_path)


def test_a_starting_worker_finishes_a_clip_a_crash_left_pending(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings, clip = site(catalog, tmp_path)
    pending = crash_after_commit(catalog, clip, age=dt.timedelta(minutes=5))
    assert lines(catalog, settings, path=clip.clip_path)  # the clip is missing until recovered

    stop = threading.Event()
    stop.set()  # stopped before its first claim: it still recovers when it starts
    Worker(catalog, settings, WorkerOptions(name="w1"), stop=stop).run()

    assert clip.clip_path.exists() and not pending.exists()
    assert sidecar_path(clip.clip_path).exists()
    assert lines(catalog, settings, path=clip.clip_path) == []
    assert lines(catalog, settings, all_clips=True) == []


def test_a_clip_being_published_right_now_is_left_to_its_worker(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings, clip = site(catalog, tmp_path)
    pending = crash_after_commit(catalog, clip, age=dt.timedelta(seconds=1))

    done = recovery.recover_interrupted(catalog, settings)

    assert done.ran and done.finished == []
    assert pending.exists() and not clip.clip_path.exists()


def test_stale_parts_go_but_a_recorded_clip_s_pending_file_stays(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings = make_settings(catalog, tmp_path)
    folder = settings.effective_output_dir / "press-01"
    folder.mkdir(parents=True)
    stale = folder / ".press-01-x.mp4.encode.abc.part"
    fresh = folder / ".press-01-y.mp4.encode.def.part"
    stale.write_bytes(b"half a clip")
    fresh.write_bytes(b"a clip being written")
    an_hour_ago = time.time() - 2 * recovery.STALE_PART_SECONDS
    os.utime(stale, (an_hour_ago, an_hour_ago))
    # A recorded clip whose pending file does not hash right is not finished (verify reports
    # it); old as it is, it is evidence, not litter.
    clip = make_repaired_clip(catalog, settings, tmp_path)
    kept = folder / pending_path(clip.clip_path).name
    with catalog.session() as session:
        session.execute(
            update(SyntheticClip)
            .where(SyntheticClip.id == clip.clip_id)
            .values(path=str(folder / clip.clip_path.name))
        )
        session.commit()
    kept.write_bytes(b"not the recorded bytes")
    os.utime(kept, (an_hour_ago, an_hour_ago))

    done = recovery.recover_interrupted(catalog, settings)

    assert done.removed == [stale]
    assert fresh.exists() and kept.exists()


def test_one_recovery_at_a_time_and_racing_finishers_do_not_fail(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings, clip = site(catalog, tmp_path)
    crash_after_commit(catalog, clip, age=dt.timedelta(minutes=5))

    # While one worker holds the recovery lock, another skips its turn and touches nothing.
    settings.effective_output_dir.mkdir(parents=True)
    with recovery._exclusive(settings.effective_output_dir / recovery.LOCK_NAME) as held:
        assert held
        assert not recovery.recover_interrupted(catalog, settings).ran
    assert not clip.clip_path.exists()

    # Without the lock (`gapfill repair` by hand next to the daemon), finishers racing for the
    # same clip: one renames it, the others find it gone and move on.
    errors: list[BaseException] = []

    def finish() -> None:
        try:
            finish_interrupted(catalog)
        except BaseException as exc:  # reported below, with the thread's result
            errors.append(exc)

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert lines(catalog, settings, all_clips=True) == []
