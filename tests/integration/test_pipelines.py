"""A chunk captured by several browsers at once (``render_chunk(pipelines=N)``, as a
Lambda function with several vCPUs renders) is the chunk one browser renders: the one
encoder sees the same frames in the same order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hfaction.errors import PageScriptError
from hfaction.render.capture import CompositionPage
from hfaction.render.chunk import render_chunk
from hfaction.render.options import RenderOptions
from hfaction.render.planner import plan
from tests.conftest import FIXTURES
from tests.integration.conftest import frame_md5s, read_bits

pytestmark = pytest.mark.browser


def _plan(tmp_path: Path, fixture: str, chunk_size: int) -> Path:
    plan_dir = tmp_path / "plan"
    plan(FIXTURES / fixture, RenderOptions(crf=0, chunk_size=chunk_size), plan_dir)
    return plan_dir


@pytest.mark.parametrize("fixture", ["motion", "frame-index"])
def test_several_pipelines_render_the_one_pipeline_chunk(tmp_path: Path, fixture: str) -> None:
    plan_dir = _plan(tmp_path, fixture, 20)
    one = render_chunk(plan_dir, 1, tmp_path / "one.mp4", pipelines=1)
    frames: list[int] = []
    three = render_chunk(plan_dir, 1, tmp_path / "three.mp4", pipelines=3,
                         on_frame=frames.append)
    assert (three.start, three.end) == (one.start, one.end) == (20, 40)
    assert frames == list(range(20, 40))  # progress in frame order
    assert frame_md5s(tmp_path / "three.mp4") == frame_md5s(tmp_path / "one.mp4")
    digest = [hashlib.sha256(path.read_bytes()).hexdigest()
              for path in (tmp_path / "one.mp4", tmp_path / "three.mp4")]
    assert digest[0] == digest[1]


def test_frames_come_from_their_own_times(tmp_path: Path) -> None:
    # frame-index draws its frame number as bits: a part captured out of place would show.
    from tests.integration.conftest import decode_gray

    plan_dir = _plan(tmp_path, "frame-index", 30)
    render_chunk(plan_dir, 0, tmp_path / "chunk.mp4", pipelines=4)
    shown = [read_bits(frame) for frame in decode_gray(tmp_path / "chunk.mp4")]
    assert shown == list(range(30))


def test_a_failing_pipeline_fails_the_chunk_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan_dir = _plan(tmp_path, "motion", 40)
    real_capture = CompositionPage.capture

    def capture(self: CompositionPage, frame: int) -> bytes:
        if frame == 35:  # in the last of three parts, captured by a helper thread
            raise PageScriptError("the page threw at frame 35")
        return real_capture(self, frame)

    monkeypatch.setattr(CompositionPage, "capture", capture)
    out = tmp_path / "chunk.mp4"
    with pytest.raises(PageScriptError, match="frame 35"):
        render_chunk(plan_dir, 0, out, pipelines=3)
    assert list(tmp_path.glob("*.mp4*")) == [] and list(tmp_path.glob(".chunk*")) == []
