"""The `gapfill` entry point itself: what it refuses before any command runs; and the listings
it defines itself (`gapfill recordings`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import pytest
from cli_run import refused, succeeds

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Recording
from gapfill.cli import main
from gapfill.config import load_settings
from gapfill.text import is_utf8

# How Python hands over a command-line byte that is not UTF-8: a lone surrogate.
NOT_UTF8 = os.fsdecode(b"\xffname")


@pytest.mark.parametrize(
    "args",
    [
        ["verify", f"/clips/{NOT_UTF8}.mp4"],
        ["recordings", "--camera", NOT_UTF8],
        ["audit", f"--camera={NOT_UTF8}"],
        ["ingest", NOT_UTF8],
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    succeeds(capsys, "init")  # a catalog, so that the commands get that far
    shown = repr(os.fsencode(args[-1]))  # b'\xffname', as the operator's shell has it
    assert refused(capsys, *args) == (
        f"error: argument {shown}: not valid UTF-8 (gapfill takes UTF-8 names and values)"
    )


@pytest.mark.parametrize(
    ("text", "utf8"),
    [("", True), ("press-01", True), ("café/Ω.mp4", True), (NOT_UTF8, False), ("a\ud800", False)],
)
def test_one_utf8_check_for_arguments_and_file_names(text: str, utf8: bool) -> None:
    # The entry point (every argument) and ingest (file and camera names) share this check.
    assert is_utf8(text) is utf8


def test_sys_argv_is_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["gapfill", "recordings", "--camera", NOT_UTF8])
    with pytest.raises(SystemExit) as exit_info:
        main(None)  # None: the arguments come from sys.argv, as the console script gives them
    err = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 1 and err[0].startswith(
        "error: argument b'\\xffname': not valid UTF-8"
    ), err


def test_recordings_limit_lists_the_most_recent_in_time_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    succeeds(capsys, "init")
    t0 = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)
    with Catalog(load_settings().effective_database_url) as catalog, catalog.session() as session:
        camera = Camera(name="press-01", nominal_fps=10.0)
        session.add(camera)
        session.flush()
        # Inserted out of time order, so neither the insertion order nor the ids give the answer.
        for minute in (3, 0, 4, 1, 2):
            start = t0 + dt.timedelta(minutes=minute)
            session.add(
                Recording(
                    camera_id=camera.id,
                    path=f"/rec/{minute:02d}.mp4",
                    start_time=start,
                    end_time=start + dt.timedelta(minutes=1),
                    size_bytes=1,
                    mtime_ns=1,
                    sha256="0" * 64,
                )
            )
    rows = json.loads(succeeds(capsys, "recordings", "--limit=3", "--json"))
    assert [row["path"] for row in rows] == ["/rec/02.mp4", "/rec/03.mp4", "/rec/04.mp4"]
    assert "most recent" in succeeds(capsys, "recordings", "--help")
