"""Every file in benchmarks/results/ says on its first line how it is made, and that still works.

Line 1 is either the command (`# .venv/bin/python benchmarks/scan.py`, a note may follow after
`   #`) or, for an experiment record of several runs, `# commands: the "$" lines below, in order`.
Every command named (line 1 and each `$` line) must still exist: its script or module is in the
repository and takes every option the command gives it, so a results file cannot outlive the code
that made it unnoticed.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from gapfill.cli import app

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
RECORD = '# commands: the "$" lines below, in order'


def commands(path: Path) -> list[str]:
    """The commands a results file names: line 1 (unless it points at the `$` lines) and every
    `$` line, continuation lines joined, trailing notes dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [] if lines[0].startswith(RECORD) else [lines[0][2:]]
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + lines[i + 1].strip()
                i += 1
            found.append(command)
    return [command.split("   #")[0].strip() for command in found]


@functools.cache
def _gapfill() -> Any:
    return typer.main.get_command(app)


def options_of_gapfill(words: list[str]) -> set[str]:
    """Every option the `gapfill` subcommand in `words` accepts, its own and the group's."""
    command = _gapfill()
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for word in words:
        subcommands = getattr(command, "commands", {})  # a group (typer vendors click's classes)
        if word not in subcommands:
            break
        command = subcommands[word]
        known |= {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    return known


def problems_with(command: str) -> list[str]:
    words = shlex.split(command, comments=False)
    options = {w.split("=")[0] for w in words if w.startswith("--")}
    if words[0] in (".venv/bin/gapfill", "gapfill"):
        missing = options - options_of_gapfill(words[1:])
    elif words[:2] == [".venv/bin/python", "-m"]:
        module = REPO / (words[2].replace(".", "/") + ".py")
        if not module.is_file():
            return [f"{words[2]}: no such module"]
        missing = {o for o in options if f'"{o}"' not in module.read_text(encoding="utf-8")}
    elif words[0] == ".venv/bin/python" and words[1].startswith("benchmarks/"):
        script = REPO / words[1]
        if not script.is_file():
            return [f"{words[1]}: no such script"]
        missing = {o for o in options if f'"{o}"' not in script.read_text(encoding="utf-8")}
    else:
        return [f"not a command of this repository: {command}"]
    return [f"{command}: no option {o}" for o in sorted(missing)]


RESULT_FILES = sorted(RESULTS.iterdir())


@pytest.mark.parametrize("path", RESULT_FILES, ids=[p.name for p in RESULT_FILES])
def test_results_file_names_a_command_that_still_exists(path: Path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), f"{path.name}: line 1 is not the command: {first[:80]!r}"
    named = commands(path)
    assert named, f"{path.name}: names no command"
    assert [p for c in named for p in problems_with(c)] == []


def test_the_check_sees_a_stale_option():
    assert problems_with(".venv/bin/python benchmarks/fill_quality.py --tune-sample-start") == [
        ".venv/bin/python benchmarks/fill_quality.py --tune-sample-start: no option "
        "--tune-sample-start"
    ]
    assert problems_with(".venv/bin/gapfill train --stage 2 --start-share 0.5") != []
    assert problems_with(".venv/bin/gapfill train --stage 2 --photos") == []
