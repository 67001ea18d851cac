"""Static reading of a HyperFrames composition (../shared/COMPOSITION.md).

Everything here is pure: it reads HTML text and returns data. What only the
browser can know (a timeline's duration) is read later, at planning.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urljoin

from hfaction.errors import (
    ClipReferenceCycle,
    ClipReferenceUnresolved,
    EntryNotFound,
    InvalidSize,
    InvalidVariable,
    MediaAttributeInvalid,
    MediaNotFound,
    NestedCompositionError,
    NoCompositionRoot,
    UnsafePath,
)
from hfaction.render.framemath import parse_duration, parse_fps

DEFAULT_WIDTH = 1080
DEFAULT_HEIGHT = 1920
DEFAULT_FPS = Fraction(30)
MIN_SIDE, MAX_SIDE = 16, 7680

_VOID_TAGS = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"]
)
_MEDIA_TAGS = frozenset({"video", "audio"})
_UNTIMED_TAGS = frozenset({"script", "style", "link", "meta"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_REFERENCE = re.compile(
    r"^(?P<ref>[A-Za-z_][\w.:-]*?)\s*(?:(?P<op>[+-])\s*(?P<offset>\d+(?:\.\d*)?|\.\d+))?$"
)


@dataclass(frozen=True)
class Element:
    """An element of interest, with where it stands."""

    tag: str
    attrs: dict[str, str]
    composition_id: str | None  # the composition it belongs to (its nearest ancestor root)
    source: str  # project-relative file
    line: int

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


@dataclass
class ParsedFile:
    """The elements of one HTML file that hfaction cares about."""

    source: str
    html_attrs: dict[str, str] = field(default_factory=dict)
    roots: list[Element] = field(default_factory=list)  # every element with data-composition-id
    timed: list[Element] = field(default_factory=list)
    hosts: list[Element] = field(default_factory=list)
    media: list[Element] = field(default_factory=list)  # every <audio> and <video>


class _Collector(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.result = ParsedFile(source=source)
        self._stack: list[tuple[str, str | None]] = []  # (tag, composition id in force inside it)

    def _current_composition(self) -> str | None:
        return self._stack[-1][1] if self._stack else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: (value if value is not None else "") for name, value in attrs}
        outer = self._current_composition()
        own_id = attributes.get("data-composition-id")
        line = self.getpos()[0]
        if tag == "html":
            self.result.html_attrs = attributes
        element = Element(tag, attributes, outer, self.result.source, line)
        if own_id is not None:
            self.result.roots.append(element)
        if "data-composition-src" in attributes:
            self.result.hosts.append(element)
        if tag in _MEDIA_TAGS:
            self.result.media.append(element)
        elif (tag == "source" and self._stack and self._stack[-1][0] in _MEDIA_TAGS
              and self.result.media and "src" not in self.result.media[-1].attrs):
            # <video><source src="..."></video>: the first source is the one played.
            self.result.media[-1].attrs["src"] = attributes.get("src", "")
        # As in HyperFrames, every element with data-start is timed, not only .clip; a
        # root is timed only when it is also a host.
        is_host = "data-composition-src" in attributes
        if "data-start" in attributes and tag not in _UNTIMED_TAGS and (own_id is None
                                                                         or is_host):
            self.result.timed.append(element)
        if tag not in _VOID_TAGS:
            inner = own_id if own_id is not None else outer
            self._stack.append((tag, inner))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS and self._stack and self._stack[-1][0] == tag:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                del self._stack[depth:]
                return


def parse_html(text: str, source: str) -> ParsedFile:
    collector = _Collector(source)
    collector.feed(text)
    collector.close()
    return collector.result


# --- timing -----------------------------------------------------------------------


def resolve_starts(clips: list[Element]) -> dict[str, Fraction]:
    """Resolve every ``data-start`` of one composition to seconds.

    Returns a map from the expression's text (stripped) to its value; numeric starts
    map to themselves. A reference names another clip's ``id`` and means its end.
    """
    by_id: dict[str, Element] = {}
    for clip in clips:
        clip_id = clip.attrs.get("id")
        if clip_id:
            by_id.setdefault(clip_id, clip)
    resolved: dict[str, Fraction] = {}
    visiting: list[str] = []

    def value_of(expression: str, where: Element) -> Fraction:
        expression = expression.strip()
        if expression in resolved:
            return resolved[expression]
        if _NUMBER.match(expression):
            value = Fraction(expression)
        else:
            ref, sign, offset = _split_reference(expression, by_id, where)
            target = by_id[ref]
            if ref in visiting:
                cycle = " -> ".join([*visiting[visiting.index(ref) :], ref])
                raise ClipReferenceCycle(
                    f"data-start references form a cycle ({cycle}) at {where.where}",
                    hint="make one clip in the cycle start at a number of seconds",
                )
            duration_text = target.attrs.get("data-duration", "").strip()
            if not duration_text or not _NUMBER.match(duration_text):
                raise ClipReferenceUnresolved(
                    f"data-start {expression!r} at {where.where} refers to clip {ref!r}, "
                    f"which has no numeric data-duration ({target.where})",
                    hint="give the referenced clip a data-duration in seconds",
                )
            visiting.append(ref)
            try:
                start = value_of(target.attrs["data-start"], target)
            finally:
                visiting.pop()
            value = max(Fraction(0), start + Fraction(duration_text) + sign * offset)
        resolved[expression] = value
        return value

    for clip in clips:
        value_of(clip.attrs["data-start"], clip)
    return resolved


def _split_reference(
    expression: str, by_id: dict[str, Element], where: Element
) -> tuple[str, int, Fraction]:
    if expression in by_id:
        return expression, 1, Fraction(0)
    match = _REFERENCE.match(expression)
    if match and match.group("ref") in by_id:
        sign = -1 if match.group("op") == "-" else 1
        offset = Fraction(match.group("offset")) if match.group("offset") else Fraction(0)
        return match.group("ref"), sign, offset
    if match:
        known = ", ".join(sorted(by_id)) or "none"
        raise ClipReferenceUnresolved(
            f"data-start {expression!r} at {where.where} refers to {match.group('ref')!r}, "
            f"which is not the id of a clip in this composition (clip ids: {known})",
            hint="reference an existing clip id, e.g. data-start=\"intro + 0.5\"",
        )
    raise ClipReferenceUnresolved(
        f"data-start {expression!r} at {where.where} is neither seconds nor a clip reference",
        hint='use seconds ("1.5") or a clip id with an offset ("intro + 0.5")',
    )


# --- the whole project --------------------------------------------------------------


@dataclass(frozen=True)
class Root:
    composition_id: str
    width: int
    height: int
    duration: Fraction | None  # None: read the timeline's duration in the browser
    fps: Fraction
    no_timeline: bool
    where: str
    size_declared: bool = True


@dataclass(frozen=True)
class NestedComposition:
    composition_id: str
    src: str  # project-relative path of the file
    parent_id: str | None
    start: Fraction  # absolute composition time of the host's start
    duration: Fraction | None
    playback_start: Fraction
    no_timeline: bool
    where: str


@dataclass
class ProjectComposition:
    entry: str
    root: Root
    nested: list[NestedComposition]
    # composition id -> {data-start expression -> seconds within that composition}
    starts: dict[str, dict[str, Fraction]]
    variables: list[dict[str, object]]
    timed_media_ends: list[Fraction]
    files: list[str]  # every HTML file read, project-relative
    media: list[MediaElement] = field(default_factory=list)  # <audio>/<video>, root timeline

    @property
    def composition_ids(self) -> list[str]:
        return [self.root.composition_id, *(n.composition_id for n in self.nested)]


def safe_relative(project_dir: Path, relative: str, *, where: str,
                  follow_links: bool = False) -> PurePosixPath:
    """A project-relative path that cannot escape the project (no ``..``, no absolute).

    With ``follow_links`` the user's own symbolic links inside the project may lead
    anywhere (the project as the user has it on disk, which planning freezes into
    regular files); without it the path must stay inside the folder once resolved too
    (a frozen plan, which holds no links).
    """
    cleaned = relative.split("?", 1)[0].split("#", 1)[0].strip()
    posix = PurePosixPath(cleaned)
    parts = [part for part in posix.parts if part not in ("", ".")]
    if posix.is_absolute() or any(part == ".." for part in parts) or not parts:
        raise UnsafePath(
            f"{where} points at {relative!r}, outside the project",
            hint="use a path relative to the project folder, without '..'",
        )
    if follow_links:
        return PurePosixPath(*parts)
    resolved = (project_dir / PurePosixPath(*parts)).resolve()
    if not resolved.is_relative_to(project_dir.resolve()):
        raise UnsafePath(f"{where} points at {relative!r}, which leads outside the project")
    return PurePosixPath(*parts)


# --- relative URLs in nested compositions ---------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_URL_BASE = "http://project.invalid/"  # only for resolving relative URLs


def url_path(url: str) -> str:
    """The project path of a URL relative to the project root: its path, decoded."""
    return unquote(url.split("#", 1)[0].split("?", 1)[0])


def resolve_reference(reference: str, document: str, entry: str,
                      exists: Callable[[str], bool]) -> str | None:
    """Where a relative URL written in the project's HTML file ``document`` leads in the page.

    Returns a URL relative to the project root (as written: percent-escapes, query and
    fragment kept), or None when ``reference`` is no relative path (``https:``, ``data:``,
    ``blob:``, ``//host``, ``/root-path``, ``#fragment``, empty), which the page leaves alone.

    The entry document's URLs resolve against it. A nested composition's markup is mounted
    into the entry document, so, as HyperFrames rewrites it when it inlines one: ``../x``
    resolves against the composition file; any other relative ``x`` is the file beside the
    composition when ``exists`` (given a project path) says there is one, else the entry
    document's ``x`` (authors write ``assets/logo.png`` meaning the project's). The page
    runtime (runtime.js, ``nestedUrl``) applies the same rule when it mounts a composition.
    """
    written = reference.strip()
    if not written or written.startswith(("#", "?", "/", "\\")) or _SCHEME.match(written):
        return None

    def against(file: str) -> str:
        return urljoin(_URL_BASE + quote(file), written)[len(_URL_BASE):]

    if document != entry:
        beside = against(document)
        if written == ".." or written.startswith("../") or exists(url_path(beside)):
            return beside
    return against(entry)


def files_beside_nested(composition: ProjectComposition, paths: Iterable[str]) -> list[str]:
    """The project files the page runtime must know of to apply ``resolve_reference``: those
    in a nested composition's folder (or below it) when that is not the entry's folder."""
    entry_folder = posixpath.dirname(composition.entry)
    folders = {posixpath.dirname(nested.src) for nested in composition.nested} - {entry_folder}
    return sorted(path for path in paths
                  if any(not folder or path.startswith(folder + "/") for folder in folders))


def _int_attribute(element: Element, name: str, default: int) -> int:
    text = element.attrs.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidSize(
            f"{name}={text!r} at {element.where} is not a whole number of pixels",
            hint=f"use an integer from {MIN_SIDE} to {MAX_SIDE}",
        ) from None
    check_side(name, value, element.where)
    return value


def check_side(name: str, value: int, where: str) -> None:
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise InvalidSize(
            f"{name}={value} at {where} is outside {MIN_SIDE}..{MAX_SIDE} pixels",
            hint=f"use an integer from {MIN_SIDE} to {MAX_SIDE}",
        )


def _read_html(project_dir: Path, relative: PurePosixPath, *, what: str) -> str:
    path = project_dir / relative
    if not path.is_file():
        if what == "entry":
            raise EntryNotFound(
                f"no {relative} in {project_dir}",
                hint="pass the folder that holds the composition's index.html, or --entry FILE",
            )
        raise NestedCompositionError(f"{what} {str(relative)!r} does not exist in the project")
    return path.read_text(encoding="utf-8", errors="replace")


def load_project(project_dir: Path, entry: str = "index.html") -> ProjectComposition:
    """Read the entry file and every nested composition file; resolve all timing."""
    # The project as the user has it: their symbolic links are followed (planning
    # freezes what they lead to).
    entry_path = safe_relative(project_dir, entry, where="--entry", follow_links=True)
    parsed = parse_html(_read_html(project_dir, entry_path, what="entry"), str(entry_path))
    root_element = parsed.roots[0] if parsed.roots else None
    if root_element is None:
        raise NoCompositionRoot(
            f"{entry_path} has no element with data-composition-id",
            hint='mark the root, e.g. <div data-composition-id="main" data-width="1920" '
            'data-height="1080" data-duration="5">',
        )
    root = _root_of(root_element)
    starts: dict[str, dict[str, Fraction]] = {}
    nested: list[NestedComposition] = []
    media_ends: list[Fraction] = []
    media: list[MediaElement] = []
    files = [str(entry_path)]
    _collect(project_dir, parsed, root.composition_id, Fraction(0), starts, nested,
             media_ends, files, chain=[str(entry_path)], entry=str(entry_path), media=media)
    variables = _declared_variables(parsed)
    return ProjectComposition(
        entry=str(entry_path),
        root=root,
        nested=nested,
        starts=starts,
        variables=variables,
        timed_media_ends=media_ends,
        media=media,
        files=files,
    )


def _root_of(element: Element) -> Root:
    attrs = element.attrs
    composition_id = attrs["data-composition-id"].strip()
    if not composition_id:
        raise NoCompositionRoot(f"the root at {element.where} has an empty data-composition-id")
    duration_text = attrs.get("data-duration", "").strip()
    duration = (
        parse_duration(duration_text, where=f"data-duration at {element.where}")
        if duration_text
        else None
    )
    fps_text = attrs.get("data-fps", "").strip()
    fps = parse_fps(fps_text, where=f"data-fps at {element.where}") if fps_text else DEFAULT_FPS
    return Root(
        composition_id=composition_id,
        width=_int_attribute(element, "data-width", DEFAULT_WIDTH),
        height=_int_attribute(element, "data-height", DEFAULT_HEIGHT),
        duration=duration if duration else None,
        fps=fps,
        no_timeline="data-no-timeline" in attrs,
        where=element.where,
        size_declared=bool(attrs.get("data-width", "").strip()
                           or attrs.get("data-height", "").strip()),
    )


def _collect(
    project_dir: Path,
    parsed: ParsedFile,
    default_composition: str,
    offset: Fraction,
    starts: dict[str, dict[str, Fraction]],
    nested: list[NestedComposition],
    media_ends: list[Fraction],
    files: list[str],
    *,
    chain: list[str],
    entry: str,
    media: list[MediaElement] | None = None,
    limit: Fraction | None = None,
) -> None:
    by_composition: dict[str, list[Element]] = {}
    for element in parsed.timed:
        # A host's own data-start belongs to the composition around it.
        owner = element.composition_id or default_composition
        by_composition.setdefault(owner, []).append(element)
    local_offsets: dict[str, Fraction] = {}
    for composition_id, clips in by_composition.items():
        resolved = resolve_starts(clips)
        starts.setdefault(composition_id, {}).update(resolved)
        for clip in clips:
            if clip.tag in _MEDIA_TAGS and clip.attrs.get("data-duration", "").strip():
                start = resolved[clip.attrs["data-start"].strip()]
                end = start + parse_duration(clip.attrs["data-duration"], where=clip.where)
                media_ends.append(offset + local_offsets.get(composition_id, Fraction(0)) + end)
    if media is not None:
        _collect_media(parsed, default_composition, offset, starts, media, entry=entry,
                       limit=limit, exists=lambda path: _is_project_file(project_dir, path))
    for host in parsed.hosts:
        parent = host.composition_id or default_composition
        # The page resolves data-composition-src against the entry document's URL.
        original = host.attrs["data-composition-src"].strip()
        src = safe_relative(
            project_dir, posixpath.normpath(posixpath.join(posixpath.dirname(entry), original)),
            where=f"data-composition-src={original!r} at {host.where}", follow_links=True,
        )
        if str(src) in chain:
            raise NestedCompositionError(
                f"{host.where} embeds {src}, which embeds itself "
                f"({' -> '.join([*chain, str(src)])})"
            )
        start_text = host.attrs.get("data-start", "0").strip() or "0"
        local_start = starts.get(parent, {}).get(start_text)
        if local_start is None:
            local_start = resolve_starts([host])[start_text]
        duration_text = host.attrs.get("data-duration", "").strip()
        playback_text = host.attrs.get("data-playback-start", "").strip()
        text = _read_html(project_dir, src, what=f"nested composition (from {host.where})")
        inner = parse_html(text, str(src))
        files.append(str(src))
        inner_id = host.attrs.get("data-composition-id", "").strip()
        inner_root = inner.roots[0] if inner.roots else None
        if not inner_id and inner_root is not None:
            inner_id = inner_root.attrs["data-composition-id"].strip()
        if not inner_id:
            raise NestedCompositionError(
                f"nested composition {src} (from {host.where}) has no data-composition-id"
            )
        absolute_start = offset + local_start
        nested.append(
            NestedComposition(
                composition_id=inner_id,
                src=str(src),
                parent_id=parent,
                start=absolute_start,
                duration=parse_duration(duration_text, where=host.where) if duration_text else None,
                playback_start=(
                    parse_duration(playback_text, where=host.where)
                    if playback_text else Fraction(0)
                ),
                no_timeline="data-no-timeline" in host.attrs
                or (inner_root is not None and "data-no-timeline" in inner_root.attrs),
                where=host.where,
            )
        )
        playback = nested[-1].playback_start
        _collect(project_dir, inner, inner_id, absolute_start - playback, starts, nested,
                 media_ends, files, chain=[*chain, str(src)], entry=entry, media=media,
                 limit=_earliest(limit, None if nested[-1].duration is None
                                 else absolute_start + nested[-1].duration))


# --- media (<audio>, <video>) -------------------------------------------------------


@dataclass(frozen=True)
class MediaElement:
    """An ``<audio>`` or ``<video>``, timed on the root timeline (seconds, exact)."""

    tag: str  # "audio" or "video"
    element_id: str | None
    composition_id: str  # the composition whose markup holds it (the page's view)
    ordinal: int  # its index among the <video>s (or <audio>s) of that composition
    src: str  # a URL relative to the project root (see resolve_reference) or an http(s) URL
    start: Fraction  # absolute start on the root timeline
    duration: Fraction | None  # data-duration; None: until the source ends
    media_start: Fraction
    volume: Fraction
    rate: Fraction
    has_audio: bool  # <audio>, or <video data-has-audio="true">
    limit: Fraction | None  # absolute time an enclosing host's duration cuts it off
    where: str
    loop: bool = False  # the loop attribute: the source repeats from its start

    @property
    def label(self) -> str:
        """How errors name it: ``<video id="intro">`` at file:line."""
        ident = f' id="{self.element_id}"' if self.element_id else ""
        return f"<{self.tag}{ident} src=\"{self.src}\"> at {self.where}"

    @property
    def end(self) -> Fraction | None:
        """Absolute end of its window, or None when only the source's length bounds it."""
        own = None if self.duration is None else self.start + self.duration
        return _earliest(own, self.limit)


def _earliest(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


_MIN_RATE, _MAX_RATE = Fraction(1, 16), Fraction(16)


def _media_number(element: Element, name: str, default: Fraction, low: Fraction,
                  high: Fraction) -> Fraction:
    text = element.attrs.get(name, "").strip()
    if not text:
        return default
    if not _NUMBER.match(text) or not low <= Fraction(text) <= high:
        raise MediaAttributeInvalid(
            f"{name}={text!r} on <{element.tag}> at {element.where} is not a number from "
            f"{float(low):g} to {float(high):g}",
            hint=f'write e.g. {name}="{float(default):g}"',
        )
    return Fraction(text)


def _is_project_file(project_dir: Path, path: str) -> bool:
    return bool(path.strip("/")) and (project_dir / path).is_file()


def _collect_media(parsed: ParsedFile, default_composition: str, offset: Fraction,
                   starts: dict[str, dict[str, Fraction]], media: list[MediaElement], *,
                   entry: str, limit: Fraction | None,
                   exists: Callable[[str], bool]) -> None:
    # The page sees a nested file's inner root under its host's composition id.
    first_root = parsed.roots[0].attrs["data-composition-id"].strip() if parsed.roots else None
    ordinals: dict[tuple[str, str], int] = {}
    for element in parsed.media:
        owner = (default_composition if element.composition_id in (None, first_root)
                 else str(element.composition_id))
        ordinal = ordinals.get((owner, element.tag), 0)
        ordinals[(owner, element.tag)] = ordinal + 1
        src = element.attrs.get("src", "").strip()
        if not src:
            raise MediaNotFound(f"<{element.tag}> at {element.where} has no src",
                                hint="give it a src (a project file or an https:// URL)")
        # A relative source: the project file the page shows (see resolve_reference).
        resolved = resolve_reference(src, parsed.source, entry, exists)
        if resolved is not None:
            src = resolved
        start_text = element.attrs.get("data-start", "0").strip() or "0"
        table = starts.get(element.composition_id or default_composition, {})
        local_start = table.get(start_text)
        if local_start is None:
            local_start = resolve_starts([element])[start_text] if "data-start" in \
                element.attrs else Fraction(0)
        duration_text = element.attrs.get("data-duration", "").strip()
        duration = (parse_duration(duration_text, where=f"data-duration at {element.where}")
                    if duration_text else None)
        media.append(MediaElement(
            tag=element.tag,
            element_id=element.attrs.get("id") or None,
            composition_id=owner,
            ordinal=ordinal,
            src=src,
            start=offset + local_start,
            duration=duration,  # "0" is a zero-length clip, not "until the source ends"
            media_start=_media_number(element, "data-media-start", Fraction(0), Fraction(0),
                                      Fraction(10**7)),
            volume=_media_number(element, "data-volume", Fraction(1), Fraction(0), Fraction(1)),
            rate=_media_number(element, "data-playback-rate", Fraction(1), _MIN_RATE,
                               _MAX_RATE),
            has_audio=element.tag == "audio"
            or element.attrs.get("data-has-audio", "").strip().lower() == "true",
            limit=limit,
            where=element.where,
            loop="loop" in element.attrs,
        ))


def _declared_variables(parsed: ParsedFile) -> list[dict[str, object]]:
    text = parsed.html_attrs.get("data-composition-variables")
    if not text:
        return []
    try:
        declared = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidVariable(
            f"data-composition-variables on <html> in {parsed.source} is not JSON ({error.msg})"
        ) from None
    if not isinstance(declared, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in declared
    ):
        raise InvalidVariable(
            f"data-composition-variables in {parsed.source} must be a JSON list of "
            '{"id", "type", "label", "default"} objects'
        )
    return declared


def resolve_variables(
    declared: list[dict[str, object]], given: dict[str, str]
) -> dict[str, object]:
    """Merge declared defaults with the values given for this render, type-checked."""
    known = {str(item["id"]): item for item in declared}
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise InvalidVariable(
            f"variable {unknown[0]!r} is not declared by the composition (declared: {names})",
            hint="declare it in data-composition-variables on <html>, or fix the name",
        )
    values: dict[str, object] = {}
    for variable_id, item in known.items():
        if variable_id in given:
            values[variable_id] = _coerce_variable(variable_id, str(item.get("type", "string")),
                                                   given[variable_id])
        elif "default" in item:
            values[variable_id] = item["default"]
    return values


def _coerce_variable(variable_id: str, kind: str, text: str) -> object:
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise InvalidVariable(f"variable {variable_id!r} is a number; got {text!r}") from None
        if not math.isfinite(number):
            raise InvalidVariable(f"variable {variable_id!r} must be a finite number; got {text!r}")
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in {"true", "false", "1", "0", "yes", "no"}:
            raise InvalidVariable(f"variable {variable_id!r} is a boolean; got {text!r}")
        return lowered in {"true", "1", "yes"}
    return text
