"""The daemon's watch at scale: a tick looks only at what can still change (issue 29, item 4).

Which folders a tick lists and which files it opens are observed through Python's audit hooks
(`os.scandir` and `open` events, raised by the interpreter itself for every listing and every
file opened), so the tests see what the code really does, not what a stand-in was told.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from frigate_site import FRIGATE_ROOT, Segment, create_frigate_db, insert_rows
from test_detect_clips import write_clip
from test_detect_scan import segment_path

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.recordings import RecordingFilter, recordings_page
from gapfill.config import Settings
from gapfill.jobs.partitions import Partition, live_partitions
from gapfill.jobs.settle import StabilityTracker
from gapfill.jobs.watch import WatchState, watch_once

OLD = dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)  # an hour long past
CAMERAS = ("press-01", "press-02")

# --- what the interpreter did -------------------------------------------------------------------

_listened: list[tuple[str, str]] | None = None
_listener = 0  # the thread that runs the tick (watchdog's own thread sets its watches up apart)


def _audit(event: str, args: tuple) -> None:
    if _listened is None or threading.get_ident() != _listener:
        return
    if event in ("os.scandir", "open") and args:
        where = args[0]
        if isinstance(where, (str, bytes, os.PathLike)):
            _listened.append((event, os.fsdecode(where)))


sys.addaudithook(_audit)  # hooks cannot be removed; this one records only inside `observed`


@contextmanager
def observed() -> Iterator[list[tuple[str, str]]]:
    """(event, path) of every folder listed and every file opened inside the block."""
    global _listened, _listener
    _listened, _listener = (seen := []), threading.get_ident()
    try:
        yield seen
    finally:
        _listened = None


def listed(seen: list[tuple[str, str]]) -> set[Path]:
    return {Path(p) for event, p in seen if event == "os.scandir"}


def opened_under(seen: list[tuple[str, str]], folder: Path) -> list[str]:
    return [p for event, p in seen if event == "open" and Path(p).is_relative_to(folder)]


# --- a site --------------------------------------------------------------------------------------


def settings_for(root: Path, tmp_path: Path, catalog: Catalog, **extra: object) -> Settings:
    values: dict = {"watch_margin_seconds": 60, **extra}
    return Settings(
        data_dir=tmp_path / "data", database_url=catalog.url, recordings_dirs=[root], **values
    )


def old_segment(root: Path, camera: str, minute: int) -> Path:
    """A finished segment in an hour long past, its mtime that hour's."""
    path = segment_path(root, camera, OLD + dt.timedelta(minutes=minute))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, 10, seed=minute)
    stamp = (OLD + dt.timedelta(minutes=minute, seconds=10)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def live_segment(root: Path, camera: str, second: int = 0) -> Path:
    """A segment of the current hour, just finished."""
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=second, microsecond=0)
    path = segment_path(root, camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, 10, seed=second + 1)
    return path


def catalogued(catalog: Catalog) -> set[str]:
    with catalog.session() as session:
        page = recordings_page(session, RecordingFilter(), 10_000, 0)
        return {r.path for r in page.items}


def new_state(events: bool = False) -> WatchState:
    return WatchState(StabilityTracker(settle_seconds=0, abandon_seconds=3600), use_events=events)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    for camera in CAMERAS:
        for minute in (0, 1):
            old_segment(root, camera, minute)
    return root


def live_folders(root: Path, margin: float = 60) -> set[Path]:
    return {
        p.folder(root)
        for p in live_partitions(dt.datetime.now(dt.UTC), dt.timedelta(seconds=margin))
    }


def under_live(paths: set[Path], root: Path) -> bool:
    live = live_folders(root)
    return all(any(p == f or p.is_relative_to(f) for f in live) for p in paths)


# --- the tests -----------------------------------------------------------------------------------


def test_live_hours_are_the_current_and_previous_one_with_the_margin() -> None:
    now = dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)
    keys = [p.key for p in live_partitions(now, dt.timedelta(minutes=5))]
    assert keys == ["2026-03-01/09", "2026-03-01/10"]
    early = [p.key for p in live_partitions(now.replace(minute=2), dt.timedelta(minutes=5))]
    assert early == ["2026-03-01/08", "2026-03-01/09", "2026-03-01/10"]  # clock skew, late writes
    late = [p.key for p in live_partitions(now.replace(minute=58), dt.timedelta(minutes=5))]
    assert late == ["2026-03-01/09", "2026-03-01/10", "2026-03-01/11"]  # a camera clock ahead
    assert Partition.of(now).folder(Path("/r")) == Path("/r/2026-03-01/10")


def test_a_tick_lists_only_the_live_hours_once_the_old_ones_are_reconciled(
    catalog: Catalog, site: Path, tmp_path: Path
) -> None:
    settings = settings_for(site, tmp_path, catalog)
    state = new_state()
    first = watch_once(catalog, settings, state)
    assert first.reconciled == 1 and first.ingested == 4  # the old hour, on the first tick
    live = live_segment(site, "press-01")
    with observed() as seen:
        second = watch_once(catalog, settings, state)
    assert second.reconciled == 0 and second.ingested == 0 and second.waiting == 1
    assert listed(seen) and under_live(listed(seen), site), listed(seen)
    assert not opened_under(seen, OLD.strftime(f"{site}/%Y-%m-%d"))
    third = watch_once(catalog, settings, state)
    assert third.ingested == 1 and str(live) in catalogued(catalog)  # within two ticks


def test_a_file_restored_into_an_old_hour_is_found_by_the_reconcile(
    catalog: Catalog, site: Path, tmp_path: Path
) -> None:
    settings = settings_for(site, tmp_path, catalog, watch_reconcile_hours=0.0005)  # 1.8 s
    state = new_state()
    watch_once(catalog, settings, state)
    restored = old_segment(site, "press-02", 30)
    assert watch_once(catalog, settings, state).ingested == 0  # not an hour that changes
    time.sleep(2.0)
    report = watch_once(catalog, settings, state)  # the next round: quiet for long, complete
    assert report.reconciled == 1 and report.ingested == 1
    assert str(restored) in catalogued(catalog)


def test_the_reconcile_spends_a_bounded_time_per_tick(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    for hour in range(6):  # six old hours, one file each
        path = segment_path(root, "press-01", OLD + dt.timedelta(hours=hour))
        path.parent.mkdir(parents=True)
        write_clip(path, 10)
        os.utime(path, (OLD.timestamp(), OLD.timestamp()))
    settings = settings_for(root, tmp_path, catalog, watch_reconcile_seconds=0.001)
    state = new_state()
    done = [watch_once(catalog, settings, state).reconciled for _ in range(6)]
    assert done == [1] * 6  # one hour per tick at this budget, newest first, all in the end
    assert len(catalogued(catalog)) == 6


def test_a_restarted_daemon_opens_no_old_file_and_still_ingests_a_new_one(
    catalog: Catalog, site: Path, tmp_path: Path
) -> None:
    settings = settings_for(site, tmp_path, catalog)
    watch_once(catalog, settings, new_state())
    for path in site.rglob("*.mp4"):
        path.chmod(0)  # and unreadable: an attempt would fail, as a root user's would not
    restarted = new_state()
    live = live_segment(site, "press-02")
    with observed() as seen:
        reports = [watch_once(catalog, settings, restarted) for _ in range(2)]
    assert [r.reconciled for r in reports] == [0, 0]  # it remembers: the old hour is done
    assert not opened_under(seen, OLD.strftime(f"{site}/%Y-%m-%d"))
    assert sum(r.ingested for r in reports) == 1 and str(live) in catalogued(catalog)


def test_events_narrow_a_tick_to_the_folders_that_changed(
    catalog: Catalog, site: Path, tmp_path: Path
) -> None:
    settings = settings_for(site, tmp_path, catalog)
    state = new_state(events=True)
    first_live = live_segment(site, "press-01")
    live_segment(site, "press-02")
    watch_once(catalog, settings, state)  # watches the live hours, lists them in full
    assert state.hints is not None and state.hints.alive()
    watch_once(catalog, settings, state)
    assert str(first_live) in catalogued(catalog)
    with observed() as seen:
        quiet = watch_once(catalog, settings, state)
    assert quiet.listed == 0 and not listed(seen)  # nothing happened: nothing listed
    newer = live_segment(site, "press-02", second=10)
    time.sleep(0.5)  # the observer thread hears of it
    with observed() as seen:
        report = watch_once(catalog, settings, state)
    assert listed(seen) == {newer.parent} and report.waiting == 1
    assert watch_once(catalog, settings, state).ingested == 1
    state.close()


def test_without_events_every_live_folder_is_listed_each_tick(
    catalog: Catalog, site: Path, tmp_path: Path
) -> None:
    settings = settings_for(site, tmp_path, catalog, watch_events=False)
    state = WatchState(StabilityTracker(0, 3600), use_events=settings.watch_events)
    live_segment(site, "press-01")
    live_segment(site, "press-02")
    watch_once(catalog, settings, state)
    watch_once(catalog, settings, state)
    assert state.hints is None
    with observed() as seen:
        report = watch_once(catalog, settings, state)
    cameras = {p.parent for p in site.rglob("*.mp4") if p.parent.parent in live_folders(site)}
    assert cameras and cameras <= listed(seen) and report.listed >= len(cameras)
    newer = live_segment(site, "press-01", second=10)  # no event tells: the listing finds it
    watch_once(catalog, settings, state)
    assert watch_once(catalog, settings, state).ingested == 1 and str(newer) in catalogued(catalog)


def test_the_flat_layout_still_walks_the_whole_tree(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    for camera in CAMERAS:
        (root / camera).mkdir(parents=True)
        write_clip(root / camera / f"{camera}_20260105T070000Z.mp4", 10)
    settings = settings_for(root, tmp_path, catalog, recordings_layout="flat")
    state = new_state()
    with observed() as seen:
        watch_once(catalog, settings, state)
    assert {root / c for c in CAMERAS} <= listed(seen)
    assert watch_once(catalog, settings, state).ingested == 2


def test_with_frigate_s_database_a_tick_reads_only_its_newest_rows(
    catalog: Catalog, tmp_path: Path
) -> None:
    folder = tmp_path / "frigate"
    root = folder / "recordings"
    database = folder / "frigate.db"
    root.mkdir(parents=True)
    create_frigate_db(database)

    def add(start: dt.datetime, count: int) -> None:
        segments = []
        for i in range(count):
            begin = start + dt.timedelta(seconds=6 * i)
            path = segment_path(root, "press-01", begin)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_clip(path, 30, fps=5.0, seed=i)
            relative = path.relative_to(root).as_posix()
            epoch = begin.timestamp()
            segments.append(Segment(f"{epoch}-abcdef", "press-01", relative, epoch, epoch + 6))
        insert_rows(database, segments)

    add(OLD, 3)
    settings = settings_for(
        root,
        tmp_path,
        catalog,
        recordings_layout="frigate-db",
        frigate_db=database,
        watch_margin_seconds=0,
    )
    state = new_state()
    first = watch_once(catalog, settings, state)
    assert first.frigate_rows == 3 and first.ingested == 3
    assert watch_once(catalog, settings, state).frigate_rows == 0  # nothing new: nothing read
    add(OLD + dt.timedelta(minutes=5), 2)
    later = watch_once(catalog, settings, new_state())  # a restarted daemon, too
    assert later.frigate_rows == 2 and later.ingested == 2
    assert len(catalogued(catalog)) == 5
    assert not any(p.startswith(FRIGATE_ROOT) for p in catalogued(catalog))  # found under root
