"""Freezing a project's fonts into the plan: the fonts it loads itself, and, as HyperFrames
supplies them, the families it names without loading them: bundled (or aliased to a
bundled family), else from Google Fonts. Machine fonts named first are reported
(``SYSTEM_FONT_USED``).

HyperFrames reads the ``font-family`` declarations of ``<style>`` and ``style=""`` (not
the ``font`` shorthand, not linked stylesheets): each bundled or aliased family named
there gets the bundled faces under the name the author wrote, and a generic first family
gets Inter in front of it. The page does the same (see :mod:`~hfaction.render.fonts.page`).
What HyperFrames leaves to the machine (``font: 700 40px Georgia, serif``) is drawn by the
plan's frozen machine fonts (see :mod:`~hfaction.render.fonts.fontconfig`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hfaction.errors import (
    FontFetchFailed,
    RemoteAssetFetchFailed,
    SystemFontUsed,
    UnsafePath,
)
from hfaction.render.assets import RemoteFetcher
from hfaction.render.fonts.aliases import PRIMARY_FAMILY, bundled_family_for, is_bundled_name
from hfaction.render.fonts.bundled import bundled_faces, bundled_families, bundled_package
from hfaction.render.fonts.css import PROJECT_BASE, CssFacts, FaceRule, read_css
from hfaction.render.fonts.fontconfig import (
    FALLBACK,
    FALLBACK_FAMILIES,
    FROZEN_FONTS,
    describe_fallback,
    freeze_fallback,
)
from hfaction.render.fonts.google import fetch_google
from hfaction.render.fonts.markup import MarkupReader
from hfaction.render.project import frozen_bytes, frozen_sha256

# The page loads frozen files from here (capture.AssetServer serves <plan>/frozen/).
FROZEN_URL = "/__hf_frozen/"

# Generic families and the names that always mean "the machine's own font".
GENERIC_FAMILIES = frozenset({
    "serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-serif",
    "ui-sans-serif", "ui-monospace", "ui-rounded", "math", "emoji", "fangsong",
    "-apple-system", "blinkmacsystemfont",
})
# Proprietary fonts pages often name first; neither bundled nor on Google Fonts, so,
# unless HyperFrames aliases them (see aliases.py), they are drawn with the frozen machine
# fonts (reported like a generic family) instead of failing.
SYSTEM_FAMILIES = frozenset({
    "arial", "helvetica", "helvetica neue", "times", "times new roman", "courier",
    "courier new", "georgia", "verdana", "tahoma", "trebuchet ms", "segoe ui", "sf pro",
    "sf pro display", "sf pro text", "san francisco", "menlo", "monaco", "consolas",
    "impact", "comic sans ms", "arial black", "lucida grande", "apple color emoji",
    "segoe ui emoji", "segoe ui symbol", "noto color emoji",
})
# A face entry that is no face: tells the page to put this family in front of generic
# first families, as HyperFrames does (see page.py).
PROMOTE_KEY = "promote"
_SLUG = re.compile(r"[^a-z0-9]+")
_HINT = ("name a web font first (bundled, Google Fonts or @font-face), or render without "
         "--strict-fonts")


def _slug(family: str) -> str:
    return _SLUG.sub("-", family.lower()).strip("-") or "font"


@dataclass
class FrozenFonts:
    """What planning froze: ``frozen`` entries, the faces the page adds, the warnings."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    faces: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fallback: str = f"{FROZEN_FONTS}/{FALLBACK}"

    @property
    def promoted(self) -> str | None:
        """The family the page puts in front of generic first families, if any."""
        return next((face[PROMOTE_KEY] for face in self.faces if PROMOTE_KEY in face), None)

    def plan_data(self) -> dict[str, Any]:
        return {"fallback": self.fallback, "warnings": self.warnings,
                "faces": sum(1 for face in self.faces if PROMOTE_KEY not in face)}


def _is_generic(family: str) -> bool:
    return family.lower() in GENERIC_FAMILIES or family.lower() in SYSTEM_FAMILIES


def is_machine_family(family: str) -> bool:
    """Drawn by the machine's fonts unless HyperFrames declares it (aliased names)."""
    return _is_generic(family) or (bundled_family_for(family) is not None
                                   and not is_bundled_name(family))


def freeze_fonts(project_dir: Path, html_files: list[str], plan_dir: Path,
                 fetch: RemoteFetcher, *, asset_cache: Path | None = None,
                 strict: bool = False) -> FrozenFonts:
    """Freeze every font the project uses into ``plan_dir/frozen/fonts``.

    ``project_dir`` is the plan's frozen copy of the project; ``html_files`` its HTML
    files, the entry first; ``fetch`` the plan's remote fetcher (stylesheets and their
    font files become remote assets of the plan).
    """
    reader = MarkupReader(project_dir.resolve(), fetch, entry=html_files[0] if html_files else None)
    for relative in html_files:
        reader.html(relative)
    facts = reader.facts
    result = FrozenFonts()
    fonts_dir = plan_dir / FROZEN_FONTS
    freeze_fallback(fonts_dir / FALLBACK)

    def add_entry(name: str, source: str, path: str, actual: Path | None = None) -> None:
        # ``actual``: where the file is now, when the project is not yet in its plan place.
        file = actual or plan_dir / path
        if any(entry["path"] == path for entry in result.entries):
            return
        result.entries.append({"kind": "font", "name": name, "source": source, "path": path,
                               "bytes": frozen_bytes(file), "sha256": frozen_sha256(file)})

    def warn(problem: SystemFontUsed) -> None:
        if strict:
            raise problem
        if problem.one_line() not in result.warnings:
            result.warnings.append(problem.one_line())

    add_entry("fallback: DejaVu Sans, Serif, Sans Mono; Liberation Sans, Serif, Mono",
              describe_fallback(), f"{FROZEN_FONTS}/{FALLBACK}")
    # Fonts the project loads itself: make sure every file exists or is frozen now.
    declared: set[str] = set()
    for rule in facts.faces:
        declared.add(rule.family.lower())
        for url in rule.urls:
            freeze_declared(rule, url, project_dir, fetch, add_entry)
        if not rule.urls:
            warn(SystemFontUsed(
                f"@font-face {rule.family!r} at {rule.where} has only local() sources: "
                "machine fonts, which the render does not have; its text falls back to the "
                "plan's frozen machine fonts", hint="add a url() source to the rule"))
    for where, generic, declaration in facts.promoted:
        warn(SystemFontUsed(
            f"{where} names {generic!r} first ({declaration}): a generic family, another "
            f"font on every machine; as HyperFrames does, hfaction puts {PRIMARY_FAMILY} in "
            f"front of it, so the bundled {PRIMARY_FAMILY} draws this text", hint=_HINT))
    # Bundled families and aliases, under the names written (lowercase -> as written):
    # every one HyperFrames' font-family declarations name, and bundled families named
    # anywhere else.
    bundled: dict[str, str] = {}
    for families, _where in facts.hyperframes_families:
        for name in families:
            if bundled_family_for(name) is not None and name.lower() not in declared:
                bundled.setdefault(name.lower(), name)
    google: dict[str, str] = {}  # lowercase -> as written
    for families, where in facts.families:
        first = families[0]
        if first.lower() in declared or first.lower() in bundled:
            pass  # loaded by the project, or bundled under this name
        elif is_bundled_name(first):
            bundled.setdefault(first.lower(), first)
        elif is_machine_family(first):
            if first.lower() not in FALLBACK_FAMILIES:  # those are frozen: no surprise
                warn(SystemFontUsed(
                    f"{where} names {first!r} first in font-family {', '.join(families)}: "
                    "a machine font, left to the render machine's fonts (HyperFrames reads "
                    "only font-family declarations in <style> and style attributes); every "
                    "worker of this render draws it with the plan's frozen machine fonts "
                    "(Liberation, DejaVu)", hint=_HINT))
        else:
            google.setdefault(first.lower(), first)
        # A bundled family later in the list may still draw glyphs the first lacks.
        for other in families[1:]:
            if is_bundled_name(other) and other.lower() not in declared:
                bundled.setdefault(other.lower(), other)
    if facts.promoted:
        result.faces.append({PROMOTE_KEY: PRIMARY_FAMILY})
    used_slugs: set[str] = set()
    pins = bundled_families()
    by_family: dict[str, list[str]] = {}
    for name in sorted(bundled.values(), key=str.lower):
        family = bundled_family_for(name)
        assert family is not None
        by_family.setdefault(family, []).append(name)
    for family, names in sorted(by_family.items()):
        pin = pins[family]
        slug = _slug(family)
        used_slugs.add(slug)
        folder = fonts_dir / slug
        package = bundled_package(family, pin)
        for rule, file in bundled_faces(family, package, pin):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, folder / file.name)
            for name in names:
                result.faces.append(_face(name, rule, f"{FROZEN_URL}fonts/{slug}/{file.name}"))
        label = family if names == [family] else f"{family} (as {', '.join(names)})"
        add_entry(label, f"npm:{pin['package']}@{pin['version']}", f"{FROZEN_FONTS}/{slug}")
    weights = facts.weights | {400, 700}
    for key, family in sorted(google.items()):
        slug = _slug(family)
        if slug in used_slugs:
            # 'Brand Sans' and 'Brand-Sans' are two families: two folders, two entries.
            slug = f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        used_slugs.add(slug)
        folder = fonts_dir / slug
        fetcher = RemoteFetcher(folder, cache_dir=asset_cache)
        url = fetch_google(family, weights, facts.italic, fetcher)
        css = (folder / fetcher.fetched[url].path).read_text(encoding="utf-8", errors="replace")
        faces = CssFacts()
        read_css(css, url, url, faces)
        if not faces.faces:
            raise FontFetchFailed(f"{url} returned no @font-face for the font family "
                                  f"{family!r}", hint="check the family name")
        for rule in faces.faces:
            src = rule.urls[0] if rule.urls else ""
            try:
                asset = fetcher(src)
            except RemoteAssetFetchFailed as error:
                raise FontFetchFailed(f"could not fetch the font family {family!r} "
                                      f"from {src}: {error.message}") from None
            result.faces.append(_face(family, rule, f"{FROZEN_URL}fonts/{slug}/{asset.path}"))
        add_entry(family, url, f"{FROZEN_FONTS}/{slug}")
    result.entries.sort(key=lambda item: item["path"])
    return result


def _face(family: str, rule: FaceRule, src: str) -> dict[str, str]:
    face = {"family": family, "src": src, "weight": rule.weight, "style": rule.style}
    if rule.unicode_range:
        face["unicodeRange"] = rule.unicode_range
    return face


def freeze_declared(rule: FaceRule, url: str, project_dir: Path, fetch: RemoteFetcher,
                     add_entry: Any) -> None:
    if url.startswith(PROJECT_BASE):
        relative = unquote(urlsplit(url).path).lstrip("/")
        path = project_dir / relative
        inside = path.resolve().is_relative_to(project_dir.resolve())
        if not inside:
            raise UnsafePath(f"@font-face {rule.family!r} at {rule.where} points at "
                             f"{relative!r}, outside the project")
        if not path.is_file():
            raise FontFetchFailed(
                f"the font family {rule.family!r} ({rule.where}) loads {relative!r}, which "
                "is not in the project", hint="add the font file or fix the url()")
        add_entry(rule.family, relative, f"project/{relative}", path)
    elif url.startswith(("http://", "https://")):
        try:
            asset = fetch(url)
        except RemoteAssetFetchFailed as error:
            raise FontFetchFailed(
                f"could not fetch the font family {rule.family!r} ({rule.where}) from {url}: "
                f"{error.message}",
                hint="check the URL and the network, or put the font file into the project",
            ) from None
        add_entry(rule.family, url, f"remote/{asset.path}")
