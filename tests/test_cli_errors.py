"""Operator mistakes through the whole command, as the console script runs it (`main()`): each is
refused with exit 1 and one line on stderr naming the value and the problem, no traceback, and
nothing changed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from cli_run import refused, succeeds


@pytest.mark.parametrize("limit", ["0", "-1", "99999999999999999999", "1000001"])
def test_recordings_limit_outside_its_range_is_refused(
    capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    succeeds(capsys, "init")
    assert "--limit" in refused(capsys, "recordings", f"--limit={limit}")
    succeeds(capsys, "recordings", "--limit=1000000")


@pytest.mark.parametrize("command", [["recordings"], ["jobs"], ["scan"], ["audit"]])
def test_a_command_before_init_leaves_no_catalog_behind(
    capsys: pytest.CaptureFixture[str], isolated_env: Path, command: list[str]
) -> None:
    data = isolated_env / "data"
    assert "not initialised; run `gapfill init`" in refused(capsys, *command)
    assert not data.exists()  # neither an empty catalog file nor its folder
    succeeds(capsys, "init")
    assert (data / "catalog.sqlite3").is_file()


@pytest.mark.parametrize("command", [["init"], ["recordings"], ["jobs"]])
def test_a_catalog_that_is_not_a_database_is_named_and_left_alone(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a catalog\n")
    monkeypatch.setenv("GAPFILL_DATABASE_URL", f"sqlite:///{notes}")
    line = refused(capsys, *command)
    assert str(notes) in line and "not a database" in line
    assert notes.read_text() == "not a catalog\n"


def test_a_catalog_from_a_newer_gapfill_is_refused_untouched(
    capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    succeeds(capsys, "init")
    path = isolated_env / "data" / "catalog.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with closing(sqlite3.connect(path)) as db:
        before = list(db.iterdump())
    for command in ("init", "recordings"):
        line = refused(capsys, command)
        assert "newer gapfill" in line and "9999_from_the_future" in line
    with closing(sqlite3.connect(path)) as db:
        assert list(db.iterdump()) == before


@pytest.mark.parametrize("command", ["init", "recordings"])
def test_an_unreachable_postgresql_is_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # Port 1 on this host: nothing listens there, so the driver is refused at once.
    monkeypatch.setenv("GAPFILL_DATABASE_URL", "postgresql://u:s3cr3t-pw@127.0.0.1:1/db")
    line = refused(capsys, command)
    assert "127.0.0.1:1" in line and "cannot connect" in line
    assert "s3cr3t-pw" not in line and "***" in line


@pytest.mark.parametrize("command", [["init"], ["recordings"], ["keys", "init"]])
def test_a_data_dir_that_is_a_file_is_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    taken = tmp_path / "gapfill-data"
    taken.write_text("a file where the data directory should be\n")
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(taken))
    line = refused(capsys, *command)
    assert "data_dir" in line and str(taken) in line and "not a directory" in line
    assert taken.read_text() == "a file where the data directory should be\n"


@pytest.mark.parametrize("action", ["retry", "cancel"])
@pytest.mark.parametrize("job_id", ["99999999999999999999", "2147483648", "0"])
def test_a_job_id_no_catalog_can_hold_is_refused(
    capsys: pytest.CaptureFixture[str], action: str, job_id: str
) -> None:
    succeeds(capsys, "init")
    assert "job_id" in refused(capsys, "jobs", action, job_id)
    assert "no job 5" in refused(capsys, "jobs", action, "5")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GAPFILL_REPAIR_WINDOW_HOURS", "inf"),
        ("GAPFILL_SHUTDOWN_GRACE_SECONDS", "Infinity"),
        ("GAPFILL_DETECT__GAP_FACTOR", "nan"),
        ("GAPFILL_CONTEXT_SECONDS", "1e999"),
    ],
)
def test_non_finite_numbers_in_the_environment_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    setting = name.removeprefix("GAPFILL_").lower().replace("__", ".")
    assert f"{setting}: Input should be a finite number" in refused(capsys, "config", "show")


def test_non_finite_numbers_in_the_toml_file_are_refused(
    capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    (isolated_env / "gapfill.toml").write_text("max_span_seconds = inf\n")
    assert "max_span_seconds: Input should be a finite number" in refused(capsys, "schedule")
    (isolated_env / "gapfill.toml").write_text("[detect]\nblocky_score = nan\n")
    assert "detect.blocky_score" in refused(capsys, "config", "show")


def test_a_misspelt_setting_in_the_toml_file_is_refused_not_ignored(
    capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    toml = isolated_env / "gapfill.toml"
    toml.write_text("retention_days = 30\nretention_day = 30\n")
    line = refused(capsys, "config", "show")
    assert line.startswith(f"error: {toml.name}: unknown setting(s) retention_day;"), line
    toml.write_text("[detect]\nfreeze_min_second = 3\n")
    assert refused(capsys, "config", "show") == (
        "error: configuration: detect.freeze_min_second: unknown setting"
    )
    toml.write_text("retention_days = 30\n[detect]\nfreeze_min_seconds = 3\n")
    assert "retention_days: 30" in succeeds(capsys, "config", "show")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GAPFILL_SCAN_INTERVAL_SECONDS", "1000000000000000"),
        ("GAPFILL_REPAIR_WINDOW_HOURS", "1e15"),
        ("GAPFILL_RETENTION_DAYS", "3000000"),
        ("GAPFILL_CONTEXT_SECONDS", "1e300"),
        ("GAPFILL_DETECT__FREEZE_MIN_SECONDS", "1e20"),
    ],
)
def test_lengths_of_time_past_their_cap_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    setting = name.removeprefix("GAPFILL_").lower().replace("__", ".")
    assert f"{setting}: Input should be less than or equal to" in refused(capsys, "schedule")


def test_a_century_of_retention_and_a_year_long_window_are_accepted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_RETENTION_DAYS", "36600")
    monkeypatch.setenv("GAPFILL_REPAIR_WINDOW_HOURS", "8784")
    monkeypatch.setenv("GAPFILL_SCAN_INTERVAL_SECONDS", "31622400")
    assert "retention" in succeeds(capsys, "schedule", "--json")


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--poll-seconds", "inf"],
        ["worker", "--lease-seconds", "1e300"],
        ["daemon", "--settle-seconds", "1e300"],
        ["daemon", "--abandon-seconds", "1e300"],
    ],
)
def test_worker_and_daemon_lengths_past_a_year_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert args[1] in refused(capsys, *args)


@pytest.mark.parametrize("group", [[], ["config"], ["keys"], ["users"], ["export"]])
def test_a_bare_command_group_prints_its_help(
    capsys: pytest.CaptureFixture[str], group: list[str]
) -> None:
    expected = succeeds(capsys, *group, "--help")
    assert succeeds(capsys, *group) == expected
    assert f"Usage: gapfill {' '.join(group)}".rstrip() in expected


@pytest.mark.parametrize(
    ("url", "init_problem", "problem"),
    [
        ("not a url, but s3cr3t is in it", "not a database URL", "not a database URL"),
        ("nosuchdb://u:s3cr3t@host/db", "not usable here", "not usable here"),
        # Only init makes a SQLite catalog's folder; the others find no catalog there.
        ("sqlite:///{tmp}/taken/catalog.sqlite3", "cannot make its folder", "not initialised"),
    ],
)
def test_a_database_url_gapfill_cannot_use_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    url: str,
    init_problem: str,
    problem: str,
) -> None:
    (tmp_path / "taken").write_text("a file where the catalog's folder should be\n")
    monkeypatch.setenv("GAPFILL_DATABASE_URL", url.format(tmp=tmp_path))
    for command, expected in (("init", init_problem), ("recordings", problem)):
        line = refused(capsys, command)
        assert expected in line and "s3cr3t" not in line
