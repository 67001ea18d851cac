"""What a project holds and what ``render`` would make of it, read without a browser.

:func:`discover` walks a project as :func:`~hfaction.render.composition.load_project` does
(the entry file, then every nested composition), and reads each composition's id, size,
timing, variables, media and fonts. Every check a render makes before its browser starts
is wrapped: a ``data-start`` cycle, a missing nested file, a missing media file, a font that
cannot be fetched each become one :class:`Problem` in ``errors`` (code, message, where) and
the walk goes on, so one run lists them all. What only the page can tell (a registered
timeline's duration) is said to come from the page, without a value.

The rules are planning's (:func:`hfaction.render.planner.plan`), read from the same
functions where they can be (``composition``, ``fonts``, ``media``); ``load_project`` runs
last as a safety net, so whatever would stop planning's first step is listed too. Nothing
here starts a browser or imports Playwright: ``hfaction compositions`` stays light.
"""

from __future__ import annotations

import json
import posixpath
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from hfaction.errors import (
    ClipReferenceCycle,
    ClipReferenceUnresolved,
    FontFetchFailed,
    HfactionError,
    InvalidDuration,
    InvalidOption,
    InvalidSize,
    InvalidVariable,
    MediaEmpty,
    MediaNotFound,
    NestedCompositionError,
    NoCompositionRoot,
    PageScriptError,
    SystemFontUsed,
)
from hfaction.render.assets import RemoteFetcher
from hfaction.render.composition import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    Element,
    MediaElement,
    ParsedFile,
    _collect_media,
    _declared_variables,
    _int_attribute,
    _is_project_file,
    _read_html,
    check_side,
    load_project,
    parse_html,
    resolve_reference,
    resolve_starts,
    resolve_variables,
    safe_relative,
    url_path,
)
from hfaction.render.fonts.aliases import PRIMARY_FAMILY, bundled_family_for, is_bundled_name
from hfaction.render.fonts.css import PROJECT_BASE, CssFacts, FaceRule, read_css
from hfaction.render.fonts.fontconfig import FALLBACK_FAMILIES
from hfaction.render.fonts.freeze import freeze_declared, is_machine_family
from hfaction.render.fonts.markup import MarkupReader
from hfaction.render.framemath import (
    auto_chunk_size,
    format_fps,
    frame_count,
    parse_duration,
    parse_fps,
    split_chunks,
)
from hfaction.render.options import RenderOptions
from hfaction.render.project import SKIPPED_TOP_LEVEL, check_project_dir, iter_project_files

T = TypeVar("T")

# Where a composition's length comes from.
DECLARED = "data-duration"  # the composition's own data-duration
HOST = "host data-duration"  # a nested composition's host cuts it off
TIMELINE = "timeline"  # the registered timeline's duration, read in the browser at planning
PAGE = "page"  # no timeline: timed clips, finite animations and media, read at planning
_SOURCES = {
    DECLARED: "declared data-duration",
    HOST: "data-duration of its host",
    TIMELINE: "from the timeline at render time",
    PAGE: "from the page's clips, animations and media at render time",
}
# Where a font comes from.
FONT_PROJECT = "project"  # @font-face over a project file
FONT_REMOTE = "remote"  # @font-face or a stylesheet over a URL, fetched at planning
FONT_BUNDLED = "bundled"  # HyperFrames' bundled set (or a name it aliases to it)
FONT_GOOGLE = "google"  # named, not loaded, not bundled: fetched from Google Fonts
FONT_MACHINE = "machine"  # a generic or machine family: the plan's frozen machine fonts


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One error a render would hit: its stable code, message, hint and where it is."""

    code: str
    message: str
    where: str
    hint: str = ""

    @classmethod
    def of(cls, error: HfactionError, where: str) -> Problem:
        return cls(error.code, error.message, where, error.hint or "")

    def line(self) -> str:
        return f"{self.code}: {self.message}" + (f" ({self.hint})" if self.hint else "")

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "where": self.where,
                "hint": self.hint}


@dataclass(frozen=True)
class Variable:
    id: str
    type: str
    label: str | None
    default: Any  # None when none is declared
    value: Any  # what this render uses: the given value, else the default (or the host's)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "label": self.label, "default": self.default,
                "value": self.value}


@dataclass(frozen=True)
class Media:
    tag: str  # "audio" or "video"
    id: str | None
    src: str  # project path (as the page resolves it) or URL
    remote: bool
    start: Fraction  # on the root timeline
    duration: Fraction | None  # data-duration; None: until the source (or its host) ends
    source_duration: Fraction | None  # the file's length, when it was probed
    audio: bool
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "id": self.id, "src": self.src, "remote": self.remote,
                "start": float(self.start), "duration": _seconds(self.duration),
                "source_duration": _seconds(self.source_duration), "audio": self.audio,
                "where": self.where}


@dataclass(frozen=True)
class Font:
    family: str  # as written
    source: str  # FONT_PROJECT, FONT_REMOTE, FONT_BUNDLED, FONT_GOOGLE or FONT_MACHINE
    detail: str  # what draws it: the bundled family of an alias, "Google Fonts", ...
    where: str
    files: tuple[str, ...] = ()  # its @font-face files (project paths) or URLs

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "source": self.source, "detail": self.detail,
                "where": self.where, "files": list(self.files)}

    def text(self) -> str:
        detail = self.detail or (self.files[0] if len(self.files) == 1 else
                                 f"{len(self.files)} files" if self.files else "")
        return f"{self.family} ({self.source}{': ' + detail if detail else ''})"


@dataclass
class Composition:
    """The root or a nested composition, as the render will see it."""

    id: str
    file: str  # project-relative HTML file
    where: str  # the root element, or the host that embeds it
    parent: str | None
    width: int | None
    height: int | None
    fps: Fraction  # every composition is sampled at the render's rate
    start: Fraction  # on the root timeline
    duration: Fraction | None
    duration_source: str
    no_timeline: bool = False
    variables: list[Variable] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    fonts: list[Font] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file, "where": self.where, "parent": self.parent,
                "width": self.width, "height": self.height, "fps": format_fps(self.fps),
                "start": float(self.start), "duration": _seconds(self.duration),
                "duration_source": self.duration_source, "timeline": not self.no_timeline,
                "variables": [item.to_dict() for item in self.variables],
                "media": [item.to_dict() for item in self.media],
                "fonts": [item.to_dict() for item in self.fonts],
                "children": list(self.children)}


@dataclass
class RenderSummary:
    """What ``hfaction render`` would do: size, rate, length (when it is declared), chunks."""

    composition_id: str
    width: int
    height: int
    fps: Fraction
    fps_source: str  # "--fps", "data-fps" or "default"
    duration: Fraction | None
    duration_source: str
    frames: int | None
    chunk_size: int | None
    chunks: int | None
    timelines: list[str]  # ids whose window.__timelines entry the render waits for
    variables: dict[str, Any]
    audio: bool

    def to_dict(self) -> dict[str, Any]:
        return {"composition_id": self.composition_id, "width": self.width,
                "height": self.height, "output_width": self.width + self.width % 2,
                "output_height": self.height + self.height % 2, "fps": format_fps(self.fps),
                "fps_source": self.fps_source, "duration": _seconds(self.duration),
                "duration_source": self.duration_source, "frames": self.frames,
                "chunk_size": self.chunk_size, "chunks": self.chunks,
                "timelines": list(self.timelines), "variables": dict(self.variables),
                "audio": self.audio}


@dataclass
class Discovery:
    """Everything :func:`discover` found; ``to_dict`` is ``hfaction compositions --json``."""

    project: str
    entry: str
    compositions: list[Composition] = field(default_factory=list)
    render: RenderSummary | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked_network: bool = True  # False with offline: remote fonts and media not fetched

    @property
    def exit_code(self) -> int:
        """0 when a render could start from what was read, 2 (bad input) otherwise."""
        return 2 if self.errors else 0

    @property
    def root(self) -> Composition | None:
        return self.compositions[0] if self.compositions else None

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "entry": self.entry,
                "compositions": [item.to_dict() for item in self.compositions],
                "render": self.render.to_dict() if self.render else None,
                "warnings": list(self.warnings), "network": self.checked_network,
                "errors": [item.to_dict() for item in self.errors]}

    def lines(self) -> list[str]:
        """The text listing (not the warnings and errors: the CLI prints those to stderr)."""
        out = [f"project {self.project} (entry {self.entry})"]
        by_id = {item.id: item for item in self.compositions}
        shown: set[int] = set()

        def show(item: Composition, depth: int) -> None:
            if id(item) in shown:
                return
            shown.add(id(item))
            out.extend(_composition_lines(item, "  " * depth))
            for child in self.compositions:
                if child.parent == item.id and child is not item:
                    show(child, depth + 1)

        if self.root is not None:
            show(self.root, 0)
        for item in self.compositions:  # any whose parent is not listed
            if id(item) not in shown and item.parent not in by_id:
                show(item, 1)
        if self.render is not None:
            out.append(_render_line(self.render))
        if not self.checked_network:
            out.append("offline: remote fonts, stylesheets and media were not fetched")
        return out


def _seconds(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _text_seconds(value: Fraction) -> str:
    return f"{float(value):g}s"


def _composition_lines(item: Composition, indent: str) -> list[str]:
    size = (f"{item.width}x{item.height}" if item.width is not None and item.height is not None
            else "size set by CSS")
    if item.duration is not None:
        length = f"{_text_seconds(item.duration)} ({_SOURCES[item.duration_source]})"
    else:
        length = f"length {_SOURCES[item.duration_source]}"
    timing = length if item.parent is None else f"from {_text_seconds(item.start)}, {length}"
    lines = [f"{indent}{item.id}: {size}, {format_fps(item.fps)} fps, {timing} "
             f"[{item.where if item.parent is None else item.file + ', host ' + item.where}]"]
    if item.variables:
        lines.append(f"{indent}  variables: " + ", ".join(
            f"{var.id} ({var.type}) = {var.value!r}" for var in item.variables))
    for media in item.media:
        window = (f"{_text_seconds(media.start)}+{_text_seconds(media.duration)}"
                  if media.duration is not None else f"from {_text_seconds(media.start)}")
        ident = f"#{media.id} " if media.id else ""
        lines.append(f"{indent}  {media.tag} {ident}{media.src} ({window}) [{media.where}]")
    if item.fonts:
        lines.append(f"{indent}  fonts: " + ", ".join(font.text() for font in item.fonts))
    return lines


def _render_line(render: RenderSummary) -> str:
    size = f"{render.width}x{render.height}"
    rate = f"{format_fps(render.fps)} fps"
    if render.frames is None:
        return (f"render: {size} at {rate}, length {_SOURCES[render.duration_source]} "
                "(frames known once planned)")
    assert render.duration is not None
    chunks = f"{render.chunks} chunk{'s' if render.chunks != 1 else ''} of {render.chunk_size}"
    return (f"render: {render.frames} frames ({_text_seconds(render.duration)} at {rate}), "
            f"{size}, {chunks}")


# --- collecting errors ----------------------------------------------------------------------


@dataclass
class _Errors:
    items: list[Problem] = field(default_factory=list)

    def add(self, error: HfactionError, where: str) -> None:
        if where and not re.search(r":\d+$", where):
            # A file: the message may say the line (data-start errors name their clip).
            line = re.search(rf"(?<!\S){re.escape(where)}:\d+", error.message)
            where = line.group(0) if line else where
        problem = Problem.of(error, where)
        if all((item.code, item.message) != (problem.code, problem.message)
               for item in self.items):
            self.items.append(problem)

    def attempt(self, at: str, function: Callable[..., T], /, *args: Any,
                ignore: tuple[type[HfactionError], ...] = (), **kwargs: Any) -> T | None:
        """``function(*args, **kwargs)``, or None with its error listed as found ``at``
        (``ignore``: not listed, because an earlier error already says it)."""
        try:
            return function(*args, **kwargs)
        except ignore:
            return None
        except HfactionError as error:
            self.add(error, at)
            return None


# --- the walk -------------------------------------------------------------------------------


def discover(project: Path, options: RenderOptions | None = None, *,
             offline: bool = False) -> Discovery:
    """Every composition of ``project`` and what a render with ``options`` would do; every
    problem listed in ``errors``, none raised. ``offline``: fetch nothing (remote fonts,
    stylesheets and media are listed, not checked)."""
    options = options or RenderOptions()
    errors = _Errors()
    found = Discovery(project=str(project), entry=options.entry, checked_network=not offline)
    project_dir = errors.attempt(str(project), check_project_dir, project)
    if project_dir is not None:
        with tempfile.TemporaryDirectory(prefix="hfaction-discover-",
                                         ignore_cleanup_errors=True) as scratch:
            fetcher = RemoteFetcher(Path(scratch) / "remote", cache_dir=options.asset_cache)
            _Walk(project_dir, options, errors, found, fetcher, offline=offline).run()
    found.errors = errors.items
    return found


class _Walk:
    def __init__(self, project_dir: Path, options: RenderOptions, errors: _Errors,
                 found: Discovery, fetcher: RemoteFetcher, *, offline: bool) -> None:
        self.project_dir = project_dir
        self.options = options
        self.errors = errors
        self.found = found
        self.fetcher = fetcher
        self.offline = offline
        self.entry = options.entry
        self.starts: dict[str, dict[str, Fraction]] = {}
        self.failed: set[str] = set()  # compositions whose data-start references failed
        self.files: dict[str, list[Composition]] = {}  # HTML file -> compositions it holds
        self.media: list[MediaElement] = []
        self.ffprobe: str | None = None
        self.declared_fps: Fraction | None = None  # the root's data-fps
        self.size_declared = False  # the root's data-width or data-height

    def run(self) -> None:
        self.errors.attempt(str(self.project_dir), iter_project_files, self.project_dir)
        root = self._entry()
        for relative in self.files:
            self._references(relative)
        if root is not None:
            fonts = _Fonts(self)
            fonts.read()
            self._summary(root)
            for problem, where in fonts.system_fonts:
                if self.options.strict_fonts:
                    self.errors.add(problem, where)
                elif problem.one_line() not in self.found.warnings:
                    self.found.warnings.append(problem.one_line())
        # The safety net: whatever stops planning's first step is listed.
        self.errors.attempt(self.entry, load_project, self.project_dir, self.entry)

    # -- the entry and its root

    def _entry(self) -> Composition | None:
        entry = self.errors.attempt("--entry", safe_relative, self.project_dir, self.entry,
                                    where="--entry", follow_links=True)
        if entry is None:
            return None
        self.entry = str(entry)
        self.found.entry = self.entry
        text = self.errors.attempt(self.entry, _read_html, self.project_dir, entry, what="entry")
        if text is None:
            return None
        parsed = parse_html(text, self.entry)
        if not parsed.roots:
            self.errors.add(NoCompositionRoot(
                f"{entry} has no element with data-composition-id",
                hint='mark the root, e.g. <div data-composition-id="main" data-width="1920" '
                'data-height="1080" data-duration="5">'), self.entry)
            return None
        root = self._root(parsed.roots[0])
        root.variables = self._root_variables(parsed)
        self.found.compositions.append(root)
        self.files.setdefault(self.entry, []).append(root)
        self._file(parsed, root, Fraction(0), [self.entry], None)
        return root

    def _root(self, element: Element) -> Composition:
        attrs, where = element.attrs, element.where
        composition_id = attrs["data-composition-id"].strip()
        if not composition_id:
            self.errors.add(NoCompositionRoot(
                f"the root at {where} has an empty data-composition-id"), where)
        attempt = self.errors.attempt
        width = attempt(where, _int_attribute, element, "data-width", DEFAULT_WIDTH)
        height = attempt(where, _int_attribute, element, "data-height", DEFAULT_HEIGHT)
        duration_text = attrs.get("data-duration", "").strip()
        duration = attempt(where, parse_duration, duration_text,
                           where=f"data-duration at {where}") if duration_text else None
        fps_text = attrs.get("data-fps", "").strip()
        fps = (attempt(where, parse_fps, fps_text, where=f"data-fps at {where}")
               if fps_text else None)
        no_timeline = "data-no-timeline" in attrs
        source = DECLARED if duration else PAGE if no_timeline else TIMELINE
        self.declared_fps = fps
        self.size_declared = bool(attrs.get("data-width", "").strip()
                                  or attrs.get("data-height", "").strip())
        return Composition(
            id=composition_id, file=element.source, where=where, parent=None,
            width=DEFAULT_WIDTH if width is None else width,
            height=DEFAULT_HEIGHT if height is None else height,
            fps=fps or DEFAULT_FPS, start=Fraction(0), duration=duration or None,
            duration_source=source, no_timeline=no_timeline)

    def _root_variables(self, parsed: ParsedFile) -> list[Variable]:
        declared = self.errors.attempt(parsed.source, _declared_variables, parsed) or []
        values = self.errors.attempt("--var", resolve_variables, declared,
                                     self.options.variables) or {}
        return [_variable(item, values.get(str(item["id"]))) for item in declared]

    # -- one HTML file: timing, media, nested compositions (as composition._collect)

    def _file(self, parsed: ParsedFile, composition: Composition, offset: Fraction,
              chain: list[str], limit: Fraction | None) -> None:
        groups: dict[str, list[Element]] = {}
        for element in parsed.timed:
            groups.setdefault(element.composition_id or composition.id, []).append(element)
        for composition_id, clips in groups.items():
            resolved = self.errors.attempt(clips[0].source, resolve_starts, clips)
            if resolved is None:
                self.failed.add(composition_id)
            else:
                self.starts.setdefault(composition_id, {}).update(resolved)
        for element in parsed.media:
            self._media(parsed, element, composition, offset, limit)
        for host in parsed.hosts:
            self._nested(host, composition, offset, chain, limit)

    def _quiet(self, composition_id: str) -> tuple[type[HfactionError], ...]:
        """Errors not to list again: data-start references of a composition that failed."""
        return ((ClipReferenceCycle, ClipReferenceUnresolved) if composition_id in self.failed
                else ())

    def _media(self, parsed: ParsedFile, element: Element, composition: Composition,
               offset: Fraction, limit: Fraction | None) -> None:
        one = ParsedFile(source=parsed.source, html_attrs=parsed.html_attrs,
                         roots=parsed.roots, media=[element])
        items: list[MediaElement] = []
        self.errors.attempt(
            element.where, _collect_media, one, composition.id, offset, self.starts, items,
            entry=self.entry, limit=limit,
            exists=lambda path: _is_project_file(self.project_dir, path),
            ignore=self._quiet(element.composition_id or composition.id))
        if not items:
            return
        item = items[0]
        self.media.append(item)
        remote = item.src.startswith(("http://", "https://"))
        length = None if remote and self.offline else self._probe(item)
        composition.media.append(Media(
            tag=item.tag, id=item.element_id, src=item.src, remote=remote, start=item.start,
            duration=item.duration, source_duration=length, audio=item.has_audio,
            where=item.where))

    def _probe(self, item: MediaElement) -> Fraction | None:
        """What planning checks of a source (it exists, is not empty, ffprobe reads it)."""
        # media.py loads the ffmpeg bindings: only when there is media.
        from hfaction.render.encode import ffprobe_binary
        from hfaction.render.media import ProbedMedia, probe_audio, probe_video, source_path

        attempt = self.errors.attempt
        if item.src.startswith(("https://", "http://")):
            path = attempt(item.where, source_path, item, self.project_dir, self.fetcher)
        else:  # the project as the user has it, their links followed
            relative = url_path(item.src).lstrip("/")
            path = _linked_file(self.project_dir, relative)
            if path is None:
                self.errors.add(MediaNotFound(
                    f"{item.label}: {relative} is not in the project",
                    hint="add the file to the project folder or fix the src"), item.where)
        if path is None:
            return None
        if path.stat().st_size == 0:
            self.errors.add(MediaEmpty(f"{item.label}: the file is empty",
                                       hint="replace the file or remove the element"),
                            item.where)
            return None
        if self.ffprobe is None:
            self.ffprobe = attempt(item.where, ffprobe_binary)
            if self.ffprobe is None:
                return None
        probed = ProbedMedia(element=item, path=path)
        if item.tag == "video":
            probed.video = attempt(item.where, probe_video, self.ffprobe, item, path)
        if item.has_audio:
            probed.audio = attempt(item.where, probe_audio, self.ffprobe, item, path)
        return probed.source_duration

    def _nested(self, host: Element, composition: Composition, offset: Fraction,
                chain: list[str], limit: Fraction | None) -> None:
        attempt, where = self.errors.attempt, host.where
        parent_id = host.composition_id or composition.id
        original = host.attrs["data-composition-src"].strip()
        src = attempt(where, safe_relative, self.project_dir,
                      posixpath.normpath(posixpath.join(posixpath.dirname(self.entry),
                                                        original)),
                      where=f"data-composition-src={original!r} at {where}", follow_links=True)
        if src is None:
            return
        if str(src) in chain:
            self.errors.add(NestedCompositionError(
                f"{where} embeds {src}, which embeds itself "
                f"({' -> '.join([*chain, str(src)])})"), where)
            return
        start_text = host.attrs.get("data-start", "0").strip() or "0"
        local_start = self.starts.get(parent_id, {}).get(start_text)
        if local_start is None:
            table = attempt(where, resolve_starts, [host], ignore=self._quiet(parent_id))
            local_start = table[start_text] if table else Fraction(0)
        duration_text = host.attrs.get("data-duration", "").strip()
        duration = attempt(where, parse_duration, duration_text,
                           where=where) if duration_text else None
        playback_text = host.attrs.get("data-playback-start", "").strip()
        playback = (attempt(where, parse_duration, playback_text, where=where)
                    if playback_text else None) or Fraction(0)
        host_id = host.attrs.get("data-composition-id", "").strip()
        text = attempt(where, _read_html, self.project_dir, src,
                       what=f"nested composition (from {where})")
        inner = parse_html(text, str(src)) if text is not None else None
        roots = inner.roots if inner is not None else []
        inner_root = next((root for root in roots
                           if root.attrs.get("data-composition-id", "").strip() == host_id),
                          roots[0] if roots else None)
        inner_id = host_id or (roots[0].attrs["data-composition-id"].strip() if roots else "")
        if not inner_id:
            if inner is not None:
                self.errors.add(NestedCompositionError(
                    f"nested composition {src} (from {where}) has no data-composition-id"),
                    where)
            return
        start = offset + local_start
        nested = self._nested_composition(host, inner_root, inner_id, str(src), parent_id,
                                          start, duration)
        self.found.compositions.append(nested)
        parent = next((item for item in self.found.compositions if item.id == parent_id),
                      composition)
        parent.children.append(inner_id)
        if inner is None:
            return
        self.files.setdefault(str(src), []).append(nested)
        end = None if duration is None else start + duration
        self._file(inner, nested, start - playback, [*chain, str(src)],
                   end if limit is None else limit if end is None else min(limit, end))

    def _nested_composition(self, host: Element, inner_root: Element | None, inner_id: str,
                            src: str, parent_id: str, start: Fraction,
                            duration: Fraction | None) -> Composition:
        # Its host's data-duration cuts it off; without one it lasts as long as what holds
        # it, its timeline holding its last state (the page's runtime reads only the host's).
        own = inner_root.attrs if inner_root is not None else {}
        no_timeline = "data-no-timeline" in host.attrs or "data-no-timeline" in own
        source = HOST if duration is not None else PAGE if no_timeline else TIMELINE
        nested = Composition(
            id=inner_id, file=src, where=host.where, parent=parent_id,
            width=_size(host.attrs, own, "data-width"), height=_size(host.attrs, own,
                                                                     "data-height"),
            fps=DEFAULT_FPS, start=start, duration=duration, duration_source=source,
            no_timeline=no_timeline)
        nested.variables = self._nested_variables(host, own, src)
        return nested

    def _nested_variables(self, host: Element, own: dict[str, str], src: str) -> list[Variable]:
        """Declared on the nested root (as the page runtime reads them); a host's
        data-variable-values override the defaults."""
        declared = _json_attribute(own, "data-composition-variables", src, self.errors)
        given = _json_attribute(host.attrs, "data-variable-values", host.where, self.errors)
        if declared is not None and not (isinstance(declared, list) and all(
                isinstance(item, dict) and isinstance(item.get("id"), str)
                for item in declared)):
            self.errors.add(InvalidVariable(
                f"data-composition-variables in {src} must be a JSON list of "
                '{"id", "type", "label", "default"} objects'), src)
            declared = None
        values = given if isinstance(given, dict) else {}
        return [_variable(item, values.get(item["id"], item.get("default")))
                for item in declared or []]

    def _references(self, relative: str) -> None:
        """Scripts, stylesheets and images of one HTML file that are not in the project:
        the page would request them and planning would stop (PAGE_SCRIPT_ERROR)."""
        parser = _References()
        parser.feed((self.project_dir / relative).read_text(encoding="utf-8", errors="replace"))
        parser.close()
        for reference, line in parser.found:
            target = resolve_reference(reference, relative, self.entry,
                                       lambda path: _is_project_file(self.project_dir, path))
            if target is None:
                continue  # a URL, fetched at planning
            path = url_path(target).lstrip("/")
            if path and _linked_file(self.project_dir, path) is None:
                where = f"{relative}:{line}"
                self.errors.add(PageScriptError(
                    f"{where} requests {path!r}, which is not in the project",
                    hint="add the file to the project folder or fix the path"), where)

    # -- what the render would do

    def _summary(self, root: Composition) -> None:
        options, attempt = self.options, self.errors.attempt
        fps = attempt("--fps", parse_fps, options.fps, where="--fps") if options.fps else None
        fps_source = "--fps" if fps else "data-fps" if self.declared_fps else "default"
        fps = fps or root.fps
        for item in self.found.compositions:
            item.fps = fps
        width, height = self._size(root)
        frames = chunk_size = chunks = None
        if root.duration is not None:
            frames = frame_count(root.duration, fps)
            if frames <= 0:
                self.errors.add(InvalidDuration(
                    f"the composition lasts {float(root.duration):g}s, less than a frame"),
                    root.where)
                frames = None
        if options.chunk_size is not None and options.chunk_size <= 0:
            self.errors.add(InvalidOption(
                f"--chunk-size is {options.chunk_size}; it must be positive"), "--chunk-size")
        elif frames is not None:
            chunk_size = options.chunk_size or auto_chunk_size(frames, options.parallelism)
            chunks = len(split_chunks(frames, chunk_size))
        timelines = [item.id for item in self.found.compositions if not item.no_timeline]
        self.found.render = RenderSummary(
            composition_id=root.id, width=width, height=height, fps=fps, fps_source=fps_source,
            duration=root.duration, duration_source=root.duration_source, frames=frames,
            chunk_size=chunk_size, chunks=chunks, timelines=timelines,
            variables={var.id: var.value for var in root.variables if var.value is not None},
            audio=any(item.has_audio for item in self.media))

    def _size(self, root: Composition) -> tuple[int, int]:
        """As planning sizes a render: --width/--height confirm the declared size, or set it
        when none is declared."""
        assert root.width is not None and root.height is not None
        options = self.options
        width = options.width if options.width is not None and not self.size_declared \
            else root.width
        height = options.height if options.height is not None and not self.size_declared \
            else root.height
        for name, given, value in (("--width", options.width, width),
                                   ("--height", options.height, height)):
            if given is None:
                continue
            try:
                check_side(name, given, "the command line")
            except HfactionError as error:
                self.errors.add(error, name)
                continue
            if given != value:
                self.errors.add(InvalidSize(
                    f"{name} {given} differs from the composition's size "
                    f"{root.width}x{root.height} ({root.where})",
                    hint="--width/--height only confirm the declared size; change data-width/"
                    "data-height to render another size"), name)
        return width, height


class _References(HTMLParser):
    """The files an HTML file makes the page load: scripts, stylesheets, images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("script", "img") and attributes.get("src", "").strip():
            self.found.append((attributes["src"], self.getpos()[0]))
        elif (tag == "link" and "stylesheet" in attributes.get("rel", "").lower().split()
              and attributes.get("href", "").strip()):
            self.found.append((attributes["href"], self.getpos()[0]))


def _linked_file(project_dir: Path, relative: str) -> Path | None:
    """The project file at ``relative`` as the user has it (their links followed, as
    planning freezes them), or None when there is none or it would leave the project."""
    try:
        safe_relative(project_dir, relative, where=relative, follow_links=True)
    except HfactionError:
        return None
    top = relative.split("/", 1)[0]
    path = project_dir / relative
    return path if top not in SKIPPED_TOP_LEVEL and path.is_file() else None


def _variable(item: dict[str, object], value: Any) -> Variable:
    label = item.get("label")
    return Variable(id=str(item["id"]), type=str(item.get("type", "string")),
                    label=None if label is None else str(label), default=item.get("default"),
                    value=value)


def _size(host: dict[str, str], own: dict[str, str], name: str) -> int | None:
    """A nested composition's side: its host's, else its root's (as the runtime mounts it)."""
    for attrs in (host, own):
        text = attrs.get(name, "").strip()
        if text.isdigit():
            return int(text)
    return None


def _json_attribute(attrs: dict[str, str], name: str, where: str, errors: _Errors) -> Any:
    text = attrs.get(name, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        errors.add(InvalidVariable(f"{name} at {where} is not JSON ({error.msg}): the page's "
                                   "script would fail on it"), where)
        return None


# --- fonts (as fonts.freeze_fonts classifies them) -------------------------------------------


@dataclass
class _Styles(MarkupReader):
    """The project's CSS, as fonts.freeze_fonts reads it, with each failure listed."""

    errors: _Errors | None = None
    offline: bool = False

    def _exists(self, relative: str) -> bool:
        return _linked_file(self.project_dir, relative) is not None

    def stylesheet(self, url: str, where: str, depth: int = 0) -> None:
        url = url.split("#", 1)[0]
        if url.startswith(PROJECT_BASE):
            # The project as the user has it, their links followed (planning reads the
            # frozen copy, where those links are files).
            if url in self.seen or depth > 16:
                return
            self.seen.add(url)
            relative = unquote(urlsplit(url).path).lstrip("/")
            path = _linked_file(self.project_dir, relative)
            if path is None:
                return  # a missing stylesheet is listed with the page's references
            text = path.read_text(encoding="utf-8", errors="replace")
            for imported in read_css(text, url, relative, self.facts, first_line=1):
                self.stylesheet(imported, relative, depth + 1)
            return
        if self.offline and url.startswith(("http://", "https://")):
            return  # not fetched: its faces are unknown, the families it names still seen
        try:
            super().stylesheet(url, where, depth)
        except HfactionError as error:
            if self.errors is not None:
                self.errors.add(error, where)


# As fonts.freeze_fonts words its SYSTEM_FONT_USED warnings.
_SYSTEM_FONT_HINT = ("name a web font first (bundled, Google Fonts or @font-face), or render "
                     "without --strict-fonts")


class _Fonts:
    def __init__(self, walk: _Walk) -> None:
        self.walk = walk
        self.system_fonts: list[tuple[SystemFontUsed, str]] = []  # (warning, where)

    def _reader(self, errors: _Errors | None) -> _Styles:
        return _Styles(self.walk.project_dir, self.walk.fetcher, entry=self.walk.entry,
                       errors=errors, offline=self.walk.offline)

    def read(self) -> None:
        walk = self.walk
        everything = self._reader(walk.errors)  # one reader over all files, as planning's
        for relative in walk.files:
            walk.errors.attempt(relative, everything.html, relative)
        facts = everything.facts
        declared: dict[str, str] = {}  # family -> where its faces come from
        for rule in facts.faces:
            local = any(url.startswith(PROJECT_BASE) for url in rule.urls)
            declared.setdefault(rule.family.lower(), FONT_PROJECT if local else
                                FONT_REMOTE if rule.urls else FONT_MACHINE)
        bundled = {name.lower() for families, _ in facts.hyperframes_families
                   for name in families
                   if bundled_family_for(name) is not None and name.lower() not in declared}
        for relative, compositions in walk.files.items():
            own = self._reader(None)
            try:
                own.html(relative)
            except (HfactionError, OSError):
                continue  # listed by the reader over all files
            fonts = _fonts_of(own.facts, declared, bundled)
            for composition in compositions:
                composition.fonts = fonts
        self._check(facts, declared, bundled)

    def _check(self, facts: CssFacts, declared: dict[str, str], bundled: set[str]) -> None:
        walk, attempt = self.walk, self.walk.errors.attempt
        with tempfile.TemporaryDirectory(prefix="hfaction-fonts-",
                                         ignore_cleanup_errors=True) as scratch:
            from hfaction.render.fonts.fontconfig import FALLBACK, freeze_fallback

            attempt("machine fonts", freeze_fallback, Path(scratch) / FALLBACK)
            for rule in facts.faces:
                for url in rule.urls:
                    if url.startswith(PROJECT_BASE):
                        self._local_face(rule, url)
                    elif not walk.offline:
                        attempt(rule.where, freeze_declared, rule, url, walk.project_dir,
                                walk.fetcher, lambda *args: None)
                if not rule.urls:
                    self.system_fonts.append((SystemFontUsed(
                        f"@font-face {rule.family!r} at {rule.where} has only local() sources: "
                        "machine fonts, which the render does not have; its text falls back to "
                        "the plan's frozen machine fonts", hint="add a url() source to the rule"),
                        rule.where))
            for where, generic, declaration in facts.promoted:
                self.system_fonts.append((SystemFontUsed(
                    f"{where} names {generic!r} first ({declaration}): a generic family, "
                    f"another font on every machine; as HyperFrames does, hfaction puts "
                    f"{PRIMARY_FAMILY} in front of it, so the bundled {PRIMARY_FAMILY} draws "
                    "this text", hint=_SYSTEM_FONT_HINT), where))
            google: dict[str, tuple[str, str]] = {}
            families_bundled = {bundled_family_for(name) for name in bundled}
            for families, where in facts.families:
                first = families[0]
                kind = _kind(first, declared, bundled)
                if kind == FONT_GOOGLE:
                    google.setdefault(first.lower(), (first, where))
                elif kind == FONT_BUNDLED:
                    families_bundled.add(bundled_family_for(first))
                elif kind == FONT_MACHINE and first.lower() not in FALLBACK_FAMILIES:
                    self.system_fonts.append((SystemFontUsed(
                        f"{where} names {first!r} first in font-family {', '.join(families)}: "
                        "a machine font, left to the render machine's fonts (HyperFrames reads "
                        "only font-family declarations in <style> and style attributes); every "
                        "worker of this render draws it with the plan's frozen machine fonts "
                        "(Liberation, DejaVu)", hint=_SYSTEM_FONT_HINT), where))
                families_bundled.update(bundled_family_for(other) for other in families[1:]
                                        if is_bundled_name(other)
                                        and other.lower() not in declared)
            if facts.promoted:
                families_bundled.add(PRIMARY_FAMILY)
            if walk.offline:
                return
            self._fetch(facts, sorted(name for name in families_bundled if name),
                        google, Path(scratch))

    def _local_face(self, rule: FaceRule, url: str) -> None:
        """As planning checks a face's project file (through the user's links)."""
        relative = unquote(urlsplit(url).path).lstrip("/")
        if _linked_file(self.walk.project_dir, relative) is None:
            self.walk.errors.add(FontFetchFailed(
                f"the font family {rule.family!r} ({rule.where}) loads {relative!r}, which "
                "is not in the project", hint="add the font file or fix the url()"), rule.where)

    def _fetch(self, facts: CssFacts, bundled: list[str], google: dict[str, tuple[str, str]],
               scratch: Path) -> None:
        from hfaction.render.fonts.bundled import bundled_families, bundled_package
        from hfaction.render.fonts.google import fetch_google

        attempt = self.walk.errors.attempt
        pins = bundled_families()
        for family in bundled:
            attempt(family, bundled_package, family, pins[family])
        weights = facts.weights | {400, 700}
        for number, (family, where) in enumerate(google.values()):
            fetcher = RemoteFetcher(scratch / f"google-{number}",
                                    cache_dir=self.walk.options.asset_cache)
            url = attempt(where, fetch_google, family, weights, facts.italic, fetcher)
            if url is None:
                continue
            css = (fetcher.remote_dir / fetcher.fetched[url].path).read_text(
                encoding="utf-8", errors="replace")
            faces = CssFacts()
            read_css(css, url, url, faces)
            if not faces.faces:
                self.walk.errors.add(FontFetchFailed(
                    f"{url} returned no @font-face for the font family {family!r}",
                    hint="check the family name"), where)


def _kind(first: str, declared: dict[str, str], bundled: set[str]) -> str:
    """Where freeze_fonts takes the first family of a font-family list from."""
    if first.lower() in declared:
        return declared[first.lower()]
    if first.lower() in bundled or is_bundled_name(first):
        return FONT_BUNDLED
    if is_machine_family(first):
        return FONT_MACHINE
    return FONT_GOOGLE


def _bundled_detail(name: str) -> str:
    """The bundled family drawn for an aliased name (``Arial``: ``Inter``); "" for itself."""
    family = bundled_family_for(name) or ""
    return "" if family.lower() == " ".join(name.split()).lower() else family


def _fonts_of(facts: CssFacts, declared: dict[str, str], bundled: set[str]) -> list[Font]:
    """The families one file's CSS loads and names, and where each is drawn from."""
    found: dict[tuple[str, str], Font] = {}

    def add(family: str, source: str, detail: str, where: str, file: str = "") -> None:
        font = found.setdefault((family.lower(), source), Font(family, source, detail, where))
        if file and file not in font.files:
            found[(family.lower(), source)] = replace(font, files=(*font.files, file))

    for rule in facts.faces:
        for url in rule.urls:
            if url.startswith(PROJECT_BASE):
                add(rule.family, FONT_PROJECT, "", rule.where,
                    unquote(urlsplit(url).path).lstrip("/"))
            else:
                add(rule.family, FONT_REMOTE, "", rule.where, url)
        if not rule.urls:
            add(rule.family, FONT_MACHINE, "local() only", rule.where)
    for families, where in facts.hyperframes_families:
        for name in families:
            family = bundled_family_for(name)
            if family is not None and name.lower() not in declared:
                add(name, FONT_BUNDLED, _bundled_detail(name), where)
    for families, where in facts.families:
        first = families[0]
        kind = _kind(first, declared, bundled)
        detail = {FONT_BUNDLED: _bundled_detail(first), FONT_MACHINE: "frozen machine fonts",
                  FONT_GOOGLE: "Google Fonts"}.get(kind, "")
        add(first, kind, detail, where)
        for other in families[1:]:
            if is_bundled_name(other) and other.lower() not in declared:
                add(other, FONT_BUNDLED, "", where)
    for where, generic, _declaration in facts.promoted:
        add(PRIMARY_FAMILY, FONT_BUNDLED, f"{PRIMARY_FAMILY}, in front of {generic}", where)
    return sorted(found.values(), key=lambda font: (font.family.lower(), font.source))

