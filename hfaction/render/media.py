"""Media at planning: every ``<audio>`` and ``<video>`` is checked, mixed and frozen once.

Chunks never decode media. Planning probes each source (bad media fails here, with
the element and its file:line, before any chunk renders), mixes every audible track
into one 48 kHz stereo AAC file exactly as long as the video, and extracts the source
frames each ``<video>`` shows into the plan. The page runtime shows those frames in
place of the element; assemble muxes the mix by stream copy.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from hfaction import proc
from hfaction.errors import (
    EncodeFailed,
    MediaEmpty,
    MediaNotFound,
    MediaTooLarge,
    MediaUnsupported,
    RemoteAssetFetchFailed,
    SubprocessFailed,
)
from hfaction.render.assets import RemoteFetcher
from hfaction.render.composition import (
    MediaElement,
    ProjectComposition,
    safe_relative,
    url_path,
)
from hfaction.render.encode import (
    MEDIA_INPUT_OPTIONS,
    MIX_SAMPLE_RATE,
    MixTrack,
    extract_frames_args,
    ffprobe_binary,
    mix_args,
)
from hfaction.render.project import frozen_bytes, frozen_sha256

FROZEN_DIR = "frozen"
MEDIA_DIR = "media"  # under frozen/
# The page loads frozen files from here (capture.AssetServer serves plan/frozen/).
FROZEN_URL_PREFIX = "__hf_frozen/"
MAX_REMOTE_MEDIA_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class AudioInfo:
    stream: int  # index among the file's audio streams
    channels: int
    duration: Fraction | None


@dataclass(frozen=True)
class VideoInfo:
    times: list[Fraction]  # presentation time of every decoded frame, from 0, ascending
    width: int
    height: int
    color_space: str | None = None  # ffprobe's matrix tag; None when the stream has none


@dataclass
class ProbedMedia:
    element: MediaElement
    path: Path  # the file ffmpeg reads (frozen project copy or frozen remote copy)
    audio: AudioInfo | None = None
    video: VideoInfo | None = None

    @property
    def source_duration(self) -> Fraction | None:
        if self.video is not None and self.video.times:
            times = self.video.times
            step = times[-1] - times[-2] if len(times) > 1 else Fraction(0)
            return times[-1] + step
        return self.audio.duration if self.audio is not None else None

    @property
    def natural_end(self) -> Fraction | None:
        """Where the element ends on the root timeline when it has no data-duration."""
        length = self.source_duration
        if length is None:
            return None
        if self.element.loop:
            return self.element.limit  # a looping element lasts as long as its host
        end = self.element.start + max(Fraction(0), length - self.element.media_start) \
            / self.element.rate
        return min(end, self.element.limit) if self.element.limit is not None else end


@dataclass
class FrozenMedia:
    audio: str | None = None  # plan-relative path of the mix
    videos: list[dict[str, Any]] = field(default_factory=list)  # for the page runtime
    frozen: list[dict[str, Any]] = field(default_factory=list)  # plan["frozen"] entries


# --- probing -------------------------------------------------------------------------


def _probe(args: list[str], item: MediaElement, path: Path) -> dict[str, Any]:
    try:
        completed = proc.run(args, what=f"ffprobe {path.name}", error=EncodeFailed,
                             timeout=600)
    except SubprocessFailed as error:
        lines = error.stderr_tail.strip().splitlines()
        if any("not on whitelist" in line for line in lines):
            raise MediaUnsupported(
                f"{item.label} is not an audio or video file hfaction reads (playlists and "
                "image sequences are not media files)",
                hint="convert it to MP4 (H.264/AAC), WebM or WAV",
            ) from None
        last = lines[-1] if lines else ""
        raise MediaUnsupported(
            f"{item.label} cannot be read by ffmpeg ({last or 'unknown format'})",
            hint="convert it to MP4 (H.264/AAC), WebM or WAV",
        ) from None
    data: dict[str, Any] = json.loads(completed.stdout or b"{}")
    return data


def probe_audio(ffprobe: str, item: MediaElement, path: Path) -> AudioInfo:
    data = _probe([ffprobe, "-v", "error", *MEDIA_INPUT_OPTIONS, "-count_packets",
                   "-select_streams", "a",
                   "-show_entries", "stream=codec_name,channels,duration,nb_read_packets:"
                   "format=duration", "-of", "json", str(path)], item, path)
    streams = data.get("streams") or []
    if not streams:
        raise MediaUnsupported(
            f"{item.label} has no audio stream",
            hint='remove data-has-audio="true"' if item.tag == "video"
            else "point it at an audio file",
        )
    stream = streams[0]
    if not stream.get("codec_name") or int(stream.get("channels") or 0) <= 0:
        raise MediaUnsupported(f"{item.label}: ffmpeg has no decoder for its audio "
                               f"({stream.get('codec_name') or 'unknown codec'})",
                               hint="convert it to AAC, MP3, Opus or WAV")
    duration = _fraction(stream.get("duration")) or _fraction(
        (data.get("format") or {}).get("duration"))
    if int(stream.get("nb_read_packets") or 0) == 0 or (duration is not None and duration <= 0):
        raise MediaEmpty(f"{item.label} holds no audio (zero length)",
                         hint="replace the file or remove the element")
    return AudioInfo(stream=0, channels=int(stream["channels"]), duration=duration)


def probe_video(ffprobe: str, item: MediaElement, path: Path) -> VideoInfo:
    """Every decoded frame's presentation time: frames are chosen by real timestamps."""
    data = _probe([ffprobe, "-v", "error", *MEDIA_INPUT_OPTIONS, "-count_packets",
                   "-select_streams", "v:0", "-show_entries",
                   "stream=codec_name,width,height,time_base,nb_read_packets,color_space:"
                   "frame=best_effort_timestamp", "-of", "json", str(path)], item, path)
    streams = data.get("streams") or []
    if not streams:
        raise MediaUnsupported(f"{item.label} has no video stream",
                               hint="use <audio> for sound-only files")
    stream = streams[0]
    base = Fraction(str(stream.get("time_base") or "1/1000"))
    stamps = [frame.get("best_effort_timestamp") for frame in data.get("frames") or []]
    if not stamps and int(stream.get("nb_read_packets") or 0) > 0:
        raise MediaUnsupported(f"{item.label}: ffmpeg cannot decode its video "
                               f"({stream.get('codec_name') or 'unknown codec'})",
                               hint="convert it to H.264 (MP4) or VP9 (WebM)")
    if not stamps:
        raise MediaEmpty(f"{item.label} has no video frames (zero length)",
                         hint="replace the file or remove the element")
    times: list[Fraction] = []
    for index, stamp in enumerate(stamps):
        # A frame without a timestamp follows the previous one by the previous step.
        if stamp is None:
            step = times[-1] - times[-2] if len(times) > 1 else Fraction(1, 30)
            times.append(times[-1] + step if times else Fraction(index, 30))
        else:
            times.append(Fraction(int(stamp)) * base)
    origin = times[0]
    times = [time - origin for time in times]
    if any(b < a for a, b in itertools.pairwise(times)):
        raise MediaUnsupported(f"{item.label} has frames out of time order",
                               hint="re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
    return VideoInfo(times=times, width=int(stream.get("width") or 0),
                     height=int(stream.get("height") or 0),
                     color_space=stream.get("color_space") or None)


def _fraction(value: object) -> Fraction | None:
    try:
        return Fraction(str(value)) if value not in (None, "N/A") else None
    except (ValueError, ZeroDivisionError):
        return None


def source_path(item: MediaElement, project_dir: Path, fetcher: RemoteFetcher) -> Path:
    if item.src.startswith(("https://", "http://")):
        limit = fetcher.max_bytes
        fetcher.max_bytes = min(limit, MAX_REMOTE_MEDIA_BYTES)
        try:
            asset = fetcher(item.src.split("#", 1)[0])
        except RemoteAssetFetchFailed as error:
            if "larger than" in error.message:
                raise MediaTooLarge(
                    f"{item.label} is larger than {fetcher.max_bytes // (1024 * 1024)} MiB",
                    hint="put a smaller file into the project, or cut it first",
                ) from None
            raise MediaNotFound(f"{item.label} could not be fetched: {error.message}",
                                hint=error.hint) from None
        finally:
            fetcher.max_bytes = limit
        return fetcher.remote_dir / asset.path
    # item.src is already resolved as the page resolves it (composition.resolve_reference).
    relative = safe_relative(project_dir, url_path(item.src), where=item.label)
    path = project_dir / relative
    if not path.is_file():
        raise MediaNotFound(f"{item.label}: {relative} is not in the project",
                            hint="add the file to the project folder or fix the src")
    return path


def probe_media(composition: ProjectComposition, project_dir: Path, fetcher: RemoteFetcher
                ) -> list[ProbedMedia]:
    """Check every media element before anything renders; fetch remote sources once."""
    ffprobe = ffprobe_binary()
    probed: list[ProbedMedia] = []
    for item in composition.media:
        path = source_path(item, project_dir, fetcher)
        if path.stat().st_size == 0:
            raise MediaEmpty(f"{item.label}: the file is empty",
                             hint="replace the file or remove the element")
        entry = ProbedMedia(element=item, path=path)
        if item.tag == "video":
            entry.video = probe_video(ffprobe, item, path)
        if item.has_audio:
            entry.audio = probe_audio(ffprobe, item, path)
        probed.append(entry)
    return probed


# --- timing: pure ----------------------------------------------------------------------


def frame_window(item: MediaElement, fps: Fraction, frames: int) -> tuple[int, int]:
    """Output frames [first, end) during which the element is on screen."""
    start = max(item.start, Fraction(0))
    first = math.ceil(start * fps)
    end = item.end
    last = frames if end is None else min(frames, math.ceil(end * fps))
    return first, max(first, last)


def source_frames(item: MediaElement, times: list[Fraction], fps: Fraction, first: int,
                  end: int, *, length: Fraction | None = None) -> list[int]:
    """The source frame shown at each output frame of [first, end).

    At time t the element shows the frame displayed at source time
    ``media_start + (t - start) * rate``: the last frame whose timestamp is not later.
    Before the first frame it shows the first, after the last it holds the last; with
    ``loop`` (and the source's ``length``) source time wraps around instead.
    """
    shown = []
    for frame in range(first, end):
        at = item.media_start + (Fraction(frame) / fps - item.start) * item.rate
        if item.loop and length:
            at %= length
        shown.append(max(0, bisect_right(times, at) - 1))
    return shown


def mix_track(probed: ProbedMedia, frames: int, fps: Fraction) -> MixTrack | None:
    """Where a source plays in the output, in samples; None when it is never heard."""
    item, audio = probed.element, probed.audio
    assert audio is not None
    total = round(Fraction(frames) / fps * MIX_SAMPLE_RATE)
    media_start, start = item.media_start, item.start
    if start < 0:  # a nested composition that starts before 0 cuts its beginning off
        media_start -= start * item.rate
        start = Fraction(0)
    at = round(start * MIX_SAMPLE_RATE)
    end = item.end
    stop = total if end is None else min(total, round(end * MIX_SAMPLE_RATE))
    if stop <= at or item.volume == 0:
        return None
    if item.loop and audio.duration:
        media_start %= audio.duration
    elif audio.duration is not None and media_start >= audio.duration:
        return None
    return MixTrack(path=probed.path, stream=audio.stream, channels=audio.channels,
                    at_sample=at, length=stop - at, media_start=media_start, rate=item.rate,
                    volume=item.volume, loop=item.loop)


# --- freezing --------------------------------------------------------------------------


def video_stubs(probed: list[ProbedMedia]) -> list[dict[str, Any]]:
    """The runtime's video entries without frames: planning checks the page has them."""
    return [{"composition": entry.element.composition_id, "id": entry.element.element_id,
             "ordinal": entry.element.ordinal, "dir": "", "first": 0, "frames": [],
             "where": entry.element.where}
            for entry in probed if entry.video is not None]


def freeze_media(probed: list[ProbedMedia], plan_dir: Path, *, ffmpeg: str, fps: Fraction,
                 frames: int) -> FrozenMedia:
    """Write the mix and the video frames under ``plan_dir/frozen/media``."""
    result = FrozenMedia()
    media_dir = plan_dir / FROZEN_DIR / MEDIA_DIR
    tracks = [track for entry in probed if entry.audio is not None
              for track in [mix_track(entry, frames, fps)] if track is not None]
    if tracks:
        media_dir.mkdir(parents=True, exist_ok=True)
        mix = media_dir / "audio.m4a"
        total = round(Fraction(frames) / fps * MIX_SAMPLE_RATE)
        proc.run(mix_args(ffmpeg, tracks, total, mix), what="ffmpeg mixing the audio",
                 error=EncodeFailed, timeout=3600)
        relative = mix.relative_to(plan_dir).as_posix()
        result.audio = relative
        sources = [entry.element.src for entry in probed if entry.audio is not None]
        result.frozen.append(_entry("audio", "mix", f"{len(tracks)} track(s): "
                                    + ", ".join(sources), plan_dir, relative))
    videos = [entry for entry in probed if entry.video is not None]
    for number, entry in enumerate(videos):
        config = _freeze_video(entry, number, plan_dir, ffmpeg=ffmpeg, fps=fps, frames=frames)
        if config is None:
            continue
        result.videos.append(config)
        relative = f"{FROZEN_DIR}/{config['dir'].rstrip('/')}"
        result.frozen.append(_entry("video", entry.element.element_id or f"video-{number}",
                                    entry.element.src, plan_dir, relative))
    return result


def _entry(kind: str, name: str, source: str, plan_dir: Path, relative: str
           ) -> dict[str, Any]:
    path = plan_dir / relative
    return {"kind": kind, "name": name, "source": source, "path": relative,
            "bytes": frozen_bytes(path), "sha256": frozen_sha256(path)}


def _freeze_video(entry: ProbedMedia, number: int, plan_dir: Path, *, ffmpeg: str,
                  fps: Fraction, frames: int) -> dict[str, Any] | None:
    item, video = entry.element, entry.video
    assert video is not None
    first, end = frame_window(item, fps, frames)
    if end <= first:
        return None
    shown = source_frames(item, video.times, fps, first, end, length=entry.source_duration)
    needed = sorted(set(shown))
    relative = f"{MEDIA_DIR}/video-{number}/"
    folder = plan_dir / FROZEN_DIR / relative
    folder.mkdir(parents=True, exist_ok=True)
    proc.run(extract_frames_args(ffmpeg, entry.path, needed[0], needed[-1], folder,
                                 color_space=video.color_space),
             what=f"ffmpeg extracting frames of {item.label}", error=EncodeFailed,
             timeout=3600)
    keep = {f"{index:06d}.jpg" for index in needed}
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink()
    missing = sorted(keep - {path.name for path in folder.iterdir()})
    if missing:
        shutil.rmtree(folder, ignore_errors=True)
        raise MediaUnsupported(f"{item.label}: ffmpeg could not decode frame "
                               f"{missing[0].split('.')[0].lstrip('0') or '0'}",
                               hint="re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
    return {"composition": item.composition_id, "id": item.element_id,
            "ordinal": item.ordinal, "dir": relative, "first": first, "frames": shown,
            "where": item.where}
