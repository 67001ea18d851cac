"""Render the HyperFrames conformance corpus with hfaction and compare with HyperFrames' renders.

    python -m benchmarks.conformance [--corpus DIR] [--only ID ...] [--json FILE]
                                     [--keep DIR] [--workers N]

The corpus (``manifest.json``, ``fixtures/<id>/src``, ``refs/<id>.mp4``) is described in its
README. The rule is HyperFrames' regression harness: the same frame count and size; per
frame (paired in decode order) the Y/U/V weighted PSNR of ffmpeg's ``psnr`` filter,
identical frames counting as 100 dB; a fixture passes with at most ``max_frame_failures``
frames below ``min_psnr``; where ``min_audio_correlation`` > 0 and both have audio, the
normalised correlation of the mono signals at the best lag within +-100 ms must reach it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
IDENTICAL_DB = 100.0
AUDIO_RATE = 16000
MAX_LAG_S = 0.1
RENDER_TIMEOUT_S = 1800


def default_corpus() -> Path:
    env = os.environ.get("HFACTION_CONFORMANCE")
    return Path(env) if env else REPO.parent / "shared" / "conformance"


@dataclass(frozen=True)
class Fixture:
    id: str
    project: Path
    reference: Path
    fps: str
    workers: int | None
    chunk_size: int | None
    variables: dict[str, Any] | None
    min_psnr: float
    max_frame_failures: int
    min_audio_correlation: float


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frames: int
    has_audio: bool


@dataclass
class Result:
    id: str
    passed: bool = False
    reasons: list[str] = field(default_factory=list)
    frames_ours: int | None = None
    frames_ref: int | None = None
    size_ours: str | None = None
    size_ref: str | None = None
    psnr_avg: float | None = None
    psnr_min: float | None = None
    frames_below: int | None = None
    audio_correlation: float | None = None
    render_s: float | None = None
    output: str | None = None


def load_manifest(corpus: Path) -> list[Fixture]:
    """The manifest's fixtures, with paths resolved against ``corpus``."""
    entries = json.loads((corpus / "manifest.json").read_text())
    return [
        Fixture(
            id=e["id"],
            project=corpus / e["project"],
            reference=corpus / e["reference"],
            fps=str(e["fps"]),
            workers=e.get("workers"),
            chunk_size=e.get("chunk_size"),
            variables=e.get("variables"),
            min_psnr=float(e["min_psnr"]),
            max_frame_failures=int(e["max_frame_failures"]),
            min_audio_correlation=float(e.get("min_audio_correlation") or 0),
        )
        for e in entries
    ]


# -- argument lists (pure) ------------------------------------------------------------------


def flattened_links(folder: Path) -> list[tuple[Path, str]]:
    """Files that stand for symbolic links: ``(file, target)``.

    A copy of the corpus made without links (or a git checkout with core.symlinks off)
    leaves each link as a small file holding its target's relative path; the corpus README
    says, for example, that ``render-symlinked-assets/src/shared`` is a link. A file counts
    only when its whole content is one relative path to something that exists inside
    ``folder``.
    """
    found = []
    root = folder.resolve()
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 255:
            continue
        target = path.read_bytes()
        if not target or b"\n" in target or b"\0" in target or target.startswith(b"/"):
            continue
        text = target.decode("utf-8", errors="replace")
        pointed = (path.parent / text).resolve()
        if pointed.exists() and pointed.is_relative_to(root) and pointed != path.resolve():
            found.append((path, text))
    return found


def with_links_restored(fixture: Fixture, workdir: Path) -> Path:
    """The fixture's project, from a copy whose flattened links are links again if needed."""
    folder = fixture.project.parent
    links = flattened_links(folder)
    if not links:
        return fixture.project
    copy = workdir / f"{fixture.id}-tree"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    for path, target in links:
        restored = copy / path.relative_to(folder)
        restored.chmod(0o644)
        restored.unlink()
        restored.symlink_to(target)
    return copy / fixture.project.name


def render_args(
    fixture: Fixture, output: Path, *, workers: int | None = None, vars_file: Path | None = None,
    project: Path | None = None,
) -> list[str]:
    """``hfaction render`` for ``fixture``; the manifest's workers win over ``workers``."""
    project = project or fixture.project
    args = [sys.executable, "-m", "hfaction", "render", str(project), "-o", str(output),
            "--crf", "16", "--fps", fixture.fps]
    chosen = fixture.workers if fixture.workers is not None else workers
    if chosen is not None:
        args += ["--workers", str(chosen)]
    if fixture.chunk_size is not None:
        args += ["--chunk-size", str(fixture.chunk_size)]
    if vars_file is not None:
        args += ["--vars-file", str(vars_file)]
    return args


def probe_args(path: Path) -> list[str]:
    return ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
            "stream=codec_type,width,height,nb_read_packets", "-of", "json", str(path)]


def psnr_args(a: Path, b: Path, stats_file: str) -> list[str]:
    """PSNR of each frame of ``a`` against ``b``'s frame with the same index.

    Both streams are renumbered (pts = frame index, in one time base) so that ffmpeg pairs
    frames in decode order whatever the files' timestamps; stops at the shorter stream.
    """
    graph = ("[0:v]settb=AVTB,setpts=N[a];[1:v]settb=AVTB,setpts=N[b];"
             f"[a][b]psnr=stats_file={stats_file}:shortest=1")
    return ["ffmpeg", "-v", "error", "-nostdin", "-i", str(a), "-i", str(b),
            "-lavfi", graph, "-f", "null", "-"]


def pcm_args(path: Path, rate: int = AUDIO_RATE) -> list[str]:
    """The first audio stream as mono 32-bit float PCM on stdout."""
    return ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-vn",
            "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]


# -- measurements ---------------------------------------------------------------------------


def probe(path: Path) -> VideoInfo:
    out = subprocess.run(probe_args(path), capture_output=True, check=True, text=True).stdout
    streams = json.loads(out).get("streams", [])
    video = next(s for s in streams if s.get("codec_type") == "video")
    return VideoInfo(width=int(video["width"]), height=int(video["height"]),
                     frames=int(video.get("nb_read_packets", 0)),
                     has_audio=any(s.get("codec_type") == "audio" for s in streams))


def parse_psnr_stats(text: str) -> list[float]:
    """Per-frame ``psnr_avg`` of a psnr stats file; ``inf`` (identical) is 100 dB."""
    values = []
    for line in text.splitlines():
        fields = dict(part.split(":", 1) for part in line.split() if ":" in part)
        if "psnr_avg" in fields:
            value = fields["psnr_avg"]
            values.append(IDENTICAL_DB if value == "inf" else float(value))
    return values


def psnr_per_frame(a: Path, b: Path) -> list[float]:
    """Per-frame PSNR (dB) of ``a`` against ``b``, frames paired in decode order."""
    with tempfile.TemporaryDirectory() as tmp:
        # run in tmp so the stats file's name needs no filtergraph escaping
        subprocess.run(psnr_args(a.resolve(), b.resolve(), "psnr.log"), cwd=tmp,
                       capture_output=True, check=True)
        return parse_psnr_stats((Path(tmp) / "psnr.log").read_text())


def decode_pcm(path: Path, rate: int = AUDIO_RATE) -> np.ndarray | None:
    """Mono float PCM of the first audio stream, or None without one."""
    done = subprocess.run(pcm_args(path, rate), capture_output=True)
    if done.returncode != 0:
        return None
    return np.frombuffer(done.stdout, np.float32).astype(np.float64)


def best_lag_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> float:
    """max over |lag| <= max_lag of sum x[n] y[n + lag] / (|x| |y|), means removed."""
    x, y = x - x.mean(), y - y.mean()
    norm = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    if norm == 0.0:
        return 1.0 if not x.any() and not y.any() else 0.0
    size = 1 << int(len(x) + len(y) - 1).bit_length()
    full = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y, size), size)
    lags = np.concatenate([full[: max_lag + 1], full[size - max_lag:]])  # lag 0..L, -L..-1
    return float(lags.max() / norm)


def audio_correlation(a: Path, b: Path, rate: int = AUDIO_RATE) -> float | None:
    """Normalised correlation of the two files' mono audio at the best lag within 100 ms;
    None when either has no audio."""
    x, y = decode_pcm(a, rate), decode_pcm(b, rate)
    if x is None or y is None or not len(x) or not len(y):
        return None
    return best_lag_correlation(x, y, int(MAX_LAG_S * rate))


# -- the rule -------------------------------------------------------------------------------


def compare(ours: Path, ref: Path, fixture: Fixture, result: Result | None = None) -> Result:
    """Apply the rule to a rendered file; fills and returns ``result``."""
    result = result or Result(fixture.id)
    mine, theirs = probe(ours), probe(ref)
    result.frames_ours, result.frames_ref = mine.frames, theirs.frames
    result.size_ours = f"{mine.width}x{mine.height}"
    result.size_ref = f"{theirs.width}x{theirs.height}"
    if mine.frames != theirs.frames:
        result.reasons.append(f"frames {mine.frames} != {theirs.frames}")
    if result.size_ours != result.size_ref:
        result.reasons.append(f"size {result.size_ours} != {result.size_ref}")
    else:
        values = psnr_per_frame(ours, ref)
        below = sum(v < fixture.min_psnr for v in values)
        if values:
            result.psnr_avg, result.psnr_min = round(float(np.mean(values)), 3), min(values)
        result.frames_below = below
        if below > fixture.max_frame_failures:
            result.reasons.append(f"{below} frames < {fixture.min_psnr:g} dB "
                                  f"(max {fixture.max_frame_failures})")
    if mine.has_audio != theirs.has_audio:
        result.reasons.append("audio only in " + ("ours" if mine.has_audio else "ref"))
    elif mine.has_audio and fixture.min_audio_correlation > 0:
        corr = audio_correlation(ours, ref)
        result.audio_correlation = corr
        if corr is None or corr < fixture.min_audio_correlation:
            shown = "n/a" if corr is None else f"{corr:.3f}"
            result.reasons.append(f"audio corr {shown} < {fixture.min_audio_correlation:g}")
    result.passed = not result.reasons
    return result


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_fixture(fixture: Fixture, workdir: Path, *, workers: int | None = None) -> Result:
    """Render ``fixture`` into ``workdir`` and compare it with its reference."""
    result = Result(fixture.id)
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / f"{fixture.id}.mp4"
    output.unlink(missing_ok=True)
    vars_file = None
    if fixture.variables is not None:
        vars_file = workdir / f"{fixture.id}.vars.json"
        vars_file.write_text(json.dumps(fixture.variables))
    args = render_args(fixture, output, workers=workers, vars_file=vars_file,
                       project=with_links_restored(fixture, workdir))
    started = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        result.reasons.append(f"render timed out after {RENDER_TIMEOUT_S} s")
        return result
    finally:
        result.render_s = round(time.monotonic() - started, 1)
    if done.returncode != 0 or not output.exists():
        result.reasons.append(f"render exit {done.returncode}: {last_line(done.stderr)}")
        return result
    result.output = str(output)
    return compare(output, fixture.reference, fixture, result)


# -- the table ------------------------------------------------------------------------------

COLUMNS = (("fixture", 40), ("frames", 9), ("avg dB", 7), ("min dB", 7), ("below", 5),
           ("audio", 6), ("result", 6))


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def format_row(r: Result) -> str:
    frames = "-" if r.frames_ours is None else f"{r.frames_ours}/{r.frames_ref}"
    cells = (r.id, frames, _num(r.psnr_avg), _num(r.psnr_min),
             "-" if r.frames_below is None else str(r.frames_below),
             _num(r.audio_correlation, ".3f"), "pass" if r.passed else "FAIL")
    row = " ".join(c.ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True))
    return f"{row} {'; '.join(r.reasons)}".rstrip()


def header() -> str:
    return " ".join(name.ljust(w) for name, w in COLUMNS) + " reason"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--only", nargs="+", metavar="ID", help="fixture ids to run")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write per-fixture results")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the renders in DIR")
    parser.add_argument("--workers", type=int,
                        help="workers where the manifest sets none (default: hfaction's)")
    opts = parser.parse_args(argv)

    fixtures = load_manifest(opts.corpus)
    if opts.only:
        unknown = set(opts.only) - {f.id for f in fixtures}
        if unknown:
            parser.error(f"not in the manifest: {', '.join(sorted(unknown))}")
        fixtures = [f for f in fixtures if f.id in opts.only]

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="hfaction-conformance-") as tmp:
        workdir = opts.keep or Path(tmp)
        print(header(), flush=True)
        for fixture in fixtures:
            try:
                result = run_fixture(fixture, workdir, workers=opts.workers)
            except (subprocess.CalledProcessError, OSError, ValueError, StopIteration) as exc:
                result = Result(fixture.id, reasons=[f"comparison error: {exc}"])
            results.append(result)
            print(format_row(result), flush=True)

    passed = sum(r.passed for r in results)
    if opts.json:
        opts.json.write_text(json.dumps(
            {"corpus": str(opts.corpus), "passed": passed, "failed": len(results) - passed,
             "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"conformance: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
