"""The audio mix with the real browser and ffmpeg: placement, trim, volume, length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.integration.media_support import (
    RATE,
    copy_fixture,
    decode_audio,
    events,
    rms_db,
    stream_types,
    tone,
    video_duration,
    write_wav,
)

TOLERANCE = 0.005  # seconds
AAC_FRAME = 1024 / RATE
CLICKS = (0.25, 0.75, 2.25, 2.75)


def _audio_project(tmp_path: Path) -> Path:
    project = copy_fixture("media-audio", tmp_path)
    # The tone: mono at 44.1 kHz (resampled, and copied to both channels by the mix).
    write_wav(project / "media" / "tone.wav", tone(1.5, rate=44_100), rate=44_100)
    # The clicks: stereo at 22.05 kHz, 2 ms bursts.
    clicks = np.zeros((3 * 22_050, 2), np.float32)
    for at in CLICKS:
        clicks[round(at * 22_050):round(at * 22_050) + 44] = 0.5
    write_wav(project / "media" / "clicks.wav", clicks, rate=22_050)
    return project


@pytest.mark.parametrize(("chunk_size", "workers"), [(90, 1), (23, 2)])
def test_tone_starts_at_one_second_in_one_and_four_chunks(
        tmp_path: Path, chunk_size: int, workers: int) -> None:
    out = tmp_path / "out.mp4"
    result = render_local(_audio_project(tmp_path), out,
                          RenderOptions(chunk_size=chunk_size, quality="draft"), workers=workers)
    assert len(result.plan.chunks) == (1 if chunk_size == 90 else 4)
    assert stream_types(out) == ["video", "audio"]
    audio = decode_audio(out)
    # Both channels carry the mono tone at its own level: no normalisation, no -3 dB pan.
    found = events(audio[:, 0], threshold=0.1)
    tone_events = [(start, end) for start, end in found if end - start > 0.1]
    assert len(tone_events) == 1, found
    onset, end = tone_events[0]
    assert abs(onset - 1.0) <= TOLERANCE, onset
    assert abs(end - 2.0) <= TOLERANCE, end  # data-duration="1" cuts the 1.5 s source
    assert 0.22 < float(np.abs(audio[round(1.2 * RATE):round(1.8 * RATE), 1]).max()) < 0.28
    clicks = [start for start, stop in found if stop - start < 0.05]
    assert len(clicks) == len(CLICKS), found
    for got, want in zip(clicks, CLICKS, strict=True):
        assert abs(got - want) <= TOLERANCE, (got, want)
    # The audio lasts as long as the video, within one AAC frame.
    assert video_duration(out) == pytest.approx(3.0, abs=1e-6)
    assert abs(len(audio) / RATE - 3.0) <= AAC_FRAME


def test_volume_media_start_rate_and_loop(tmp_path: Path) -> None:
    project = copy_fixture("media-levels", tmp_path)
    write_wav(project / "tone.wav", tone(1.0))
    late = np.concatenate([np.zeros(round(0.7 * RATE), np.float32), tone(1.0)])
    write_wav(project / "late.wav", late)
    write_wav(project / "beep.wav", np.concatenate([tone(0.1), np.zeros(round(0.4 * RATE),
                                                                         np.float32)]))
    out = tmp_path / "out.mp4"
    render_local(project, out, RenderOptions(quality="draft"), workers=1)
    audio = decode_audio(out)[:, 0]
    # data-volume="0.5" is -6.02 dB.
    difference = rms_db(audio, 1.2, 1.6) - rms_db(audio, 0.2, 0.6)
    assert difference == pytest.approx(-6.02, abs=0.5)
    found = events(audio, threshold=0.05)
    expected = [(0.0, 0.8), (1.0, 1.8),
                # data-media-start="0.5" skips half a second of source: the tone 0.7 s into
                # the file is heard 0.2 s after the element starts at 2 s.
                (2.2, 2.8),
                # At rate 2 from 0.3 s: (0.7 - 0.3) / 2 after 3 s, for 1 s / 2 of tone.
                (3.2, 3.7),
                # loop: the 0.5 s source starts again at 4.5 s.
                (4.0, 4.1), (4.5, 4.6)]
    assert len(found) == len(expected), found
    for index, ((start, end), (want_start, want_end)) in enumerate(
            zip(found, expected, strict=True)):
        # Pitch-preserving tempo change (atempo, as a browser's preservesPitch) blends
        # overlapping windows, which moves an onset by a part of its ~43 ms window.
        tolerance = 0.02 if index == 3 else TOLERANCE
        assert abs(start - want_start) <= tolerance, (found, expected)
        assert abs(end - want_end) <= tolerance, (found, expected)
