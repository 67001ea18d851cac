"""hfaction against HyperFrames' own renders of its regression compositions.

The corpus is not part of the project: it is found at ``HFACTION_CONFORMANCE``, else
``<repo>/../shared/conformance``; without it every test here skips, naming the path.
The comparison is ``benchmarks/conformance.py``'s, imported as a module.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import conformance

REPO = Path(__file__).resolve().parents[2]


CORPUS: Path = conformance.default_corpus()
if not (CORPUS / "manifest.json").is_file():
    pytest.skip(f"no conformance corpus at {CORPUS} (set HFACTION_CONFORMANCE)",
                allow_module_level=True)

FIXTURES = {f.id: f for f in conformance.load_manifest(CORPUS)}
pytestmark = pytest.mark.browser


def _describe(r: Any) -> str:
    return (f"{r.id}: {'; '.join(r.reasons)} | frames {r.frames_ours}/{r.frames_ref}, "
            f"size {r.size_ours}/{r.size_ref}, PSNR avg {r.psnr_avg} min {r.psnr_min}, "
            f"{r.frames_below} below (min_psnr {FIXTURES[r.id].min_psnr}), "
            f"audio corr {r.audio_correlation}")


@pytest.mark.parametrize("fixture_id", sorted(FIXTURES))
def test_matches_hyperframes(fixture_id: str, tmp_path: Path) -> None:
    result = conformance.run_fixture(FIXTURES[fixture_id], tmp_path)
    assert result.passed, _describe(result)


# -- the comparison itself ------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def _audible(path: Path) -> bool:
    pcm = conformance.decode_pcm(path)
    return pcm is not None and float(abs(pcm).max(initial=0.0)) > 0.01


def _smallest_silent_and_audio() -> tuple[Any, Any]:
    """The smallest references without an audio stream and with audible audio."""
    by_size = sorted(FIXTURES.values(), key=lambda f: f.reference.stat().st_size)
    silent = next((f for f in by_size if not conformance.probe(f.reference).has_audio), None)
    voiced = next((f for f in by_size if _audible(f.reference)), None)
    if silent is None or voiced is None:
        pytest.skip("the corpus needs a reference without audio and one with audible audio")
    return silent, voiced


def test_psnr_detects_altered_frames(tmp_path: Path) -> None:
    fixture, _ = _smallest_silent_and_audio()
    ref = fixture.reference
    frames = conformance.probe(ref).frames
    first, last = frames // 3, frames // 3 + 4

    same = conformance.psnr_per_frame(ref, ref)
    assert same == [100.0] * frames
    assert conformance.compare(ref, ref, fixture).passed

    altered = tmp_path / "altered.mp4"
    _ffmpeg("-i", str(ref), "-vf", f"negate=enable='between(n,{first},{last})'",
            "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(altered))
    values = conformance.psnr_per_frame(altered, ref)
    assert len(values) == frames
    bad = [i for i, v in enumerate(values) if v < 30]
    assert bad == list(range(first, last + 1)), values
    assert min(v for i, v in enumerate(values) if i not in bad) > 40, values
    result = conformance.compare(altered, ref, fixture)
    assert not result.passed and result.frames_below == 5, result.reasons

    # one frame dropped at the start: the count differs and every later frame is shifted
    shifted = tmp_path / "shifted.mp4"
    _ffmpeg("-i", str(ref), "-vf", "trim=start_frame=1,setpts=PTS-STARTPTS",
            "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(shifted))
    result = conformance.compare(shifted, ref, fixture)
    assert not result.passed
    assert f"frames {frames - 1} != {frames}" in result.reasons


def test_audio_correlation(tmp_path: Path) -> None:
    silent, voiced = _smallest_silent_and_audio()
    ref = voiced.reference
    assert conformance.audio_correlation(ref, ref) == pytest.approx(1.0, abs=1e-6)
    assert conformance.audio_correlation(ref, silent.reference) is None

    delayed, noise, muted = tmp_path / "delayed.wav", tmp_path / "noise.wav", tmp_path / "m.wav"
    _ffmpeg("-i", str(ref), "-vn", "-af", "adelay=50:all=1", str(delayed))
    _ffmpeg("-f", "lavfi", "-i", "anoisesrc=d=10:a=0.3:seed=7", "-ar", "48000", str(noise))
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "10", str(muted))
    assert conformance.audio_correlation(delayed, ref) > 0.95  # within the +-100 ms search
    assert conformance.audio_correlation(noise, ref) < 0.2
    assert conformance.audio_correlation(muted, ref) < 0.2
