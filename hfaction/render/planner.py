"""``plan``: freeze a project and decide everything about its render, as data.

A plan directory holds ``plan.json``, ``project/`` (the frozen project),
``remote/`` (frozen remote assets) and ``frozen/`` (the audio mix, video frames
and fonts made at planning). Its hash covers every setting and every file, so a
chunk rendered anywhere can prove it rendered this plan.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from hfaction import __version__
from hfaction.errors import (
    InvalidDuration,
    InvalidOption,
    InvalidSize,
    PlanHashMismatch,
    PlanInvalid,
)
from hfaction.render.assets import RemoteAsset, RemoteFetcher
from hfaction.render.browser import BrowserInfo, browser_version, resolve_browser
from hfaction.render.capture import (
    JPEG_QUALITY,
    AssetServer,
    BrowserSession,
    browser_session,
)
from hfaction.render.composition import (
    ProjectComposition,
    check_side,
    files_beside_nested,
    load_project,
    resolve_variables,
)
from hfaction.render.encode import (
    EncoderSettings,
    encoder_settings,
    even_size,
    ffmpeg_binary,
    ffmpeg_version,
)
from hfaction.render.fonts import freeze_fonts
from hfaction.render.framemath import (
    auto_chunk_size,
    format_fps,
    frame_count,
    parse_fps,
    split_chunks,
)
from hfaction.render.media import freeze_media, probe_media, video_stubs
from hfaction.render.options import RenderOptions
from hfaction.render.project import (
    ProjectFile,
    check_project_dir,
    freeze_project,
    frozen_sha256,
    sha256_file,
)

PLAN_FILE = "plan.json"
PROJECT_DIR = "project"
REMOTE_DIR = "remote"
PLAN_SCHEMA = 1
# Date.now() at composition time 0 is the Unix epoch, as in HyperFrames: dates on
# screen never depend on the day of the render.
EPOCH_MS = 0


@dataclass(frozen=True)
class CaptureSettings:
    format: str  # "jpeg"
    quality: int
    method: str  # "beginframe" or "screenshot": every chunk must capture alike


@dataclass(frozen=True)
class FrozenEntry:
    """A file or folder made at planning (audio mix, video frames, a font)."""

    kind: str  # "audio", "video" or "font"
    name: str
    source: str
    path: str  # relative to the plan folder
    bytes: int
    sha256: str  # see hfaction.render.project.frozen_sha256


@dataclass(frozen=True)
class FontsSummary:
    fallback: str  # the frozen fallback folder, relative to the plan folder
    warnings: list[str]
    faces: int


@dataclass(frozen=True)
class Plan:
    """Everything a chunk worker needs: ``plan.json``, typed. ``to_dict`` is the JSON."""

    schema: int
    hfaction_version: str
    entry: str
    composition_id: str
    width: int  # capture size
    height: int
    output_width: int  # even, for yuv420p
    output_height: int
    fps: Fraction
    duration_exact: Fraction  # JSON "duration": exact seconds as text, e.g. "38/5"
    duration_seconds: float
    frames: int
    chunk_size: int
    chunks: list[tuple[int, int]]  # [start, end) frame ranges
    encoder: EncoderSettings
    capture: CaptureSettings
    browser_version: str
    ffmpeg_version: str
    runtime: dict[str, Any]  # the page runtime's configuration, handed to JavaScript as is
    remote_assets: dict[str, RemoteAsset]  # by URL
    files: list[ProjectFile]
    audio: str | None  # the mixed track, relative to the plan folder
    frozen: list[FrozenEntry]
    fonts: FontsSummary
    page_warnings: list[str]  # what the planning page said once, e.g. a missing timeline
    hash: str

    @property
    def warnings(self) -> list[str]:
        """Everything a user should read before trusting the render."""
        return [*self.page_warnings, *self.fonts.warnings]

    @property
    def duration(self) -> float:
        return float(self.duration_exact)

    @property
    def capture_size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def output_size(self) -> tuple[int, int]:
        return self.output_width, self.output_height

    @property
    def runtime_config(self) -> dict[str, Any]:
        return dict(self.runtime)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        fonts = data.get("fonts") or {}
        return cls(
            schema=int(data["schema"]),
            hfaction_version=str(data["hfaction_version"]),
            entry=str(data["entry"]),
            composition_id=str(data["composition_id"]),
            width=int(data["width"]),
            height=int(data["height"]),
            output_width=int(data["output_width"]),
            output_height=int(data["output_height"]),
            fps=Fraction(data["fps"]),
            duration_exact=Fraction(data["duration"]),
            duration_seconds=float(data["duration_seconds"]),
            frames=int(data["frames"]),
            chunk_size=int(data["chunk_size"]),
            chunks=[(int(start), int(end)) for start, end in data["chunks"]],
            encoder=EncoderSettings(**data["encoder"]),
            capture=CaptureSettings(**data["capture"]),
            browser_version=str(data["browser_version"]),
            ffmpeg_version=str(data["ffmpeg_version"]),
            runtime=dict(data["runtime"]),
            remote_assets={item["url"]: RemoteAsset(**item) for item in data["remote_assets"]},
            files=[ProjectFile(**item) for item in data["files"]],
            audio=data.get("audio"),
            frozen=[FrozenEntry(**item) for item in data.get("frozen") or []],
            fonts=FontsSummary(fallback=str(fonts.get("fallback", "")),
                               warnings=list(fonts.get("warnings", [])),
                               faces=int(fonts.get("faces", 0))),
            page_warnings=[str(w) for w in data.get("page_warnings", [])],
            hash=str(data.get("hash", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``plan.json``; its hash covers all of it but ``hash``."""
        data: dict[str, Any] = {
            "schema": self.schema,
            "hfaction_version": self.hfaction_version,
            "entry": self.entry,
            "composition_id": self.composition_id,
            "width": self.width,
            "height": self.height,
            "output_width": self.output_width,
            "output_height": self.output_height,
            "fps": format_fps(self.fps),
            "duration": str(self.duration_exact),
            "duration_seconds": self.duration_seconds,
            "frames": self.frames,
            "chunk_size": self.chunk_size,
            "chunks": [list(chunk) for chunk in self.chunks],
            "encoder": self.encoder.to_dict(),
            "capture": asdict(self.capture),
            "browser_version": self.browser_version,
            "ffmpeg_version": self.ffmpeg_version,
            "runtime": self.runtime,
            "remote_assets": [asset.to_dict() for _, asset in sorted(self.remote_assets.items())],
            "files": [item.to_dict() for item in self.files],
            "audio": self.audio,
            "frozen": [asdict(item) for item in self.frozen],
            "fonts": asdict(self.fonts),
            "page_warnings": self.page_warnings,
        }
        if self.hash:
            data["hash"] = self.hash
        return data

    def summary(self) -> dict[str, Any]:
        data = self.to_dict()
        keys = ("composition_id", "width", "height", "output_width", "output_height", "fps",
                "duration", "frames", "chunk_size", "chunks", "encoder", "browser_version",
                "ffmpeg_version", "hash")
        summary = {key: data[key] for key in keys}
        summary["remote_assets"] = [
            {"url": item["url"], "size": item["size"]} for item in data["remote_assets"]
        ]
        summary["files"] = len(self.files)
        summary["audio"] = self.audio
        summary["frozen"] = [{key: item[key] for key in ("kind", "name", "source", "path",
                                                         "bytes")}
                             for item in data["frozen"]]
        return summary


def compute_hash(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the plan without its hash (file hashes included)."""
    body = {key: value for key, value in data.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _render_size(composition: ProjectComposition, options: RenderOptions) -> tuple[int, int]:
    """The declared size; --width/--height only confirm it, or set it when none is declared."""
    root = composition.root
    width = options.width if options.width is not None and not root.size_declared else root.width
    height = (options.height if options.height is not None and not root.size_declared
              else root.height)
    for name, given, value in (("--width", options.width, width),
                               ("--height", options.height, height)):
        if given is None:
            continue
        check_side(name, given, "the command line")
        if given != value:
            raise InvalidSize(
                f"{name} {given} differs from the composition's size {root.width}x{root.height} "
                f"({root.where})",
                hint="--width/--height only confirm the declared size; change data-width/"
                "data-height to render another size",
            )
    return width, height


def _duration(composition: ProjectComposition, timeline_duration: float | None, *,
              from_timeline: bool = True) -> Fraction:
    """The render's length: data-duration, else the registered timeline's, else the longest
    of what the page reports (timed clips, nested compositions, finite animations) and the
    media's natural ends, which only planning knows (the page never loads media)."""
    root = composition.root
    if root.duration:
        return root.duration
    page = (Fraction(timeline_duration).limit_denominator(1_000_000)
            if timeline_duration is not None and timeline_duration > 0 else None)
    if page is not None and from_timeline:
        return page
    longest = max([*composition.timed_media_ends, *([page] if page else [])],
                  default=Fraction(0))
    if longest > 0:
        return longest
    raise InvalidDuration(
        f"the composition {root.composition_id!r} ({root.where}) has no duration: no "
        "data-duration, no registered timeline with a duration, and no timed media",
        hint='add data-duration="SECONDS" to the root, or register its GSAP timeline in '
        "window.__timelines",
    )


def runtime_config(
    composition: ProjectComposition, fps: Fraction, variables: dict[str, object], seed: int
) -> dict[str, Any]:
    """The data the page runtime needs; numbers as floats for JavaScript."""
    expected = [] if composition.root.no_timeline else [composition.root.composition_id]
    expected += [n.composition_id for n in composition.nested if not n.no_timeline]
    return {
        "rootId": composition.root.composition_id,
        "fpsNum": fps.numerator,
        "fpsDen": fps.denominator,
        "epochMs": EPOCH_MS,
        "seed": seed,
        "variables": variables,
        "timelineIds": expected,
        "starts": {
            composition_id: {expr: float(value) for expr, value in sorted(table.items())}
            for composition_id, table in sorted(composition.starts.items())
        },
        "nested": [
            {
                "id": nested.composition_id,
                "offset": float(nested.start - nested.playback_start),
                "playbackStart": float(nested.playback_start),
                "duration": None if nested.duration is None else float(nested.duration),
            }
            for nested in composition.nested
        ],
    }


def plan(project_dir: Path, options: RenderOptions, plan_dir: Path, *,
         session: BrowserSession | None = None) -> Plan:
    """Freeze ``project_dir`` into ``plan_dir`` and write its plan; nothing half-written.

    ``session`` lets a caller that already runs a browser (a warm Lambda) reuse it.
    """
    project_dir = check_project_dir(project_dir)
    composition = load_project(project_dir, options.entry)
    variables = resolve_variables(composition.variables, options.variables)
    fps = parse_fps(options.fps, where="--fps") if options.fps else composition.root.fps
    width, height = _render_size(composition, options)
    settings = encoder_settings(options.quality, options.crf)
    if options.chunk_size is not None and options.chunk_size <= 0:
        raise InvalidOption(f"--chunk-size is {options.chunk_size}; it must be positive")
    if plan_dir.exists() and any(plan_dir.iterdir()):
        raise InvalidOption(f"plan folder {plan_dir} is not empty",
                            hint="pass an empty or new folder")
    browser = session.info if session is not None else resolve_browser(options.browser)
    ffmpeg = ffmpeg_binary()
    plan_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".plan-", dir=plan_dir.parent))
    try:
        planned = _build(project_dir, composition, options, staging, browser=browser,
                      fps=fps, size=(width, height), settings=settings, variables=variables,
                      ffmpeg_version_text=ffmpeg_version(ffmpeg), session=session)
        (staging / PLAN_FILE).write_text(json.dumps(planned.to_dict(), indent=1, sort_keys=True))
        if plan_dir.exists():
            plan_dir.rmdir()
        staging.rename(plan_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return planned


def _build(
    project_dir: Path,
    composition: ProjectComposition,
    options: RenderOptions,
    staging: Path,
    *,
    browser: BrowserInfo,
    fps: Fraction,
    size: tuple[int, int],
    settings: EncoderSettings,
    variables: dict[str, object],
    ffmpeg_version_text: str,
    session: BrowserSession | None,
) -> Plan:
    frozen = staging / PROJECT_DIR
    frozen.mkdir()
    files = freeze_project(project_dir, frozen, exclude=staging.parent)
    config = runtime_config(composition, fps, variables, options.seed)
    # Which files sit beside nested compositions: the runtime resolves their relative URLs.
    config["files"] = files_beside_nested(composition, (item.path for item in files))
    fetcher = RemoteFetcher(staging / REMOTE_DIR, cache_dir=options.asset_cache)
    # Bad media fails here, before the browser starts; remote media is fetched once.
    probed_media = probe_media(composition, frozen, fetcher)
    composition.timed_media_ends.extend(
        end for item in probed_media if item.element.duration is None
        for end in [item.natural_end] if end is not None)
    # Before the page loads: it gets the frozen faces and fallback fonts from the plan.
    fonts = freeze_fonts(frozen, composition.files, staging, fetcher,
                         asset_cache=options.asset_cache, strict=options.strict_fonts)
    config["fontFaces"] = fonts.faces
    # The planning page already finds every <video> (frames come once the length is known).
    config["videos"] = video_stubs(probed_media)
    server = AssetServer(project_dir=frozen, remote_dir=staging / REMOTE_DIR, remote={},
                         fetch_remote=fetcher)
    with browser_session(session, browser) as active:
        page = active.open(server=server, entry=composition.entry, runtime_config=config,
                           size=size)
        try:
            ready = page.load(options.ready_timeout)
        finally:
            page.close()
    duration = _duration(composition, ready.timeline_duration,
                         from_timeline=bool(ready.timelines))
    # A timeline the planning page found unregistered is rendered without (as HyperFrames
    # does); chunk pages then do not wait for it, so every page makes the same calls.
    config["timelineIds"] = [name for name in config["timelineIds"] if name in ready.timelines]
    frames = frame_count(duration, fps)
    if frames <= 0:
        raise InvalidDuration(f"the composition lasts {float(duration):g}s, less than a frame")
    media = freeze_media(probed_media, staging, ffmpeg=ffmpeg_binary(), fps=fps, frames=frames)
    config["videos"] = media.videos
    chunk_size = options.chunk_size or auto_chunk_size(frames, options.parallelism)
    out_width, out_height = even_size(*size)
    fonts_data = fonts.plan_data()
    planned = Plan(
        schema=PLAN_SCHEMA,
        hfaction_version=__version__,
        entry=composition.entry,
        composition_id=composition.root.composition_id,
        width=size[0],
        height=size[1],
        output_width=out_width,
        output_height=out_height,
        fps=fps,
        duration_exact=duration,
        duration_seconds=float(duration),
        frames=frames,
        chunk_size=chunk_size,
        chunks=list(split_chunks(frames, chunk_size)),
        encoder=settings,
        capture=CaptureSettings(format="jpeg", quality=JPEG_QUALITY,
                                method="beginframe" if browser.begin_frame else "screenshot"),
        browser_version=browser_version(browser.path),
        ffmpeg_version=ffmpeg_version_text,
        runtime=config,
        remote_assets=dict(fetcher.fetched),
        files=list(files),
        audio=media.audio,
        frozen=sorted((FrozenEntry(**entry) for entry in media.frozen + fonts.entries),
                      key=lambda e: (e.kind, e.path)),
        fonts=FontsSummary(fallback=str(fonts_data["fallback"]),
                           warnings=list(fonts_data["warnings"]),
                           faces=int(fonts_data["faces"])),
        page_warnings=list(ready.warnings),
        hash="",
    )
    return replace(planned, hash=compute_hash(planned.to_dict()))


def load_plan(plan_dir: Path, *, verify_files: bool = True) -> Plan:
    """Read ``plan.json`` and prove the plan folder is the one that was planned."""
    plan_file = plan_dir / PLAN_FILE
    try:
        data = json.loads(plan_file.read_text())
    except FileNotFoundError:
        raise PlanInvalid(f"no {PLAN_FILE} in {plan_dir}",
                          hint="run 'hfaction plan' first, or pass the plan folder") from None
    except json.JSONDecodeError as error:
        raise PlanInvalid(f"{plan_file} is not valid JSON ({error.msg})") from None
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
        raise PlanInvalid(f"{plan_file} is not an hfaction plan of schema {PLAN_SCHEMA}")
    expected = compute_hash(data)
    if data.get("hash") != expected:
        raise PlanHashMismatch(
            f"{plan_file} says hash {str(data.get('hash'))[:12]} but its content hashes to "
            f"{expected[:12]}",
            hint="the plan was edited or corrupted; plan the render again",
        )
    try:
        result = Plan.from_dict(data)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise PlanInvalid(f"{plan_file} is not a valid plan ({type(error).__name__}: "
                          f"{error})") from None
    if verify_files:
        _verify_files(plan_dir, result)
    return result


def _verify_files(plan_dir: Path, plan_: Plan) -> None:
    checks = [(plan_dir / PROJECT_DIR / item.path, item.sha256, item.path) for item in plan_.files]
    checks += [(plan_dir / REMOTE_DIR / asset.path, asset.sha256, asset.url)
               for asset in plan_.remote_assets.values()]
    for path, digest, label in checks:
        if not path.is_file() or sha256_file(path) != digest:
            state = "is missing" if not path.is_file() else "differs from the plan"
            raise PlanHashMismatch(
                f"{label} {state} in plan {plan_.hash[:12]} ({plan_dir})",
                hint="the plan folder was changed after planning; plan the render again",
            )
    # Frozen media and fonts (files or folders, see hfaction.render.media.frozen_sha256).
    for entry in plan_.frozen:
        path = plan_dir / entry.path
        if not path.exists() or frozen_sha256(path) != entry.sha256:
            state = "is missing" if not path.exists() else "differs from the plan"
            raise PlanHashMismatch(
                f"frozen {entry.kind} {entry.path} {state} in plan {plan_.hash[:12]} "
                f"({plan_dir})",
                hint="the plan folder was changed after planning; plan the render again",
            )
