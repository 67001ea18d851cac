"""Bad and remote media: failures come at planning, name the element and its file:line,
and exit 2 before any chunk renders; remote media is fetched once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hfaction.render.media
from hfaction.cli import main
from hfaction.render.chunk import render_chunk
from hfaction.render.options import RenderOptions
from hfaction.render.planner import plan
from tests.integration.conftest import LoopbackServer
from tests.integration.media_support import (
    bit_frames,
    stream_types,
    tone,
    write_video,
    write_wav,
)

PAGE = """<!doctype html>
<html><body>
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-no-timeline>
  {element}
</div>
</body></html>
"""


def _project(tmp_path: Path, element: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "index.html").write_text(PAGE.format(element=element))
    return project


def _plan_error(project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    plan_dir = project.parent / "plan"
    code = main(["plan", str(project), "--plan-dir", str(plan_dir)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert not plan_dir.exists()  # nothing half-written
    return " ".join(err.split())


def test_missing_media_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, '<video id="intro" src="clips/intro.mp4"></video>')
    err = _plan_error(project, capsys)
    assert "MEDIA_NOT_FOUND" in err
    assert 'id="intro"' in err and "clips/intro.mp4" in err and "index.html:5" in err


def test_unsupported_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, '<audio id="voice" src="voice.mp3"></audio>')
    (project / "voice.mp3").write_bytes(b"this is not an mp3 file at all\n" * 64)
    err = _plan_error(project, capsys)
    assert "MEDIA_UNSUPPORTED" in err and 'id="voice"' in err and "index.html:5" in err


def test_playlists_are_not_opened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An HLS playlist would make ffmpeg read any file it names (or reach the network).
    project = _project(tmp_path, '<video id="hls" src="stream.m3u8"></video>')
    (project / "stream.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                                         "file:///etc/passwd\n#EXT-X-ENDLIST\n")
    err = _plan_error(project, capsys)
    assert "MEDIA_UNSUPPORTED" in err and 'id="hls"' in err and "playlists" in err


def test_a_video_the_page_removes_fails_at_planning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, '<video id="gone" src="clip.mp4"></video>'
                                 '<script>document.getElementById("gone").remove();</script>')
    write_video(project / "clip.mp4", bit_frames(5, 32, 32))
    err = _plan_error(project, capsys)
    assert "PAGE_SCRIPT_ERROR" in err and "<video> at index.html:5 is not in the page" in err


def test_zero_length_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, '<audio id="silence" src="empty.wav"></audio>')
    write_wav(project / "empty.wav", np.zeros(0, np.float32))
    err = _plan_error(project, capsys)
    assert "MEDIA_EMPTY" in err and 'id="silence"' in err and "empty.wav" in err


def test_video_said_to_have_audio_without_an_audio_stream(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, '<video id="clip" src="clip.mp4" data-has-audio="true">'
                                 '</video>')
    write_video(project / "clip.mp4", bit_frames(5, 32, 32))
    err = _plan_error(project, capsys)
    assert "MEDIA_UNSUPPORTED" in err and "no audio stream" in err and 'id="clip"' in err


def test_remote_media_too_large(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                loopback_server: tuple[LoopbackServer, Path],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    server, root = loopback_server
    write_wav(root / "music.wav", tone(1.0))
    monkeypatch.setattr(hfaction.render.media, "MAX_REMOTE_MEDIA_BYTES", 10_000)
    url = server.url("music.wav")
    project = _project(tmp_path, f'<audio id="music" src="{url}"></audio>')
    err = _plan_error(project, capsys)
    assert "MEDIA_TOO_LARGE" in err and 'id="music"' in err and url in err


def test_remote_media_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              loopback_server: tuple[LoopbackServer, Path]) -> None:
    server, _root = loopback_server
    url = server.url("nowhere.mp4")
    project = _project(tmp_path, f'<video id="remote" src="{url}"></video>')
    err = _plan_error(project, capsys)
    assert "MEDIA_NOT_FOUND" in err and "HTTP 404" in err and 'id="remote"' in err


def test_remote_media_is_fetched_once_and_rendered_from_the_plan(
        tmp_path: Path, loopback_server: tuple[LoopbackServer, Path]) -> None:
    server, root = loopback_server
    write_wav(root / "music.wav", tone(1.0))
    write_video(root / "clip.mp4", bit_frames(30, 64, 64))
    project = _project(tmp_path, f'<audio id="music" src="{server.url("music.wav")}"></audio>'
                                 f'<video id="clip" src="{server.url("clip.mp4")}" '
                                 'style="width:64px;height:64px"></video>')
    planned = plan(project, RenderOptions(chunk_size=15), tmp_path / "plan")
    assert {item["kind"] for item in planned.to_dict()["frozen"]} >= {"audio", "video"}
    assert sorted(planned.remote_assets) == sorted([server.url("music.wav"),
                                                    server.url("clip.mp4")])
    server.stop()  # chunks must not need the network
    chunk = render_chunk(tmp_path / "plan", 1, tmp_path / "chunk.mp4")
    assert chunk.frames == 15
    assert stream_types(chunk.path) == ["video"]  # chunks never carry audio
    assert server.requests["/music.wav"] == 1 and server.requests["/clip.mp4"] == 1
    # The frozen media is part of the plan: a changed frame is caught.
    frame = next((tmp_path / "plan" / "frozen" / "media").glob("video-0/*.jpg"))
    frame.write_bytes(frame.read_bytes() + b"\0")
    from hfaction.errors import PlanHashMismatch

    with pytest.raises(PlanHashMismatch, match="frozen video"):
        render_chunk(tmp_path / "plan", 0, tmp_path / "again.mp4")
