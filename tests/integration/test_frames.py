"""Frame-exact output, determinism across chunkings and idempotence, with the real
browser and ffmpeg."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.errors import BrowserVersionMismatch
from hfaction.render.chunk import render_chunk
from hfaction.render.framemath import frame_count
from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from hfaction.render.planner import plan
from tests.conftest import FIXTURES
from tests.integration.conftest import (
    decode_gray,
    decode_rgb,
    frame_md5s,
    psnr_per_frame,
    read_bits,
)


def stream_info(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=width,height,r_frame_rate,pix_fmt,color_space,color_transfer,color_primaries,"
         "nb_read_frames,codec_name", "-of", "json", str(path)],
        capture_output=True, check=True, text=True).stdout
    return dict(json.loads(out)["streams"][0])


def test_every_frame_shows_its_own_time(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = render_local(FIXTURES / "frame-index", out, RenderOptions(chunk_size=15), workers=2)
    info = stream_info(out)
    assert result.output.frames == 60 == frame_count(Fraction(2), Fraction(30))
    assert int(info["nb_read_frames"]) == 60
    assert (info["width"], info["height"], info["r_frame_rate"]) == (320, 180, "30/1")
    assert (info["codec_name"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert info["color_space"] == info["color_primaries"] == info["color_transfer"] == "bt709"
    shown = [read_bits(frame) for frame in decode_gray(out)]
    assert shown == list(range(60))


def test_ntsc_rate_and_odd_size_are_exact(tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mp4"
    render_local(FIXTURES / "ntsc-odd", out, RenderOptions(chunk_size=7), workers=2)
    info = stream_info(out)
    expected = frame_count(Fraction("1.2"), Fraction(30000, 1001))  # ceil(35.96...) = 36
    assert expected == 36
    assert int(info["nb_read_frames"]) == expected
    assert info["r_frame_rate"] == "30000/1001"
    # Odd sides are padded by one pixel to even for yuv420p.
    assert (info["width"], info["height"]) == (322, 182)
    frames = decode_gray(out)
    shown = [read_bits(frame[:180, :320]) for frame in frames]
    assert shown == list(range(expected))
    # The padding column and row are black.
    assert frames[:, :, 321].mean() < 20 and frames[:, 181, :].mean() < 20


def test_lossless_output_is_identical_across_chunkings_and_workers(tmp_path: Path) -> None:
    one = tmp_path / "one.mp4"
    many = tmp_path / "many.mp4"
    render_local(FIXTURES / "motion", one, RenderOptions(crf=0, chunk_size=60), workers=1)
    render_local(FIXTURES / "motion", many, RenderOptions(crf=0, chunk_size=15), workers=2)
    first, second = frame_md5s(one), frame_md5s(many)
    assert len(first) == len(second) == 60
    assert first == second
    assert len(set(first)) > 30  # the fixture really moves: frames differ from each other


def test_standard_preset_chunked_matches_single_chunk(tmp_path: Path) -> None:
    one = tmp_path / "one.mp4"
    many = tmp_path / "many.mp4"
    render_local(FIXTURES / "motion", one, RenderOptions(chunk_size=60), workers=1)
    render_local(FIXTURES / "motion", many, RenderOptions(chunk_size=15), workers=2)
    psnr = psnr_per_frame(one, many)
    assert len(psnr) == 60
    assert sum(psnr) / len(psnr) >= 45.0
    seams = [frame for boundary in (15, 30, 45) for frame in (boundary - 1, boundary)]
    assert min(psnr[frame] for frame in seams) >= 40.0


def test_rendering_a_chunk_twice_gives_the_same_frames(tmp_path: Path) -> None:
    plan_dir = tmp_path / "plan"
    plan(FIXTURES / "motion", RenderOptions(chunk_size=20), plan_dir)
    first = render_chunk(plan_dir, 1, tmp_path / "a.mp4")
    second = render_chunk(plan_dir, 1, tmp_path / "b.mp4")
    assert (first.start, first.end) == (second.start, second.end) == (20, 40)
    assert frame_md5s(first.path) == frame_md5s(second.path)
    assert len(frame_md5s(first.path)) == 20


@pytest.mark.parametrize("workers", [1, 2])
def test_clip_window_and_frozen_clock(tmp_path: Path, workers: int) -> None:
    # The red clip at the top right is visible only during [0.5, 1.5).
    out = tmp_path / "motion.mp4"
    render_local(FIXTURES / "motion", out, RenderOptions(crf=0, chunk_size=10), workers=workers)
    patch = decode_rgb(out)[:, 15:40, 285:305].astype(int).mean(axis=(1, 2))
    red = (0xEF, 0x47, 0x6F)
    visible = [index for index, colour in enumerate(patch)
               if max(abs(c - r) for c, r in zip(colour, red, strict=True)) < 30]
    assert visible == list(range(15, 45))


def test_screenshot_fallback_draws_the_same_frames_as_begin_frame(tmp_path: Path) -> None:
    # A full Chromium (no HeadlessExperimental.beginFrame) captures with screenshots; the
    # headless shell launched as such a browser stands in for it here.
    from hfaction.render.browser import BrowserInfo, resolve_browser
    from hfaction.render.capture import BrowserSession

    shell = resolve_browser()
    assert shell.begin_frame
    options = RenderOptions(chunk_size=20, crf=0)
    plan(FIXTURES / "motion", options, tmp_path / "bf-plan")
    begin_frame = render_chunk(tmp_path / "bf-plan", 1, tmp_path / "bf.mp4")
    with BrowserSession(BrowserInfo(shell.path, "chromium")) as session:
        planned = plan(FIXTURES / "motion", options, tmp_path / "shot-plan", session=session)
        assert planned.to_dict()["capture"]["method"] == "screenshot"
        screenshots = render_chunk(tmp_path / "shot-plan", 1, tmp_path / "shot.mp4",
                                   session=session)
        psnr = psnr_per_frame(begin_frame.path, screenshots.path)
        assert len(psnr) == 20 and min(psnr) >= 50.0  # measured: 56 to 63 dB
        # One render never mixes the two: a chunk refuses a browser of the other method.
        with pytest.raises(BrowserVersionMismatch, match="screenshot"):
            render_chunk(tmp_path / "bf-plan", 0, tmp_path / "mixed.mp4", session=session)


def test_cli_render_reports_progress_and_the_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hfaction.cli import main

    out = tmp_path / "ntsc.mp4"
    assert main(["render", str(FIXTURES / "ntsc-odd"), "-o", str(out), "--chunk-size", "12",
                 "--workers", "2"]) == 0
    captured = capsys.readouterr()
    # Not a terminal: one line per chunk instead of a bar (CI logs).
    assert "planned 36 frames (1.2s at 30000/1001 fps, 322x182) in 3 chunks on 2 workers" \
        in captured.err
    assert captured.err.count("chunk ") == 3
    assert f"wrote {out} (1.201s, 36 frames, 322x182" in captured.out


def test_nested_composition_styles_apply_inside_their_host_only(tmp_path: Path) -> None:
    out = tmp_path / "scoped.mp4"
    render_local(FIXTURES / "nested-scoped", out, RenderOptions(crf=0), workers=1)
    frame = decode_rgb(out)[0].astype(int)
    colours = [tuple(frame[40:60, x:x + 20].reshape(-1, 3).mean(axis=0).round())
               for x in (40, 140, 240)]
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for got, want in zip(colours, expected, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 20, colours
