"""Media for the media tests, generated with ffmpeg at test time (no binaries in git),
and the decoders the tests measure the output with."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.conftest import FIXTURES

RATE = 48_000


def copy_fixture(name: str, tmp_path: Path) -> Path:
    project = tmp_path / name
    shutil.copytree(FIXTURES / name, project)
    return project


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    """Float samples (n,) or (n, channels) in -1..1 written as 16-bit PCM WAV by ffmpeg."""
    data = samples if samples.ndim == 2 else samples[:, None]
    pcm = (np.clip(data, -1, 1) * 32767).round().astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", str(rate), "-ac",
                    str(data.shape[1]), "-i", "-", str(path)], input=pcm.tobytes(), check=True)


def tone(seconds: float, rate: int = RATE, frequency: float = 1000.0,
         amplitude: float = 0.25) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def bit_frames(count: int, width: int, height: int) -> np.ndarray:
    """Grey frames whose 8x2 blocks spell their own index (bit 15 first, black = 1)."""
    frames = np.full((count, height, width), 255, np.uint8)
    for index in range(count):
        for bit in range(16):
            if (index >> (15 - bit)) & 1:
                row, column = divmod(bit, 8)
                frames[index, row * height // 2:(row + 1) * height // 2,
                       column * width // 8:(column + 1) * width // 8] = 0
    return frames


def write_video(path: Path, frames: np.ndarray, *, pix_fmt: str = "yuv420p",
                setpts: str | None = None) -> None:
    """Lossless H.264; ``setpts`` (in ticks of 1/600 s) makes a variable frame rate."""
    _count, height, width = frames.shape
    timing = (["-vf", f"settb=1/600,setpts='{setpts}'", "-fps_mode", "passthrough",
               "-enc_time_base", "1/600", "-video_track_timescale", "600"] if setpts else [])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
                    "-s", f"{width}x{height}", "-framerate", "30", "-i", "-", *timing,
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", pix_fmt, str(path)],
                   input=frames.tobytes(), check=True)


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times of every frame of a video, as ffprobe decodes them."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=time_base:frame=best_effort_timestamp", "-of", "json",
                          str(path)], capture_output=True, check=True, text=True).stdout
    data = json.loads(out)
    base = Fraction(data["streams"][0]["time_base"])
    return [int(frame["best_effort_timestamp"]) * base for frame in data["frames"]]


def decode_audio(path: Path) -> np.ndarray:
    """The first audio stream as 48 kHz stereo float32, shape (samples, 2); edit lists
    (AAC priming) applied by ffmpeg as a player would."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f",
                          "f32le", "-ac", "2", "-ar", str(RATE), "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, 2)


def stream_types(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                          "-of", "csv=p=0", str(path)], capture_output=True, check=True,
                         text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def video_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, check=True, text=True).stdout
    return float(out.strip())


def envelope(signal: np.ndarray, window: int = 48) -> np.ndarray:
    """Peak of |signal| over the last ``window`` samples (1 ms): a sine stays high."""
    padded = np.concatenate([np.zeros(window - 1, np.float32), np.abs(signal)])
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    return np.asarray(view.max(axis=1))


def events(signal: np.ndarray, threshold: float, gap: float = 0.02) -> list[tuple[float, float]]:
    """(start, end) seconds of every stretch where the envelope exceeds ``threshold``;
    stretches closer than ``gap`` merge."""
    loud = np.nonzero(envelope(signal) > threshold)[0]
    if not len(loud):
        return []
    found: list[tuple[float, float]] = []
    start = previous = int(loud[0])
    for index in loud[1:]:
        if index - previous > gap * RATE:
            found.append((start / RATE, previous / RATE))
            start = int(index)
        previous = int(index)
    found.append((start / RATE, previous / RATE))
    return found


def rms_db(signal: np.ndarray, start: float, end: float) -> float:
    part = signal[round(start * RATE):round(end * RATE)].astype(np.float64)
    return float(20 * np.log10(np.sqrt(np.mean(part ** 2))))
