"""How long a render on Lambda may be, and checking a project before anything is uploaded.

A render on Lambda costs money per frame, so a composition that is far longer than meant
(a ``data-duration`` of 6000 instead of 60, a timeline that never ends) must not run to
the end unnoticed. Every render has a frame ceiling: ``--max-frames N``, or by default
:data:`DEFAULT_MAX_SECONDS` (10 minutes) of video at the render's frame rate (18,000
frames at 30 fps); ``--allow-long`` lifts it. The ceiling travels in the execution's input
(``limits``) and is checked twice with the same function: by the client before uploading,
when the composition declares its duration (``data-duration``), and by the handler's plan
step, before planning for a declared duration and after it for one read from the timeline.
Either way nothing is rendered: ``RENDER_TOO_LONG`` (exit 2) names the frames, the
duration and the flags that allow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from hfaction.errors import InvalidOption, RenderTooLong

DEFAULT_MAX_SECONDS = 600  # 10 minutes of video at the render's frame rate


@dataclass(frozen=True)
class RenderLimits:
    """``max_frames``: the ceiling (None: :data:`DEFAULT_MAX_SECONDS` at the render's fps);
    ``allow_long``: no ceiling at all."""

    max_frames: int | None = None
    allow_long: bool = False

    def checked(self) -> RenderLimits:
        if self.max_frames is not None and (isinstance(self.max_frames, bool) or
                                            not isinstance(self.max_frames, int) or
                                            self.max_frames < 1):
            raise InvalidOption(f"--max-frames {self.max_frames!r} must be a positive integer")
        if not isinstance(self.allow_long, bool):
            raise InvalidOption(f"allow_long {self.allow_long!r} must be true or false")
        return self

    def to_event(self) -> dict[str, Any]:
        """The ``limits`` of an execution's input."""
        return {"max_frames": self.max_frames, "allow_long": self.allow_long}

    @classmethod
    def from_event(cls, raw: Any) -> RenderLimits:
        """The limits of an execution's input; none given: the default ceiling."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict) or set(raw) - {"max_frames", "allow_long"}:
            raise InvalidOption("limits must be an object with max_frames and allow_long")
        return cls(max_frames=raw.get("max_frames"),
                   allow_long=raw.get("allow_long", False)).checked()

    def ceiling(self, fps: Fraction) -> int | None:
        """The most frames a render at ``fps`` may have; None: no ceiling."""
        if self.allow_long:
            return None
        if self.max_frames is not None:
            return self.max_frames
        return math.ceil(DEFAULT_MAX_SECONDS * fps)

    def check_frames(self, frames: int, fps: Fraction, *, what: str) -> None:
        """RENDER_TOO_LONG when ``frames`` at ``fps`` exceed the ceiling."""
        ceiling = self.ceiling(fps)
        if ceiling is None or frames <= ceiling:
            return
        which = (f"--max-frames {ceiling}" if self.max_frames is not None else
                 f"the default ceiling of {ceiling} frames ({DEFAULT_MAX_SECONDS // 60} minutes "
                 f"at {_fps(fps)} fps)")
        raise RenderTooLong(
            f"{what} has {frames} frames ({_clock(frames / fps)} at {_fps(fps)} fps), more "
            f"than {which}; nothing was rendered",
            hint=f"check its duration, or pass --max-frames {frames} (or --allow-long) to "
            "render it anyway")


def _fps(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}"


def _clock(seconds: Fraction) -> str:
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


def check_project(project_dir: Path, entry: str, fps_option: str | None,
                  limits: RenderLimits | None = None) -> None:
    """What the plan step would refuse that the files alone show, before anything is
    uploaded: a folder without its entry file (ENTRY_NOT_FOUND) or composition root, read
    by the planner's own :func:`~hfaction.render.composition.load_project`; with
    ``limits``, a declared duration above the ceiling (RENDER_TOO_LONG)."""
    from hfaction.render.composition import load_project
    from hfaction.render.framemath import frame_count, parse_fps
    from hfaction.render.project import check_project_dir

    composition = load_project(check_project_dir(project_dir), entry)
    root = composition.root
    if limits is None or root.duration is None:
        return
    fps = parse_fps(fps_option, where="--fps") if fps_option else root.fps
    limits.check_frames(frame_count(root.duration, fps), fps,
                        what=f"the composition {root.composition_id!r} ({root.where})")
