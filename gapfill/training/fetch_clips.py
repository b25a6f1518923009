"""Fetch the real clips that come inside OpenCV's source distribution on PyPI (`make real-clips`).

The opencv-python sdist (pinned below by version and sha256) carries OpenCV's sample videos.
Four of them are registered in gapfill.training.clips: vtest.avi, a fixed outdoor camera at 10 fps
(evaluation), and box.mp4, cup.mp4 and tree.avi (training). This downloads the archive once
(83 MB), checks its sha256, extracts those four files into gapfill.training.clips.fetched_clip_dir()
and checks each one's registered sha256. An install step, like pip's: nothing fetches footage at
run time, and the tests do not need these clips (the benchmarks do).

    .venv/bin/python -m gapfill.training.fetch_clips [--sdist opencv_python-5.1.0.95.tar.gz]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from gapfill.console import progress
from gapfill.errors import UserError
from gapfill.media.encode import atomic_write_bytes
from gapfill.training.clips import ALL_CLIPS, fetched_clip_dir, sha256_file

SDIST_NAME = "opencv_python-5.1.0.95.tar.gz"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/24/a2/"
    "97d6867da049747d3cd39ddddbe31d421eec42a2f4edadd2e20d5a84b1da/" + SDIST_NAME
)
SDIST_SHA256 = "3d4a901a458e9503c92610f237850cfc970c66b3f1cc94f45f2942715280ebab"
CHUNK = 1 << 20


def missing_clips(folder: Path) -> list[str]:
    """The registered sdist clips not yet in `folder` with their registered sha256."""
    names = [name for name, info in ALL_CLIPS.items() if info.fetched]
    return [
        name
        for name in names
        if not (folder / name).is_file() or sha256_file(folder / name) != ALL_CLIPS[name].sha256
    ]


def download_sdist(url: str, dest: Path) -> None:
    """Download `url` to `dest`, refusing it unless its sha256 is SDIST_SHA256."""
    digest = hashlib.sha256()
    partial = dest.with_name(dest.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(f"download {SDIST_NAME}", total) as bar:
                while block := response.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.advance(len(block))
    except OSError as exc:  # URLError and socket errors are OSErrors
        partial.unlink(missing_ok=True)
        raise UserError(f"{url}: cannot download ({exc})") from None
    if digest.hexdigest() != SDIST_SHA256:
        partial.unlink(missing_ok=True)
        raise UserError(f"{url}: sha256 {digest.hexdigest()} is not the pinned {SDIST_SHA256}")
    partial.rename(dest)


def extract_clips(sdist: Path, folder: Path) -> list[str]:
    """Write the registered clips from the archive `sdist` into `folder`; returns their names.
    Each file is checked against its sha256 before it is written, and written under a hidden name
    that takes the final one only when complete: a bad archive or a failed write leaves nothing."""
    if not sdist.is_file():
        raise UserError(f"{sdist}: no such file")
    if sha256_file(sdist) != SDIST_SHA256:
        raise UserError(f"{sdist}: not the pinned {SDIST_NAME} (sha256 differs)")
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist, "r:gz") as archive:
            for name in missing_clips(folder):
                _extract_one(archive, name, folder, sdist)
                written.append(name)
    except (tarfile.TarError, KeyError, EOFError) as exc:
        raise UserError(f"{sdist}: cannot read the archive ({exc})") from None
    except OSError as exc:
        raise UserError(f"{folder}: cannot write the clips ({exc.strerror or exc})") from None
    return written


def _extract_one(archive: tarfile.TarFile, name: str, folder: Path, sdist: Path) -> None:
    member = ALL_CLIPS[name].sdist_member
    source = archive.extractfile(member) if member is not None else None
    if source is None:
        raise UserError(f"{sdist}: {member} is not a file")
    with source:
        data = source.read()  # a few MB each
    if hashlib.sha256(data).hexdigest() != ALL_CLIPS[name].sha256:
        raise UserError(f"{sdist}: {name} differs from the registered clip")
    atomic_write_bytes(folder / name, data)


def fetch(folder: Path, sdist: Path | None = None) -> list[str]:
    """Make sure every registered sdist clip is in `folder`; download the archive only if one is
    missing and no local copy is given. Returns the names written."""
    if not missing_clips(folder):
        return []
    if sdist is not None:
        return extract_clips(sdist, folder)
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / SDIST_NAME
        download_sdist(SDIST_URL, archive)
        return extract_clips(archive, folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sdist", type=Path, help=f"a copy of {SDIST_NAME} already on disk (no download)"
    )
    parser.add_argument("--dest", type=Path, default=fetched_clip_dir(), help="clip folder")
    args = parser.parse_args(argv)
    try:
        written = fetch(args.dest, args.sdist)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    state = f"fetched {', '.join(written)}" if written else "all present"
    print(f"{args.dest}: {state}")


if __name__ == "__main__":
    main()
