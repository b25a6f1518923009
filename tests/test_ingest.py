"""Ingest through the CLI: catalogues each segment once, reports bad files by name, carries on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_cli
from typer.testing import CliRunner

from gapfill import ingest as ingest_module
from gapfill.catalog.db import open_catalog
from gapfill.cli import app
from gapfill.config import load_settings
from gapfill.media.encode import VideoWriter
from gapfill.media.probe import Probe

runner = CliRunner()


def gapfill(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        # UserError escapes CliRunner (main() maps it); surface its message like main() would.
        return 1, result.stdout, f"error: {result.exception}"
    return result.exit_code, result.stdout, result.stderr


def write_segment(path: Path, frames: int = 20, fps: float = 10.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    with VideoWriter(path, width=64, height=48, fps=fps, gop=10) as writer:
        for k in range(frames):
            writer.write(
                rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), pts=int(k * 90000 / fps)
            )
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    write_segment(root / "2026-01-05/06/press-01/59.50.mp4")
    write_segment(root / "2026-01-05/07/press-01/00.00.mp4")
    write_segment(root / "2026-01-05/07/conveyor-02/00.00.mp4")
    return root


def recordings_json() -> list[dict]:
    code, out, err = gapfill("recordings", "--json")
    assert code == 0, err
    return json.loads(out)


def test_ingest_catalogues_each_segment_once(tree: Path) -> None:
    assert gapfill("init")[0] == 0
    code, out, _ = gapfill("ingest", str(tree), "--json")
    assert code == 0
    assert json.loads(out)["added"] == 3
    rows = recordings_json()
    assert {(r["camera"], r["start_time"]) for r in rows} == {
        ("press-01", "2026-01-05T06:59:50+00:00"),
        ("press-01", "2026-01-05T07:00:00+00:00"),
        ("conveyor-02", "2026-01-05T07:00:00+00:00"),
    }
    first = rows[0]
    assert first["frame_count"] == 20 and first["duration_s"] == pytest.approx(2.0)
    assert first["codec"] == "h264" and (first["width"], first["height"]) == (64, 48)
    assert len(first["sha256"]) == 64 and first["status"] == "ok"

    code, out, _ = gapfill("ingest", str(tree), "--json")
    assert json.loads(out)["added"] == 0 and json.loads(out)["unchanged"] == 3
    assert recordings_json() == rows


def test_commands_refuse_an_uninitialised_catalog(tree: Path) -> None:
    code, _, err = gapfill("ingest", str(tree))
    assert code == 1 and "gapfill init" in err


def test_garbage_is_reported_by_name_and_ingest_carries_on(tree: Path) -> None:
    bad = tree / "2026-01-05/07/press-01"
    (bad / "00.10.mp4").write_bytes(b"")
    (bad / "00.20.mp4").write_bytes(os.urandom(4096))
    (tree / "2026-01-05/07/loop").mkdir()
    os.symlink("..", tree / "2026-01-05/07/loop/up")  # a directory symlink loop
    os.symlink("self", tree / "2026-01-05/07/press-01/00.30.mp4")  # a file symlink loop
    before = {p: p.read_bytes() for p in tree.rglob("*.mp4") if p.is_file()}

    gapfill("init")
    code, out, _ = gapfill("ingest", str(tree), "--json")
    assert code == 0
    report = json.loads(out)
    problems = {Path(p["path"]).name: p for p in report["problems"]}
    assert report["added"] == 5  # 3 good + 2 unreadable, catalogued with a reason
    assert problems["00.10.mp4"]["severity"] == "unreadable"
    assert problems["00.20.mp4"]["severity"] == "unreadable"
    assert "loop" in problems["00.30.mp4"]["reason"]
    assert "loop" in problems["up"]["reason"] or "loop" in problems["loop"]["reason"]
    unreadable = [r for r in recordings_json() if r["status"] == "unreadable"]
    assert len(unreadable) == 2 and all(r["status_reason"] for r in unreadable)
    # Nothing was touched.
    assert {p: p.read_bytes() for p in before} == before


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gapfill-perm-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_wrong_path_gets_the_error_alone(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "recordings"
    if kind == "file":
        path.write_bytes(b"not a folder")
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(path))
    assert code == 1 and out == ""
    assert err == [
        f"error: {path}: " + ("no such directory" if kind == "missing" else "not a directory")
    ]


def test_a_time_out_of_range_skips_that_file_only(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late = write_segment(tree / "9999-12-31/23/press-01/59.59.mp4")  # ends after year 9999
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 3
    reason = "start or end time is outside the years 1 to 9999; not catalogued"
    assert err == [f"warning: {late.resolve()}: skipped: {reason}"]
    assert len(recordings_json()) == 3


def test_the_same_tree_by_another_path_adds_nothing(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.symlink(tree, tree.parent / "link")
    assert gapfill("init")[0] == 0
    assert json.loads(gapfill("ingest", str(tree), "--json")[1])["added"] == 3
    file = "2026-01-05/07/press-01/00.00.mp4"
    for other in (f"{tree}/../{tree.name}", f"{tree}/2026-01-05/../", str(tree.parent / "link")):
        code, out, err = run_cli(capsys, "ingest", other, "--json")
        assert code == 0, err
        assert json.loads(out)["added"] == 0 and json.loads(out)["unchanged"] == 3
    code, _, err = run_cli(capsys, "ingest", f"{tree}/2026-01-05/07/../../{file}")
    assert code == 1 and err == [f"error: {(tree / file).resolve()}: not a directory"]
    assert sorted(r["path"] for r in recordings_json()) == sorted(
        str(p.resolve()) for p in tree.rglob("*.mp4")
    )


def test_a_file_deleted_while_it_is_read_is_skipped(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doomed = (tree / "2026-01-05/07/press-01/00.00.mp4").resolve()
    real_probe = ingest_module.probe

    def probe_after_retention(path: Path) -> Probe:
        if path == doomed:
            path.unlink()  # the recorder's retention removed it after it was listed and hashed
        return real_probe(path)

    monkeypatch.setattr(ingest_module, "probe", probe_after_retention)
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 2
    assert err == [f"warning: {doomed}: skipped: gone while being read: No such file or directory"]
    assert str(doomed) not in {r["path"] for r in recordings_json()}


def test_a_file_name_that_is_not_utf8_is_skipped_by_its_escaped_name(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_segment(tree / "2026-01-05/07/cam/00.00.mp4").parent
    # A folder named on a Latin-1 system: the byte 0xff alone is not UTF-8.
    os.rename(os.fsencode(folder), os.fsencode(folder)[:-3] + b"cam\xff")
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 3
    shown = f"{tree.resolve()}/2026-01-05/07/cam\\xff/00.00.mp4"
    assert err == [
        f"warning: {shown}: skipped: file name is not valid UTF-8; rename it to ingest it"
    ]
    assert len(recordings_json()) == 3


def test_an_ingest_that_loses_a_race_counts_the_file_as_unchanged(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_sha256 = ingest_module.sha256_file
    raced: list[Path] = []

    def sha256_while_another_ingest_runs(path: Path) -> str:
        if not raced:  # the other ingest catalogues the whole tree while this one hashes a file
            raced.append(path)
            with open_catalog(load_settings()) as other:
                assert len(ingest_module.ingest(other, tree).added) == 3
        return real_sha256(path)

    monkeypatch.setattr(ingest_module, "sha256_file", sha256_while_another_ingest_runs)
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert raced and (summary["added"], summary["unchanged"]) == (0, 3)
    assert err == []
    assert len(recordings_json()) == 3


def test_an_original_replaced_by_a_file_of_the_same_size_is_named_as_new_content(
    tree: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced = (tree / "2026-01-05/07/press-01/00.00.mp4").resolve()
    touched = (tree / "2026-01-05/07/conveyor-02/00.00.mp4").resolve()
    assert gapfill("init")[0] == 0
    assert json.loads(gapfill("ingest", str(tree), "--json")[1])["added"] == 3
    [catalogued] = [r["sha256"] for r in recordings_json() if r["path"] == str(replaced)]
    data = bytearray(replaced.read_bytes())
    data[-1] ^= 0xFF  # other bytes, same length
    replaced.write_bytes(bytes(data))
    for path in (replaced, touched):  # a new mtime on both, whatever the clock's resolution
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0, err
    summary = json.loads(out)
    # The touched file holds the bytes that were catalogued: not a change.
    assert (summary["changed_originals"], summary["unchanged"]) == (1, 2)
    now = hashlib.sha256(bytes(data)).hexdigest()
    assert err == [
        f"warning: {replaced}: changed: content changed since ingest although the size is the "
        f"same ({len(data)} bytes): sha256 now {now[:16]}..., catalog {catalogued[:16]}...; "
        "catalog keeps the original record"
    ]
    # The touched file's new mtime is remembered: the next ingest does not read it again.
    hashed: list[Path] = []
    real_sha256 = ingest_module.sha256_file
    monkeypatch.setattr(
        ingest_module, "sha256_file", lambda path: hashed.append(path) or real_sha256(path)
    )
    code, out, err = run_cli(capsys, "ingest", str(tree), "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 2, err
    assert hashed == [replaced]  # the replaced original is reported again, the touched one not


@pytest.mark.parametrize(
    "camera", ["a/b", "..", ".", "", "../x", "a\\b", "x" * 129]
)  # a name that is not UTF-8 is refused before any command runs (test_cli.py)
def test_a_camera_name_that_is_a_path_is_refused(
    tree: Path, camera: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gapfill("init")[0] == 0
    code, out, err = run_cli(capsys, "ingest", str(tree), "--camera", camera)
    assert code == 1 and out == ""
    assert len(err) == 1 and err[0].startswith(f"error: --camera: {camera!r} is not a camera name")
    assert recordings_json() == []


# Runs in a fresh interpreter started as root: it imports everything the command needs (the
# interpreter and its standard library may live where only root can read), drops to nobody, then
# runs the CLI, so directory permissions apply to it.
AS_NOBODY = """
import os, sys, _strptime
from gapfill.cli import main
try:
    main(["recordings"])  # as root: warms every lazy import of the commands
except SystemExit as warm_up:
    assert not warm_up.code, warm_up.code
os.setgid(65534)
os.setuid(65534)
main(sys.argv[1:])
"""


def run_as_nobody(args: list[str], out_file: Path) -> int:
    """The CLI as user nobody, output to `out_file`; its exit code.

    A fresh process, not a fork of this one: pytest's process has threads (PyAV, OpenCV, torch,
    database pools) by now, and a forked child can hang on a lock one of them held."""
    with open(out_file, "w") as sink:
        done = subprocess.run(
            [sys.executable, "-c", AS_NOBODY, *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    return done.returncode


def test_unreadable_directory_is_reported_and_skipped(world_readable_dir: Path) -> None:
    root = world_readable_dir / "recordings"
    write_segment(root / "2026-01-05/07/press-01/00.00.mp4")
    write_segment(root / "2026-01-05/08/press-01/00.00.mp4")
    os.environ["GAPFILL_DATA_DIR"] = str(world_readable_dir / "data")  # monkeypatched per test
    assert gapfill("init")[0] == 0
    assert gapfill("recordings")[0] == 0  # warm every import the child will need
    for path in [world_readable_dir, *world_readable_dir.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    (root / "2026-01-05/08").chmod(0o000)
    output = world_readable_dir / "out.txt"
    try:
        if os.geteuid() == 0:
            code = run_as_nobody(["ingest", str(root), "--json"], output)
        else:
            with open(output, "w") as sink:
                done = subprocess.run(
                    [sys.executable, "-m", "gapfill.cli", "ingest", str(root), "--json"],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            code = done.returncode
    finally:
        (root / "2026-01-05/08").chmod(0o777)
    text = output.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    report = json.loads(text[text.index("{") : text.rindex("}") + 1])
    assert report["added"] == 1
    assert any(
        p["path"].endswith("2026-01-05/08") and "denied" in p["reason"].lower()
        for p in report["problems"]
    )
