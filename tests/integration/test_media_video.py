"""<video> elements with the real browser and ffmpeg: every output frame shows the source
frame the formula predicts, in one chunk and across chunk seams."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.integration.conftest import decode_gray, read_bits
from tests.integration.media_support import (
    bit_frames,
    copy_fixture,
    frame_times,
    stream_types,
    write_video,
)

FPS = Fraction(30)


def expected_index(times: list[Fraction], t: Fraction, start: Fraction, media_start: Fraction,
                   rate: Fraction) -> int:
    """The frame displayed at source time media_start + (t - start) * rate."""
    at = media_start + (t - start) * rate
    return max(0, bisect_right(times, at) - 1)


@pytest.mark.parametrize(("chunk_size", "workers"), [(66, 1), (17, 2)])
def test_video_frames_follow_the_formula_across_seams(
        tmp_path: Path, chunk_size: int, workers: int) -> None:
    project = copy_fixture("media-video", tmp_path)
    write_video(project / "index.mp4", bit_frames(60, 160, 90))
    out = tmp_path / "out.mp4"
    result = render_local(project, out, RenderOptions(chunk_size=chunk_size, crf=0),
                          workers=workers)
    assert len(result.plan.chunks) == math.ceil(66 / chunk_size)
    times = [Fraction(i, 30) for i in range(60)]
    frames = decode_gray(out)
    assert len(frames) == 66
    shown = [read_bits(frame) for frame in frames[:60]]
    expected = [expected_index(times, Fraction(k) / FPS, Fraction(0), Fraction(1, 2), Fraction(1))
                for k in range(30)]
    expected += [expected_index(times, Fraction(k) / FPS, Fraction(1), Fraction(0), Fraction(2))
                 for k in range(30, 60)]
    assert expected[:3] == [15, 16, 17] and expected[30:33] == [0, 2, 4]
    assert shown == expected
    # After both windows only the grey background is on screen.
    tail = frames[60:].astype(int)
    assert abs(tail.mean() - 128) < 4 and tail.std() < 4
    # No element has audio: the output has no audio stream at all.
    assert stream_types(out) == ["video"]


def test_variable_frame_rate_and_odd_sized_sources(tmp_path: Path) -> None:
    project = copy_fixture("media-vfr-odd", tmp_path)
    # Frames last 1/20 s and 1/60 s in turn (ticks of 1/600 s).
    write_video(project / "vfr.mp4", bit_frames(40, 160, 90),
                setpts="floor(N/2)*40+mod(N,2)*30")
    write_video(project / "odd.mp4", bit_frames(40, 121, 91), pix_fmt="yuv444p")
    vfr_times = frame_times(project / "vfr.mp4")
    steps = {b - a for a, b in itertools.pairwise(vfr_times)}
    assert steps == {Fraction(1, 20), Fraction(1, 60)}  # the source really is VFR
    odd_times = frame_times(project / "odd.mp4")
    out = tmp_path / "out.mp4"
    render_local(project, out, RenderOptions(chunk_size=20, crf=0), workers=2)
    frames = decode_gray(out)
    assert len(frames) == 60
    vfr_shown = [read_bits(frame) for frame in frames[:30]]
    vfr_expected = [expected_index(vfr_times, Fraction(k) / FPS, Fraction(0), Fraction(1, 10),
                                   Fraction(1)) for k in range(30)]
    # A constant-rate reading (index = time * 30) would differ on these frames.
    assert vfr_expected != [3 + k for k in range(30)]
    assert vfr_shown == vfr_expected
    # 121x91 (in a nested composition) in a 320x180 box with object-fit: contain is
    # 239x180, centred: grey bars of 40 pixels left and right, the picture between.
    odd = frames[30:]
    bars = np.concatenate([odd[:, :, :36], odd[:, :, 284:]], axis=2).astype(int)
    assert abs(bars.mean() - 128) < 4 and bars.std() < 4
    odd_shown = [read_bits(frame[:, 41:279]) for frame in odd]
    odd_expected = [expected_index(odd_times, Fraction(k) / FPS, Fraction(1), Fraction(0),
                                   Fraction(1)) for k in range(30, 60)]
    assert odd_shown == odd_expected
