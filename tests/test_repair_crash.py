"""A repair killed at any point loses nothing, and bad inputs fail one defect with a clear reason.

Crash test: a prepared site (catalog, keys, recordings with two defects) is copied 20 times; in
each copy `gapfill repair` runs in a subprocess and is SIGKILLed at a different moment spread over
the length of an uninterrupted run. After each kill: every visible clip file is a complete,
recorded clip (its row and sha256 match), originals are byte-identical; then a second
`gapfill repair` finishes the work and each defect ends with exactly one clip, verified.
SQLite only: the ordering under test is gapfill's, the same on both databases.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_detect_clips import Faults
from test_repair import BLACK, build_site, invoke
from typer.testing import CliRunner

from gapfill.catalog.db import Catalog, upgrade
from gapfill.catalog.models import Defect, SyntheticClip
from gapfill.cli import app
from gapfill.media.probe import sha256_file
from gapfill.repair import run as repair_run

KILLS = 20


def repair_env(work: Path, checkpoint: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPFILL_")}
    env.update(
        GAPFILL_DATA_DIR=str(work / "data"),
        GAPFILL_DATABASE_URL=f"sqlite:///{work / 'data' / 'catalog.sqlite3'}",
        GAPFILL_OUTPUT_DIR=str(work / "out"),
        GAPFILL_MODEL_PATH=str(checkpoint),
    )
    return env


def visible_clips(work: Path) -> list[Path]:
    return sorted(p for p in (work / "out").rglob("*.mp4") if not p.name.startswith("."))


@pytest.fixture
def template(tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site with two defects, ready to repair, that each kill copies afresh."""
    work = tmp_path / "template"
    url = f"sqlite:///{work / 'data' / 'catalog.sqlite3'}"
    (work / "data").mkdir(parents=True)
    upgrade(url)
    for key, value in repair_env(work, tiny_checkpoint).items():
        if key.startswith("GAPFILL_"):
            monkeypatch.setenv(key, value)
    build_site(
        tmp_path / "recordings",
        [None, Faults(black=[BLACK]), None, Faults(green=[(10, 22)]), None],
        monkeypatch,
    )
    return work


def test_sigkill_at_any_point_loses_nothing(
    template: Path, tmp_path: Path, tiny_checkpoint: Path
) -> None:
    originals = sorted((tmp_path / "recordings").rglob("*.mp4"))
    hashes = [sha256_file(p) for p in originals]

    def run_copy(index: int, kill_after: float | None) -> Path:
        work = tmp_path / f"run{index}"
        shutil.copytree(template, work)
        command = [sys.executable, "-m", "gapfill.cli", "repair", "--json"]
        process = subprocess.Popen(
            command, env=repair_env(work, tiny_checkpoint), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if kill_after is None:
            assert process.wait(timeout=300) == 0
        else:
            time.sleep(kill_after)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        return work

    began = time.perf_counter()
    run_copy(0, None)
    whole = time.perf_counter() - began

    for index in range(1, KILLS + 1):
        # Spread over the run, past the interpreter's start-up, up to just after its end.
        work = run_copy(index, whole * (0.3 + 0.75 * (index - 0.5) / KILLS))
        catalog = Catalog(f"sqlite:///{work / 'data' / 'catalog.sqlite3'}")
        try:
            with catalog.session() as session:
                rows = session.execute(select(SyntheticClip.path, SyntheticClip.sha256)).all()
            recorded = {path: sha256 for path, sha256 in rows}
            for clip in visible_clips(work):
                assert str(clip) in recorded, f"kill {index}: {clip} is visible but not recorded"
                assert sha256_file(clip) == recorded[str(clip)], f"kill {index}: {clip} differs"
            for path in recorded:
                final, pending = Path(path), repair_run.pending_path(Path(path))
                assert final.exists() or pending.exists(), f"kill {index}: {path} lost"

            # A re-run finishes what is recorded and redoes the rest, each defect once
            # (in this process, to save an interpreter start per kill).
            env = repair_env(work, tiny_checkpoint)
            finished = CliRunner().invoke(app, ["repair", "--json"], env=env)
            assert finished.exit_code == 0, finished.output
            with catalog.session() as session:
                assert session.scalar(select(func.count(Defect.id))) == 2
                assert set(session.scalars(select(Defect.state))) == {"repaired"}
                per_defect = session.execute(
                    select(SyntheticClip.defect_id, func.count()).group_by(SyntheticClip.defect_id)
                ).all()
            assert sorted(n for _d, n in per_defect) == [1, 1], f"kill {index}: {per_defect}"
            assert len(visible_clips(work)) == 2
            verified = CliRunner().invoke(app, ["verify", "--all"], env=env)
            assert verified.exit_code == 0, f"kill {index}: {verified.output}"
        finally:
            catalog.dispose()
        assert [sha256_file(p) for p in originals] == hashes


# --- bad inputs: one defect fails with a clear reason, nothing is lost ------------------------


@pytest.fixture
def two_defects(
    tmp_path: Path, catalog: Catalog, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> list[Path]:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    return build_site(
        tmp_path / "recordings",
        [None, Faults(black=[BLACK]), None, None, Faults(green=[(10, 22)]), None],
        monkeypatch,
    )


def repair_and_fail(capsys: pytest.CaptureFixture[str]) -> str:
    from gapfill.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["repair"])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def states() -> list[str]:
    return [row["state"] for row in invoke("defects", "--json")]


def test_a_deleted_original_fails_that_defect_only(
    two_defects: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    two_defects[0].unlink()  # context of the first defect only
    message = repair_and_fail(capsys)
    assert str(two_defects[0]) in message and "not on disk" in message
    assert states() == ["open", "repaired"]


def test_a_changed_original_is_refused(
    two_defects: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = two_defects[1].read_bytes()
    with open(two_defects[1], "ab") as handle:
        handle.write(b"tampered")
    message = repair_and_fail(capsys)
    assert str(two_defects[1]) in message and "changed since ingest" in message
    assert states() == ["open", "repaired"]
    assert two_defects[1].read_bytes() == before + b"tampered"  # read, never rewritten


def test_a_write_error_leaves_no_file_and_the_defects_open(
    two_defects: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repair_run, "write_flagged_clip", disk_full)
    message = repair_and_fail(capsys)
    assert "No space left on device" in message
    assert states() == ["open", "open"]
    assert not [p for p in Path("data").rglob("*.mp4")]
