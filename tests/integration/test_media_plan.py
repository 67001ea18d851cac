"""What planning freezes for media, and how ``hfaction plan`` reports it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hfaction.cli import main
from tests.integration.media_support import bit_frames, tone, write_video, write_wav

PAGE = """<!doctype html>
<html><body>
<div data-composition-id="main" data-width="64" data-height="64" data-fps="30"
     data-no-timeline>
  <video id="clip" src="clip.mp4" data-start="0.5" data-duration="0.5"></video>
  <audio id="voice" src="voice.wav" data-start="0.25"></audio>
</div>
</body></html>
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "index.html").write_text(PAGE)
    write_video(project / "clip.mp4", bit_frames(20, 32, 32))
    write_wav(project / "voice.wav", tone(1.5))
    return project


def test_plan_lists_frozen_media_with_sizes(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path)
    plan_dir = tmp_path / "plan"
    assert main(["plan", str(project), "--plan-dir", str(plan_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # No data-duration and no timeline: the longest media decides (0.25 s + 1.5 s).
    assert summary["frames"] == 53 and summary["duration"] == "7/4"
    media = {item["kind"]: item for item in summary["frozen"] if item["kind"] != "font"}
    assert set(media) == {"audio", "video"}
    assert summary["audio"] == media["audio"]["path"] == "frozen/media/audio.m4a"
    assert media["audio"]["bytes"] == (plan_dir / media["audio"]["path"]).stat().st_size > 0
    frames = sorted((plan_dir / media["video"]["path"]).iterdir())
    # The clip is on screen for 15 frames showing source frames 0..14: 15 JPEGs.
    assert [path.name for path in frames] == [f"{i:06d}.jpg" for i in range(15)]
    assert media["video"]["bytes"] == sum(path.stat().st_size for path in frames)
    assert (media["video"]["name"], media["video"]["source"]) == ("clip", "clip.mp4")

    assert main(["plan", str(project)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"frozen audio mix: [\d,]+ bytes from 1 track\(s\): voice\.wav", text)
    assert re.search(r"frozen video clip: [\d,]+ bytes from clip\.mp4", text)
