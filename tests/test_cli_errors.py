"""Operator mistakes through the whole command, as the console script runs it (`main()`): each is
refused with exit 1 and one line on stderr naming the value and the problem, no traceback, and
nothing changed."""

from __future__ import annotations

import pytest

from gapfill.cli import main


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `gapfill ARGS`, expect the one-line user error; returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert exit_info.value.code == 1, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def succeeds(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    return captured.out


@pytest.mark.parametrize("limit", ["0", "-1", "99999999999999999999", "1000001"])
def test_recordings_limit_outside_its_range_is_refused(
    capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    succeeds(capsys, "init")
    assert "--limit" in refused(capsys, "recordings", f"--limit={limit}")
    succeeds(capsys, "recordings", "--limit=1000000")
