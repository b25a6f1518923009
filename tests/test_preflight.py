"""A start that cannot half-work (issue 29, item 5): `gapfill daemon`, `worker` and `repair` check
the catalog's schema, the signing keys, the model checkpoint and the output folder before they take
any job; each failure is one line naming the fix, exit 1, and no job is created, tried or dead.
`gapfill doctor` shows the same checks as a table or JSON. All through the real CLI entry point."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cli_run import run_cli, succeeds
from sqlalchemy import func, select, text
from test_jobs import make_defects

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Defect, RepairJob
from gapfill.config import load_settings
from gapfill.jobs import queue
from gapfill.jobs.daemon import Daemon
from gapfill.preflight import check_keys


@pytest.fixture
def ready(
    catalog: Catalog, tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Catalog:
    """A site that passes every check: catalog at head, keys made, tiny model, output folder;
    with two open defects waiting."""
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    monkeypatch.setenv("GAPFILL_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("GAPFILL_RECORDINGS_DIRS", json.dumps([str(tmp_path / "rec")]))
    monkeypatch.setenv("GAPFILL_METRICS_PORT", "0")
    make_defects(catalog, 2)
    return catalog


def _keys_init(capsys: pytest.CaptureFixture[str]) -> None:
    succeeds(capsys, "keys", "init")


def _refused_lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    code, out, err = run_cli(capsys, *args)
    assert code == 1, err
    assert out == "" and err and all(line.startswith("error: ") for line in err), err
    return err


def _untouched(catalog: Catalog, queued: int = 0) -> None:
    """No job created beyond `queued`, none tried, none dead; every defect as it was."""
    with catalog.session() as session:
        jobs = session.scalars(select(RepairJob)).all()
        assert len(jobs) == queued
        assert all(j.state == "queued" and j.attempts == 0 for j in jobs)
        states = set(session.scalars(select(Defect.state)))
    assert states == ({"queued"} if queued else {"open"})


def _corrupt_copy(source: Path, folder: Path) -> Path:
    shutil.copytree(source, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


def test_doctor_lists_every_check_and_the_fix(
    ready: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "doctor", "--json")
    assert code == 1 and err == ["error: 1 of 5 checks failed: keys"], err
    rows = {row["name"]: row for row in json.loads(out)}
    assert list(rows) == ["catalog", "keys", "model", "output", "source"]
    assert rows["keys"]["status"] == "failed"
    assert rows["keys"]["fix"] == "run `gapfill keys init`"
    assert "signer.pem: signing certificate not found" in rows["keys"]["detail"]
    assert {rows[n]["status"] for n in ("catalog", "model", "output")} == {"ok"}

    _keys_init(capsys)
    table = succeeds(capsys, "doctor")  # the table for people, exit 0
    assert "catalog" in table and "failed" not in table
    assert [r["status"] for r in json.loads(succeeds(capsys, "doctor", "--json"))] == ["ok"] * 5


@pytest.mark.parametrize("command", [["daemon", "--workers", "1"], ["worker"], ["repair"]])
def test_no_keys_refuses_every_start(
    ready: Catalog, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with ready.session() as session:
        queued = len(queue.enqueue_open(session)) if command == ["worker"] else 0
    [line] = _refused_lines(capsys, *command)
    assert line.startswith("error: keys: ") and "signer.pem: signing certificate not found" in line
    assert line.endswith("; fix: run `gapfill keys init`")
    _untouched(ready, queued)


def test_a_corrupt_checkpoint_is_refused(
    ready: Catalog,
    capsys: pytest.CaptureFixture[str],
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _keys_init(capsys)
    monkeypatch.setenv(
        "GAPFILL_MODEL_PATH", str(_corrupt_copy(tiny_checkpoint, tmp_path / "broken"))
    )
    for command in (["daemon", "--workers", "2"], ["worker"], ["repair"], ["repair", "--dry-run"]):
        [line] = _refused_lines(capsys, *command)
        assert line.startswith("error: model: ") and "model.safetensors: corrupt weights" in line
        assert "fix: set model_path to a MALT checkpoint folder" in line
    _untouched(ready)


def test_an_unwritable_output_folder_is_refused(
    ready: Catalog,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file where a parent folder should be: unwritable for root too (the tests run as root,
    who ignores permission bits)."""
    _keys_init(capsys)
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("GAPFILL_OUTPUT_DIR", str(tmp_path / "a-file" / "out"))
    for command in (["daemon"], ["worker"], ["repair"]):
        [line] = _refused_lines(capsys, *command)
        assert line.startswith(f"error: output: {tmp_path / 'a-file' / 'out'}: not writable")
        assert line.endswith("; fix: set output_dir to a writable folder")
    assert run_cli(capsys, "repair", "--dry-run", "--json")[0] == 0  # writes nothing: allowed
    _untouched(ready)


def test_too_little_free_disk_is_refused(
    ready: Catalog, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _keys_init(capsys)
    monkeypatch.setenv("GAPFILL_MIN_FREE_DISK_MB", str(2**40))
    [line] = _refused_lines(capsys, "worker")
    assert line.startswith("error: output: ") and "MiB free, min_free_disk_mb is" in line
    assert line.endswith("fix: free disk space there, or set output_dir to a larger disk")
    _untouched(ready)


def test_a_catalog_behind_the_head_is_refused(
    ready: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys_init(capsys)
    with ready.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    for command in (["daemon", "--workers", "0"], ["worker"], ["repair"]):
        [line] = _refused_lines(capsys, *command)
        assert line.startswith("error: catalog: ") and "schema at 0002, this gapfill needs" in line
        assert line.endswith("; fix: run `gapfill init` to upgrade it")
    _untouched(ready)


def test_every_failure_is_its_own_line(
    catalog: Catalog,
    capsys: pytest.CaptureFixture[str],
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first start on a fresh host names everything to fix at once, not one thing per try."""
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(_corrupt_copy(tiny_checkpoint, tmp_path / "bad")))
    lines = _refused_lines(capsys, "worker")
    assert [line.split(":")[1].strip() for line in lines] == ["catalog", "keys", "model"]
    assert "fix: run `gapfill init`" in lines[0]
    assert not (tmp_path / "fresh" / "catalog.sqlite3").exists()  # a check creates no catalog


def test_a_scheduling_only_daemon_needs_only_the_catalog(
    ready: Catalog, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`daemon --workers 0` (compose, Kubernetes) only schedules: keys and model live with the
    workers, which check them when they start."""
    started: list[int] = []
    monkeypatch.setattr(Daemon, "run", lambda self: started.append(self.options.workers) or 0)
    succeeds(capsys, "daemon", "--workers", "0")
    assert started == [0]


def test_a_missing_frigate_database_refuses_the_daemon(
    ready: Catalog,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """recordings_layout frigate-db with no file there: one line at the start, not a warning in
    every watch tick."""
    _keys_init(capsys)
    missing = tmp_path / "frigate" / "frigate.db"
    monkeypatch.setenv("GAPFILL_RECORDINGS_LAYOUT", "frigate-db")
    monkeypatch.setenv("GAPFILL_FRIGATE_DB", str(missing))
    for command in (["daemon", "--workers", "0"], ["daemon", "--workers", "1"]):
        [line] = _refused_lines(capsys, *command)
        assert line == (
            f"error: source: {missing}: Frigate database not found; "
            "fix: set frigate_db to Frigate's frigate.db"
        )
    _untouched(ready)


def test_keys_that_do_not_belong_together_or_expired(
    ready: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys_init(capsys)
    settings = load_settings()
    keys_dir = settings.effective_keys_dir
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)
    expired = check_keys(settings, now=future)
    assert expired.status == "failed" and expired.fix == "run `gapfill keys rotate`"
    assert "not now" in expired.detail

    shutil.copy(keys_dir / "ca.key", keys_dir / "signer.key")  # a key of another certificate
    [line] = _refused_lines(capsys, "worker")
    assert "signer.key: does not belong to the certificate" in line
    (keys_dir / "signer.pem").write_text("not a certificate\n")
    [line] = _refused_lines(capsys, "repair")
    assert "signer.pem: not a PEM certificate" in line
    _untouched(ready)
    with ready.session() as session:
        assert session.scalar(select(func.count(RepairJob.id))) == 0
