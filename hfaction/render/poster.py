"""A poster frame: one JPEG picture from a finished MP4, for job summaries and PR comments.

The middle frame is the default: the first frame of a composition is often a fade from
black, the middle one shows what the video is about.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from hfaction.proc import run

POSTER_WIDTH = 640  # wide enough for a summary, small enough to load instantly


def poster_frame(frames: int) -> int:
    return max(0, frames // 2)


def poster_args(video: Path, out: Path, *, frame: int, fps: Fraction,
                width: int = POSTER_WIDTH) -> list[str]:
    """ffmpeg arguments that write frame ``frame`` of ``video`` as a JPEG ``width`` wide.

    The seek lands on the frame's exact time (accurate seek, decoded from the previous
    keyframe); ``-frames:v 1`` takes that one picture. Odd heights are kept even for
    JPEG's chroma subsampling.
    """
    seconds = Fraction(frame) / fps
    return ["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{float(seconds):.6f}",
            "-i", str(video), "-frames:v", "1",
            "-vf", f"scale='min({width},iw)':-2", "-q:v", "3", str(out)]


def make_poster(video: Path, out: Path, *, frames: int, fps: Fraction) -> Path:
    run(poster_args(video, out, frame=poster_frame(frames), fps=fps), what="poster frame")
    return out
