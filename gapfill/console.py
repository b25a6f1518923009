"""How every command talks to people and scripts: tables or JSON on stdout, progress and
problems on stderr, so `gapfill ... --json | jq` always gets clean JSON."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def emit(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, title: str | None = None
) -> None:
    """Rows as a table for people, or as a JSON array for scripts (all keys, not only columns)."""
    if as_json:
        print(
            json.dumps(
                [{k: _plain(v) for k, v in row.items()} for row in rows], indent=2, default=str
            )
        )
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in columns))
    out.print(table)


def emit_object(value: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, indent=2, default=str))
    else:
        for key, item in value.items():
            out.print(f"[bold]{key}[/bold]: {_plain(item)}")


def warn(path: str, problem: str) -> None:
    """One line naming the file and the problem."""
    err.print(f"warning: {path}: {problem}", highlight=False, markup=False)


@contextmanager
def progress(
    description: str, total: int | None, enabled: bool = True, transient: bool = False
) -> Iterator[Any]:
    """A progress bar on stderr; `advance()` or `update(completed=, total=)` on the yielded object
    moves it. A `transient` bar is erased when the block ends, so the command's summary takes its
    place."""
    # A transient bar draws nothing on a stderr that is not a terminal (a log file, a pipe, CI),
    # yet rich's Progress.stop() still prints a newline there to end the bar's last line: a stray
    # blank line ahead of everything else. Off, it prints nothing at all.
    if transient and not err.is_interactive:
        enabled = False
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=transient,
    )
    with bar:
        task = bar.add_task(description, total=total)

        class _Handle:
            def advance(self, step: int = 1) -> None:
                bar.advance(task, step)

            def update(self, **kwargs: Any) -> None:
                bar.update(task, **kwargs)

        yield _Handle()


def as_rows(items: Iterable[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    return [{f: getattr(item, f) for f in fields} for item in items]


def cli_actor() -> str:
    """Who a write made from the command line is attributed to (users, provenance events): the
    operating-system user on this host."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"cli:{name}@{socket.gethostname()}"
