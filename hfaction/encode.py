"""ffmpeg: finding it, and every command line it runs, built as data.

The functions that build argument lists are pure (unit tests check them); the
few that run ffmpeg go through :mod:`hfaction.proc`.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from hfaction import proc
from hfaction.errors import EncodeFailed, FfmpegNotFound, InvalidOption
from hfaction.framemath import format_fps

INSTALL_HINT = (
    "install it with 'sudo apt-get install ffmpeg' or set HFACTION_FFMPEG=/path/to/ffmpeg"
)


@dataclass(frozen=True)
class EncoderSettings:
    """What the encoder does; recorded in the plan so every chunk encodes alike."""

    quality: str
    codec: str
    preset: str
    crf: int
    pix_fmt: str = "yuv420p"
    x264_params: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Capture and encode share the cores, so encoder time is render time. Measured on
# 1080p motion graphics (150 frames, CRF 20, one thread): "superfast" with macroblock
# tree and a short lookahead gives veryfast's quality (48.50 vs 48.55 dB PSNR) and size
# (+4%) for 40% less CPU; ultrafast costs a third of veryfast's CPU but triples the size.
QUALITY_PRESETS: dict[str, tuple[str, int, str]] = {
    "draft": ("ultrafast", 28, ""),
    "standard": ("superfast", 20, "mbtree=1:rc-lookahead=10"),
    "high": ("medium", 16, ""),
}


def encoder_settings(quality: str = "standard", crf: int | None = None) -> EncoderSettings:
    if quality not in QUALITY_PRESETS:
        raise InvalidOption(
            f"--quality is {quality!r}; choose one of {', '.join(QUALITY_PRESETS)}"
        )
    preset, default_crf, x264_params = QUALITY_PRESETS[quality]
    if crf is not None and not 0 <= crf <= 51:
        raise InvalidOption(f"--crf is {crf}; x264 takes 0 (lossless) to 51")
    return EncoderSettings(quality=quality, codec="libx264", preset=preset,
                           crf=default_crf if crf is None else crf, x264_params=x264_params)


def even_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even sides: odd sizes are padded by one pixel (black) on the right/bottom."""
    return width + width % 2, height + height % 2


def track_timescale(fps: Fraction) -> int:
    """A timescale in which every frame lasts a whole number of ticks.

    Chunks joined by the concat demuxer keep exact frame times only when both the
    track and the movie timescale divide the frame duration exactly.
    """
    return fps.numerator * max(1, math.ceil(10_000 / fps.numerator))


def _binary(variable: str, name: str) -> str:
    explicit = os.environ.get(variable)
    if explicit:
        if not Path(explicit).is_file():
            raise FfmpegNotFound(f"{variable}={explicit} does not exist", hint=INSTALL_HINT)
        return explicit
    found = shutil.which(name)
    if not found:
        raise FfmpegNotFound(f"{name} is not on PATH", hint=INSTALL_HINT)
    return found


def ffmpeg_binary() -> str:
    return _binary("HFACTION_FFMPEG", "ffmpeg")


def ffprobe_binary() -> str:
    explicit = os.environ.get("HFACTION_FFMPEG")
    if explicit:
        sibling = Path(explicit).with_name("ffprobe")
        if sibling.is_file():
            return str(sibling)
    return _binary("HFACTION_FFPROBE", "ffprobe")


@functools.cache
def ffmpeg_version(binary: str) -> str:
    """``ffmpeg version 5.1.x-...``: chunks must be encoded by the same build that planned."""
    output = proc.run([binary, "-hide_banner", "-version"], what="ffmpeg -version",
                      error=EncodeFailed, timeout=30)
    first = output.stdout.decode("utf-8", "replace").splitlines()[0]
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[:2] == ["ffmpeg", "version"] else first


def chunk_encode_args(
    binary: str,
    output: Path,
    *,
    fps: Fraction,
    capture_size: tuple[int, int],
    settings: EncoderSettings,
    threads: int = 0,
) -> list[str]:
    """ffmpeg reading JPEG frames on stdin and writing one self-contained H.264 chunk.

    Every chunk starts with an IDR frame and x264's GOPs are closed by default, so
    chunks join with a stream copy.
    """
    width, height = capture_size
    out_width, out_height = even_size(width, height)
    stream = ffmpeg.input("pipe:0", f="image2pipe", vcodec="mjpeg", framerate=format_fps(fps))
    if (out_width, out_height) != (width, height):
        stream = stream.filter("pad", out_width, out_height, 0, 0, color="black")
    # Chromium's JPEGs are full-range BT.601; H.264 for players is limited-range BT.709.
    stream = stream.filter("scale", out_color_matrix="bt709", out_range="tv")
    stream = stream.filter("format", settings.pix_fmt)
    timescale = track_timescale(fps)
    output_options: dict[str, object] = {
        "vcodec": settings.codec,
        "preset": settings.preset,
        "crf": settings.crf,
        "pix_fmt": settings.pix_fmt,
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
        "video_track_timescale": timescale,
        "movie_timescale": timescale,
        "f": "mp4",
    }
    if settings.x264_params:
        output_options["x264-params"] = settings.x264_params
    if threads:
        output_options["threads"] = threads
    stream = stream.output(str(output), **output_options)
    stream = stream.global_args("-hide_banner", "-loglevel", "error")
    return list(stream.overwrite_output().compile(cmd=binary))


def concat_list(chunk_paths: list[Path]) -> str:
    """The concat demuxer's list file; quotes in paths are escaped as the demuxer expects."""
    lines = []
    for path in chunk_paths:
        escaped = str(path.resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    return "\n".join(lines) + "\n"


def assemble_args(
    binary: str,
    list_file: Path,
    output: Path,
    *,
    fps: Fraction,
    audio: Path | None = None,
) -> list[str]:
    """Join chunks by stream copy (no re-encode), optionally mux an AAC track, moov first."""
    timescale = track_timescale(fps)
    video = ffmpeg.input(str(list_file), f="concat", safe=0)
    streams = [video["v"]]
    if audio is not None:
        streams.append(ffmpeg.input(str(audio))["a"])
    stream = ffmpeg.output(
        *streams,
        str(output),
        c="copy",
        movflags="+faststart",
        video_track_timescale=timescale,
        movie_timescale=timescale,
        f="mp4",
    )
    stream = stream.global_args("-hide_banner", "-loglevel", "error", "-nostdin")
    return list(stream.overwrite_output().compile(cmd=binary))


def count_frames_args(binary: str, path: Path) -> list[str]:
    """ffprobe counting the video packets of a file (each H.264 packet is one frame)."""
    return [
        binary, "-v", "error", "-select_streams", "v:0", "-count_packets",
        "-show_entries", "stream=nb_read_packets,width,height", "-of", "json", str(path),
    ]
