"""A <video>'s colours with the real browser and ffmpeg: a source without colour tags is
read as BT.709 (as Chromium, and so HyperFrames, reads it), a tagged one as its tag says."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.integration.conftest import decode_rgb

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 160, 96
# A colour whose BT.601 and BT.709 readings differ by more than 25 levels, unclipped.
COLOUR = "0xe030e8"
# Kr, Kb of each matrix.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
TAGS = {"bt601": ["-colorspace", "smpte170m", "-color_primaries", "smpte170m",
                  "-color_trc", "smpte170m"],
        "bt709": ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]}

PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><style>
  html, body {{ margin: 0; background: #000; }}
  video {{ position: absolute; inset: 0; width: {WIDTH}px; height: {HEIGHT}px; }}
</style></head><body>
<div id="root" data-composition-id="main" data-width="{WIDTH}" data-height="{HEIGHT}"
     data-start="0" data-duration="0.2" data-fps="30" data-no-timeline>
  <video src="clip.mp4" data-start="0" muted></video>
</div></body></html>
"""


def _write_clip(path: Path, encoded_with: str, tags: list[str]) -> tuple[int, int, int]:
    """A lossless limited-range clip of COLOUR encoded with one matrix; its (Y, Cb, Cr)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={COLOUR}:s={WIDTH}x{HEIGHT}:r=30:d=0.5", "-vf",
                    f"scale=out_color_matrix={encoded_with}:out_range=tv,format=yuv420p",
                    "-c:v", "libx264", "-qp", "0", *tags, str(path)], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "yuv444p", "-"],
                         capture_output=True, check=True).stdout
    planes = np.frombuffer(raw, np.uint8).reshape(3, HEIGHT, WIDTH)
    y, cb, cr = (int(plane[HEIGHT // 2, WIDTH // 2]) for plane in planes)
    return y, cb, cr


def _rgb(ycbcr: tuple[int, int, int], matrix: str) -> np.ndarray:
    """Limited-range YCbCr read with ``matrix``, as 8-bit RGB."""
    kr, kb = MATRICES[matrix]
    y = (ycbcr[0] - 16) / 219
    cb, cr = (ycbcr[1] - 128) / 224, (ycbcr[2] - 128) / 224
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    rgb: np.ndarray = np.clip(np.array([r, g, b]) * 255, 0, 255)
    return rgb


def _shown(project: Path, tmp_path: Path) -> np.ndarray:
    out = tmp_path / "out.mp4"
    render_local(project, out, RenderOptions(crf=0), workers=1)
    centre = decode_rgb(out)[:, HEIGHT // 4: 3 * HEIGHT // 4, WIDTH // 4: 3 * WIDTH // 4]
    mean: np.ndarray = centre.reshape(-1, 3).astype(float).mean(axis=0)
    return mean


@pytest.mark.parametrize(("encoded_with", "tagged", "read_as"), [
    ("bt601", False, "bt709"),  # no tags: BT.709, even though it was made with BT.601
    ("bt709", False, "bt709"),
    ("bt601", True, "bt601"),
    ("bt709", True, "bt709"),
])
def test_video_colours_follow_the_source_matrix(tmp_path: Path, encoded_with: str,
                                               tagged: bool, read_as: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "index.html").write_text(PAGE)
    ycbcr = _write_clip(project / "clip.mp4", encoded_with, TAGS[encoded_with] if tagged else [])
    expected, other = _rgb(ycbcr, read_as), _rgb(ycbcr, "bt601" if read_as == "bt709" else "bt709")
    assert np.abs(expected - other).max() > 20  # the two readings are far apart
    shown = _shown(project, tmp_path)
    # Four 8-bit conversions (source to JPEG, page to JPEG, to H.264, back) cost a few levels.
    assert np.abs(shown - expected).max() <= 8, f"shown {shown}, expected {expected}"
    assert np.abs(shown - other).max() >= 20, f"shown {shown}, the other reading {other}"
