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
from hfaction.render.framemath import format_fps

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


# --- media: the audio mix and video frames, made once at planning ---------------------

MIX_SAMPLE_RATE = 48_000
MIX_BITRATE = "192k"
# Project media is untrusted: ffmpeg may open local files only, and only through the
# demuxers of audio/video files (a playlist such as HLS could otherwise make it read
# other files or reach the network).
MEDIA_FORMATS = ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "wav", "w64", "mp3", "ogg",
                 "flac", "aac", "avi", "mpegts", "mpeg", "aiff", "caf")
MEDIA_INPUT_OPTIONS = ("-protocol_whitelist", "file", "-format_whitelist",
                       ",".join(MEDIA_FORMATS))


@dataclass(frozen=True)
class MixTrack:
    """One source's contribution to the mix, in 48 kHz samples of the output timeline."""

    path: Path
    stream: int  # audio stream index within the file (0: its first audio stream)
    channels: int
    at_sample: int  # where it starts in the output
    length: int | None  # output samples it lasts at most; None: until the source ends
    media_start: Fraction  # seconds of source skipped
    rate: Fraction
    volume: Fraction
    loop: bool = False  # the source repeats (ffmpeg -stream_loop); ``length`` ends it


def _seconds(value: Fraction) -> str:
    return f"{float(value):.9f}".rstrip("0").rstrip(".") or "0"


def _tempo_chain(rate: Fraction) -> list[str]:
    """atempo takes 0.5..100 per instance: slower rates are a chain of halvings."""
    steps: list[str] = []
    remaining = rate
    while remaining < Fraction(1, 2):
        steps.append("atempo=0.5")
        remaining *= 2
    if remaining != 1:
        steps.append(f"atempo={_seconds(remaining)}")
    return steps


def mix_track_filter(index: int, track: MixTrack) -> str:
    """The filter chain of one input: resample, trim, retime, scale, then place it.

    Mono is copied to both channels at full level (a browser plays it so); there is no
    normalisation anywhere, so ``data-volume`` is the only gain.
    """
    layout = ("pan=stereo|c0=c0|c1=c0" if track.channels == 1
              else "aformat=channel_layouts=stereo")
    trim = f"atrim=start={_seconds(track.media_start)}"
    if track.length is not None and not track.loop:
        # A little more source than the window needs: atempo's output is trimmed exactly.
        source = Fraction(track.length, MIX_SAMPLE_RATE) * track.rate + Fraction(1, 10)
        trim += f":end={_seconds(track.media_start + source)}"
    steps = [f"aresample={MIX_SAMPLE_RATE}", layout, trim, "asetpts=N/SR/TB",
             *_tempo_chain(track.rate)]
    if track.length is not None:
        steps.append(f"atrim=end_sample={track.length}")
    steps += [f"volume={_seconds(track.volume)}:precision=double",
              f"adelay=delays={track.at_sample}S:all=1", "asetpts=N/SR/TB"]
    return f"[{index}:a:{track.stream}]" + ",".join(steps) + f"[a{index}]"


def mix_args(binary: str, tracks: list[MixTrack], total_samples: int, output: Path) -> list[str]:
    """ffmpeg mixing ``tracks`` into one 48 kHz stereo AAC track of exactly ``total_samples``.

    ``amix`` sums without normalising (``normalize=0``); the result is padded with silence
    or cut to the video's length.
    """
    if not tracks:
        raise ValueError("a mix needs at least one track")
    chains = [mix_track_filter(index, track) for index, track in enumerate(tracks)]
    labels = "".join(f"[a{index}]" for index in range(len(tracks)))
    mixed = (f"{labels}amix=inputs={len(tracks)}:duration=longest:normalize=0,"
             if len(tracks) > 1 else f"{labels}anull,")
    graph = ";".join([*chains, mixed + f"apad=whole_len={total_samples},"
                      f"atrim=end_sample={total_samples}[mix]"])
    inputs = [arg for track in tracks
              for arg in ([*(["-stream_loop", "-1"] if track.loop else []),
                           *MEDIA_INPUT_OPTIONS, "-i", str(track.path)])]
    return [binary, "-hide_banner", "-loglevel", "error", "-nostdin", *inputs,
            "-filter_complex", graph, "-map", "[mix]", "-c:a", "aac", "-b:a", MIX_BITRATE,
            "-ar", str(MIX_SAMPLE_RATE), "-ac", "2", "-f", "mp4", "-y", str(output)]


# ffprobe's color_space of a stream -> the YCbCr matrix ffmpeg's scale filter reads it with.
_SOURCE_MATRICES = {
    "bt709": "bt709",
    "smpte170m": "smpte170m",
    "bt470bg": "bt470",
    "smpte240m": "smpte240m",
    "fcc": "fcc",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
}
UNTAGGED_COLOR_SPACES = frozenset({"", "unknown", "unspecified", "reserved"})


def source_color_matrix(color_space: str | None) -> str:
    """The YCbCr matrix a video stream is decoded with, from ffprobe's ``color_space``.

    A stream that does not say (no tag, or ``unknown``) is BT.709, as Chromium decodes
    it whatever its size, so as HyperFrames' renders show it; ffmpeg would assume
    BT.601. A tagged stream is read as its tag says; a tag swscale has no matrix for
    (``gbr``, ``ycgco``) is left to ffmpeg (``auto``).
    """
    tag = (color_space or "").strip().lower()
    if tag in UNTAGGED_COLOR_SPACES:
        return "bt709"
    return _SOURCE_MATRICES.get(tag, "auto")


def extract_frames_args(binary: str, source: Path, first: int, last: int, folder: Path, *,
                        color_space: str | None = None) -> list[str]:
    """ffmpeg writing decoded frames ``first..last`` (presentation order) as JPEGs.

    Frames are counted after decoding, as ffprobe lists them, so variable frame rates
    need no arithmetic; files are named by frame index (``000042.jpg``). Colours are
    read with the source's matrix (``color_space``, ffprobe's, see
    :func:`source_color_matrix`) and converted to the full-range BT.601 a JPEG means,
    and non-square pixels to square ones (ffmpeg also applies rotation metadata), as a
    browser would show the video.
    """
    select = f"select='between(n\\,{first}\\,{last})'"
    matrix = source_color_matrix(color_space)
    return [binary, "-hide_banner", "-loglevel", "error", "-nostdin", *MEDIA_INPUT_OPTIONS,
            "-i", str(source), "-map", "0:v:0", "-vf",
            f"{select},scale=w='iw*sar':h=ih:in_color_matrix={matrix}:out_color_matrix=bt601:"
            "out_range=pc,setsar=1,format=yuvj420p",
            "-fps_mode", "passthrough", "-frames:v", str(last - first + 1), "-q:v", "2",
            "-start_number", str(first), "-f", "image2", "-y", str(folder / "%06d.jpg")]
