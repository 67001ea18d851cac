"""Fonts, frozen into the plan so that every worker draws the same glyphs.

At planning, the project's CSS (stylesheets, ``<style>``, ``style=""``) is read
for the fonts it loads (``@font-face``: local files or URLs, Google Fonts
stylesheets) and the families it names. A family named first in a
``font-family`` list and not loaded by the project comes, as in HyperFrames,
from the bundled set (``@fontsource/*`` npm packages, pinned with their
integrity in ``fonts_bundled.json``) or else from Google Fonts; either way its
files are copied into ``<plan>/frozen/fonts/`` and the page gets them as
``FontFace`` objects served from the plan. A font that cannot be fetched fails
the plan (``FONT_FETCH_FAILED``).

What no web font covers (a generic family such as ``sans-serif`` named first, a
character missing from every web font) is drawn by the browser's system font
lookup, i.e. fontconfig. Chromium therefore runs with a generated fontconfig
file whose only fonts are the plan's frozen fallback (DejaVu Sans, Serif and
Sans Mono), every generic family aliased to them: workers with different
system fonts draw identically, and a generic first choice is reported
(``SYSTEM_FONT_USED``, an error with ``strict``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from hfaction.errors import FontFetchFailed, RemoteAssetFetchFailed, SystemFontUsed, UnsafePath

if TYPE_CHECKING:
    from hfaction.assets import RemoteFetcher

GOOGLE_FONTS_ENV = "HFACTION_GOOGLE_FONTS_URL"
GOOGLE_FONTS_URL = "https://fonts.googleapis.com"
NPM_REGISTRY_ENV = "HFACTION_NPM_REGISTRY"
NPM_REGISTRY_URL = "https://registry.npmjs.org"
FONT_CACHE_ENV = "HFACTION_FONT_CACHE"
FALLBACK_DIR_ENV = "HFACTION_FALLBACK_FONTS_DIR"
FROZEN_FONTS = "frozen/fonts"  # relative to the plan folder
FALLBACK = "fallback"
# The page loads frozen files from here (capture.AssetServer serves <plan>/frozen/).
FROZEN_URL = "/__hf_frozen/"
MAX_FONT_PACKAGE_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT_S = 60

# The frozen fallback: DejaVu (fonts-dejavu-core, on every Debian machine and in the
# Lambda image) covers Latin, Greek and Cyrillic; each generic family maps to one file set.
FALLBACK_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
                  "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
FALLBACK_SEARCH = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
                   "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu-sans-fonts")
FALLBACK_ALIASES = {
    "sans-serif": "DejaVu Sans", "serif": "DejaVu Serif", "monospace": "DejaVu Sans Mono",
    "system-ui": "DejaVu Sans", "cursive": "DejaVu Sans", "fantasy": "DejaVu Sans",
    "emoji": "DejaVu Sans", "math": "DejaVu Sans", "fangsong": "DejaVu Serif",
}
FALLBACK_FAMILIES = frozenset({"dejavu sans", "dejavu serif", "dejavu sans mono"})

# Generic families and the names that always mean "the machine's own font".
GENERIC_FAMILIES = frozenset({
    "serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-serif",
    "ui-sans-serif", "ui-monospace", "ui-rounded", "math", "emoji", "fangsong",
    "-apple-system", "blinkmacsystemfont",
})
# Proprietary fonts pages often name first; neither bundled nor on Google Fonts, so they
# are drawn with the frozen fallback (reported like a generic family) instead of failing.
SYSTEM_FAMILIES = frozenset({
    "arial", "helvetica", "helvetica neue", "times", "times new roman", "courier",
    "courier new", "georgia", "verdana", "tahoma", "trebuchet ms", "segoe ui", "sf pro",
    "sf pro display", "sf pro text", "san francisco", "menlo", "monaco", "consolas",
    "impact", "comic sans ms", "arial black", "lucida grande", "apple color emoji",
    "segoe ui emoji", "segoe ui symbol", "noto color emoji",
})
_CSS_WIDE = frozenset({"inherit", "initial", "unset", "revert", "revert-layer", "default"})
_SYSTEM_FONT_KEYWORDS = frozenset({"caption", "icon", "menu", "message-box", "small-caption",
                                   "status-bar"})
_ITALIC_TAGS = frozenset({"i", "em", "cite", "var", "dfn", "address"})

_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_FONT_FACE = re.compile(r"@font-face\s*\{([^}]*)\}", re.IGNORECASE)
_IMPORT = re.compile(r"""@import\s+(?:url\(\s*(['"]?)([^'")]+)\1\s*\)|(['"])([^'"]+)\3)""",
                     re.IGNORECASE)
_DECLARATION = re.compile(r"(?:^|[;{\s])(--[\w-]+|font-family|font-weight|font-style|font)"
                          r"\s*:\s*([^;{}]+)", re.IGNORECASE)
_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*))?\)")
_SIZE = re.compile(r"^(?:[\d.]+(?:px|pt|pc|em|rem|ex|ch|%|vw|vh|vmin|vmax|cm|mm|in|q)|"
                   r"xx-small|x-small|small|medium|large|x-large|xx-large|xxx-large|"
                   r"smaller|larger)(?:/\S+)?$", re.IGNORECASE)
_SLUG = re.compile(r"[^a-z0-9]+")
_PROJECT_BASE = "http://project.invalid/"  # only for resolving relative URLs


# --- reading CSS ---------------------------------------------------------------------


@dataclass(frozen=True)
class FaceRule:
    """One ``@font-face`` rule: its family and absolute source URLs."""

    family: str
    urls: tuple[str, ...]
    weight: str
    style: str
    unicode_range: str | None
    where: str


@dataclass
class CssFacts:
    """What a set of stylesheets says about fonts."""

    faces: list[FaceRule] = field(default_factory=list)
    families: list[tuple[list[str], str]] = field(default_factory=list)  # (list, where)
    weights: set[int] = field(default_factory=set)
    italic: bool = False
    variables: dict[str, str] = field(default_factory=dict)


def split_families(value: str) -> list[str]:
    """``"Inter", Helvetica Neue, sans-serif`` -> ``["Inter", "Helvetica Neue", "sans-serif"]``."""
    names: list[str] = []
    for part in re.findall(r"""("[^"]*"|'[^']*'|[^,]+)""", value):
        part = part.strip().strip(",").strip()
        if part.startswith(("'", '"')):
            name = part[1:-1].strip()
        else:
            name = " ".join(part.replace("!important", "").split())
        if name:
            names.append(name)
    return names


def shorthand_families(value: str) -> list[str]:
    """The family list of a ``font`` shorthand (what follows the size)."""
    tokens = value.replace("!important", "").split()
    if len(tokens) == 1 and tokens[0].lower() in _SYSTEM_FONT_KEYWORDS | _CSS_WIDE:
        return ["system-ui"] if tokens[0].lower() in _SYSTEM_FONT_KEYWORDS else []
    for index, token in enumerate(tokens):
        if _SIZE.match(token):
            rest = tokens[index + 1:]
            if rest and rest[0] == "/":  # "16px / 1.2 Inter"
                rest = rest[2:]
            return split_families(" ".join(rest))
    return []


def _weights_of(value: str) -> set[int]:
    found: set[int] = set()
    for token in value.lower().replace(",", " ").split():
        if token == "bold":
            found.add(700)
        elif token == "normal":
            found.add(400)
        elif token.isdigit() and 1 <= int(token) <= 1000:
            found.add(int(token))
    return found


def _substitute(value: str, variables: dict[str, str], depth: int = 0) -> str:
    if depth > 8 or "var(" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        return variables.get(match.group(1), match.group(2) or "")

    return _substitute(_VAR.sub(replace, value), variables, depth + 1)


def _descriptor(block: str, name: str) -> str | None:
    match = re.search(rf"(?:^|;)\s*{name}\s*:\s*([^;]+)", block, re.IGNORECASE)
    return match.group(1).strip() if match else None


def read_css(text: str, base_url: str, where: str, facts: CssFacts,
             first_line: int | None = None) -> list[str]:
    """Add ``text``'s fonts to ``facts``; return the absolute URLs it ``@import``s.

    With ``first_line`` (where ``text`` starts in the file ``where``), findings name their
    own line.
    """
    # Comments and @font-face blocks are blanked keeping their newlines, so offsets and
    # line numbers stay those of the file.
    css = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)

    def at(offset: int) -> str:
        if first_line is None:
            return where
        return f"{where}:{first_line + css.count(chr(10), 0, offset)}"

    for match in _FONT_FACE.finditer(css):
        block = match.group(1)
        names = split_families(_descriptor(block, "font-family") or "")
        source = _descriptor(block, "src") or ""
        urls = tuple(urljoin(base_url, url.group(2).strip()) for url in _URL.finditer(source)
                     if not url.group(2).strip().startswith("data:"))
        if names:
            facts.faces.append(FaceRule(names[0], urls, _descriptor(block, "font-weight") or "400",
                                        _descriptor(block, "font-style") or "normal",
                                        _descriptor(block, "unicode-range"),
                                        at(match.start())))
    rules = _FONT_FACE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), css)
    for match in _DECLARATION.finditer(rules):
        name, value = match.group(1).lower(), match.group(2).strip()
        if name.startswith("--"):
            facts.variables.setdefault(match.group(1), value)
    for match in _DECLARATION.finditer(rules):
        name, value = match.group(1).lower(), _substitute(match.group(2).strip(), facts.variables)
        if name == "font-family":
            families = split_families(value)
        elif name == "font":
            families = shorthand_families(value)
            facts.weights |= _weights_of(value)
            facts.italic |= bool(re.search(r"\b(italic|oblique)\b", value, re.IGNORECASE))
        elif name == "font-weight":
            facts.weights |= _weights_of(value)
            continue
        elif name == "font-style":
            facts.italic |= bool(re.search(r"\b(italic|oblique)\b", value, re.IGNORECASE))
            continue
        else:
            continue
        if families and families[0].lower() not in _CSS_WIDE:
            facts.families.append((families, at(match.start(2))))
    imports = []
    for match in _IMPORT.finditer(css):
        imports.append(urljoin(base_url, (match.group(2) or match.group(4)).strip()))
    return imports


class _HtmlStyles(HTMLParser):
    """The CSS of one HTML file: ``<style>`` text, ``style`` attributes, stylesheet links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int]] = []
        self.links: list[tuple[str, int]] = []
        self.italic_tags = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        line = self.getpos()[0]
        if tag == "style":
            self._in_style = True
        if tag in _ITALIC_TAGS:
            self.italic_tags = True
        rel = attributes.get("rel", "").lower().split()
        if tag == "link" and "stylesheet" in rel and attributes.get("href", "").strip():
            self.links.append((attributes["href"].strip(), line))
        if attributes.get("style"):
            self.blocks.append((f"x{{{attributes['style']}}}", line))
        if attributes.get("font-family"):  # SVG presentation attribute
            self.blocks.append((f"x{{font-family:{attributes['font-family']}}}", line))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.blocks.append((data, self.getpos()[0]))


def _is_font_stylesheet(url: str) -> bool:
    """A Google-Fonts-style CSS API URL (``.../css2?family=...``)."""
    parts = urlsplit(url)
    return PurePosixPath(parts.path).name in {"css", "css2"} and "family" in parse_qs(parts.query)


def _query_families(url: str) -> str:
    families = [value.split(":", 1)[0] for value in parse_qs(urlsplit(url).query).get("family", [])]
    return ", ".join(families) or "?"


@dataclass
class _Reader:
    """Reads every stylesheet a project's HTML files use, local or remote, once."""

    project_dir: Path
    fetch: RemoteFetcher
    facts: CssFacts = field(default_factory=CssFacts)
    seen: set[str] = field(default_factory=set)

    def html(self, relative: str) -> None:
        path = self.project_dir / relative
        parser = _HtmlStyles()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        base = _PROJECT_BASE + quote(relative)
        self.facts.italic |= parser.italic_tags
        for text, line in parser.blocks:
            for url in read_css(text, base, relative, self.facts, first_line=line):
                self.stylesheet(url, f"{relative}:{line}")
        for href, line in parser.links:
            self.stylesheet(urljoin(base, href), f"{relative}:{line}")

    def stylesheet(self, url: str, where: str, depth: int = 0) -> None:
        url = url.split("#", 1)[0]
        if url in self.seen or depth > 16:
            return
        self.seen.add(url)
        if url.startswith(_PROJECT_BASE):
            relative = unquote(urlsplit(url).path).lstrip("/")
            path = self.project_dir / relative
            if not path.is_file() or not path.resolve().is_relative_to(self.project_dir):
                return  # a missing stylesheet is reported by the page load, with its path
            text = path.read_text(encoding="utf-8", errors="replace")
            label = relative
        elif url.startswith(("http://", "https://")):
            try:
                asset = self.fetch(url)
            except RemoteAssetFetchFailed as error:
                if _is_font_stylesheet(url):
                    raise FontFetchFailed(
                        f"could not fetch the font family {_query_families(url)} from {url} "
                        f"(linked at {where}): {error.message}",
                        hint="check the family name and the network, or put the font files "
                        "into the project and load them with @font-face",
                    ) from None
                raise
            text = (self.fetch.remote_dir / asset.path).read_text(encoding="utf-8",
                                                                   errors="replace")
            label = url
        else:
            return
        for imported in read_css(text, url, label, self.facts, first_line=1):
            self.stylesheet(imported, label, depth + 1)


# --- choosing faces ------------------------------------------------------------------


def match_weight(desired: int, available: list[int]) -> int:
    """The face CSS font matching picks for ``desired`` among ``available`` weights."""
    if desired in available:
        return desired
    below = sorted(w for w in available if w < desired)
    above = sorted(w for w in available if w > desired)
    if 400 <= desired <= 500:
        up_to_500 = [w for w in above if w <= 500]
        if up_to_500:
            return up_to_500[0]
        return below[-1] if below else above[0]
    if desired < 400:
        return below[-1] if below else above[0]
    return above[0] if above else below[-1]


def _slug(family: str) -> str:
    return _SLUG.sub("-", family.lower()).strip("-") or "font"


def bundled_families() -> dict[str, dict[str, str]]:
    text = (resources.files("hfaction") / "fonts_bundled.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = json.loads(text)
    return data


def font_cache_dir() -> Path:
    explicit = os.environ.get(FONT_CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hfaction" / "fonts"


def _download(url: str, what: str, max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "hfaction"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        raise FontFetchFailed(f"could not fetch {what} from {url}: HTTP {error.code}",
                              hint="check the network or the font cache "
                              f"({FONT_CACHE_ENV})") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FontFetchFailed(f"could not fetch {what} from {url}: {reason}",
                              hint="check the network, or fill the font cache "
                              f"({FONT_CACHE_ENV}) on a connected machine") from None
    if len(body) > max_bytes:
        raise FontFetchFailed(f"{what} at {url} is larger than {max_bytes // 2**20} MiB")
    return body


def check_integrity(body: bytes, integrity: str) -> bool:
    """npm's Subresource Integrity string (``sha512-BASE64``) against ``body``."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha256", "sha384", "sha512"}:
        return False
    return base64.b64encode(hashlib.new(algorithm, body).digest()).decode() == expected


def _wanted_member(name: str) -> bool:
    if not name.startswith("package/") or ".." in name.split("/"):
        return False
    inner = name[len("package/"):]
    return (("/" not in inner and (inner.endswith(".css") or inner in {"metadata.json",
                                                                        "LICENSE"}))
            or (inner.startswith("files/") and inner.count("/") == 1
                and inner.endswith(".woff2")))


def bundled_package(family: str, pin: dict[str, str]) -> Path:
    """The pinned ``@fontsource`` package's CSS and woff2 files, from the cache or npm."""
    name = pin["package"].rsplit("/", 1)[-1]
    folder = font_cache_dir() / "fontsource" / f"{name}@{pin['version']}"
    if (folder / ".complete").is_file():
        return folder
    registry = os.environ.get(NPM_REGISTRY_ENV, NPM_REGISTRY_URL).rstrip("/")
    url = f"{registry}/{pin['package']}/-/{name}-{pin['version']}.tgz"
    body = _download(url, f"the bundled font family {family!r}", MAX_FONT_PACKAGE_BYTES)
    if not check_integrity(body, pin["integrity"]):
        raise FontFetchFailed(
            f"the bundled font family {family!r} from {url} does not match its pinned "
            f"integrity {pin['integrity'][:20]}...",
            hint="the registry or a proxy served other bytes; retry, or check the network",
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            for member in archive:
                if not member.isfile() or not _wanted_member(member.name):
                    continue
                target = staging / member.name[len("package/"):]
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
        (staging / ".complete").write_text(pin["integrity"])
        try:
            staging.rename(folder)
        except OSError:  # another process filled the cache first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def bundled_faces(package: Path, weights: set[int], italic: bool
                  ) -> list[tuple[FaceRule, Path]]:
    """The package's faces for the weights CSS matching would pick, with their files."""
    metadata = json.loads((package / "metadata.json").read_text())
    available = sorted(int(w) for w in metadata.get("weights", [400]))
    styles = ["normal"] if "normal" in metadata.get("styles", ["normal"]) else []
    if italic and "italic" in metadata.get("styles", []):
        styles.append("italic")
    chosen = sorted({match_weight(w, available) for w in weights})
    found: list[tuple[FaceRule, Path]] = []
    facts = CssFacts()
    for weight in chosen:
        for style in styles or ["italic"]:
            sheet = package / (f"{weight}.css" if style == "normal" else f"{weight}-italic.css")
            if not sheet.is_file():
                continue
            start = len(facts.faces)
            read_css(sheet.read_text(), _PROJECT_BASE, sheet.name, facts)
            for rule in facts.faces[start:]:
                for url in rule.urls:
                    relative = unquote(urlsplit(url).path).lstrip("/")
                    file = package / relative
                    if relative.endswith(".woff2") and file.is_file() and \
                            file.resolve().is_relative_to(package.resolve()):
                        found.append((rule, file))
                        break
    return found


# --- freezing ------------------------------------------------------------------------


@dataclass
class FrozenFonts:
    """What planning froze: ``frozen`` entries, the faces the page adds, the warnings."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    faces: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fallback: str = f"{FROZEN_FONTS}/{FALLBACK}"

    def plan_data(self) -> dict[str, Any]:
        return {"fallback": self.fallback, "warnings": self.warnings,
                "faces": len(self.faces)}


def google_css_url(family: str, weights: set[int], italic: bool, *, plain: bool = False) -> str:
    base = os.environ.get(GOOGLE_FONTS_ENV, GOOGLE_FONTS_URL).rstrip("/")
    name = quote(family, safe="").replace("%20", "+")
    if plain:
        return f"{base}/css2?family={name}&display=block"
    ordered = sorted(weights)
    if italic:
        axes = ";".join([f"0,{w}" for w in ordered] + [f"1,{w}" for w in ordered])
        return f"{base}/css2?family={name}:ital,wght@{axes}&display=block"
    return f"{base}/css2?family={name}:wght@{';'.join(str(w) for w in ordered)}&display=block"


def _is_generic(family: str) -> bool:
    return family.lower() in GENERIC_FAMILIES or family.lower() in SYSTEM_FAMILIES


def find_fallback_dir() -> Path | None:
    explicit = os.environ.get(FALLBACK_DIR_ENV)
    for folder in ([explicit] if explicit else []) + list(FALLBACK_SEARCH):
        if all((Path(folder) / name).is_file() for name in FALLBACK_FILES):
            return Path(folder)
    return None


def freeze_fallback(destination: Path) -> None:
    source = find_fallback_dir()
    if source is None:
        raise FontFetchFailed(
            f"the fallback font DejaVu ({', '.join(FALLBACK_FILES)}) is not installed in "
            f"any of {', '.join(FALLBACK_SEARCH)}",
            hint=f"apt-get install fonts-dejavu-core, or set {FALLBACK_DIR_ENV} to a folder "
            "holding those files",
        )
    destination.mkdir(parents=True, exist_ok=True)
    for name in FALLBACK_FILES:
        shutil.copyfile(source / name, destination / name)


def freeze_fonts(project_dir: Path, html_files: list[str], plan_dir: Path,
                 fetch: RemoteFetcher, *, asset_cache: Path | None = None,
                 strict: bool = False) -> FrozenFonts:
    """Freeze every font the project uses into ``plan_dir/frozen/fonts``.

    ``project_dir`` is the plan's frozen copy of the project; ``fetch`` the plan's remote
    fetcher (stylesheets and their font files become remote assets of the plan).
    """
    from hfaction.assets import RemoteFetcher
    from hfaction.media import frozen_bytes, frozen_sha256

    reader = _Reader(project_dir.resolve(), fetch)
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

    add_entry("fallback: DejaVu Sans, Serif, Sans Mono", str(find_fallback_dir()),
              f"{FROZEN_FONTS}/{FALLBACK}")
    # Fonts the project loads itself: make sure every file exists or is frozen now.
    declared: set[str] = set()
    for rule in facts.faces:
        declared.add(rule.family.lower())
        for url in rule.urls:
            _freeze_declared(rule, url, project_dir, fetch, add_entry)
        if not rule.urls:
            local_only = SystemFontUsed(
                f"@font-face {rule.family!r} at {rule.where} has only local() sources: "
                "machine fonts, which the render does not have; its text falls back to the "
                "plan's frozen fallback (DejaVu)", hint="add a url() source to the rule")
            if strict:
                raise local_only
            result.warnings.append(local_only.one_line())
    weights = facts.weights | {400, 700}
    wanted: dict[str, str] = {}  # lowercase -> family as written
    bundled = {name.lower(): name for name in bundled_families()}
    for families, where in facts.families:
        first = families[0]
        if first.lower() in declared or first.lower() in FALLBACK_FAMILIES:
            pass  # loaded by the project, or one of the frozen fallback's own families
        elif _is_generic(first):
            message = (f"{where} names {first!r} first in font-family {', '.join(families)}: "
                       "a machine font; every worker of this render draws it with the "
                       "plan's frozen fallback (DejaVu)")
            warning = SystemFontUsed(message, hint="name a web font first (bundled, Google "
                                     "Fonts or @font-face), or render without --strict-fonts")
            if strict:
                raise warning
            if warning.one_line() not in result.warnings:
                result.warnings.append(warning.one_line())
        else:
            wanted.setdefault(first.lower(), first)
        # A bundled family later in the list may still draw glyphs the first lacks.
        for other in families[1:]:
            if other.lower() in bundled and other.lower() not in declared:
                wanted.setdefault(other.lower(), other)
    pins = bundled_families()
    used_slugs: set[str] = set()
    for key, family in sorted(wanted.items()):
        if key in declared:
            continue
        slug = _slug(family)
        if slug in used_slugs:
            # 'Brand Sans' and 'Brand-Sans' are two families: two folders, two entries.
            slug = f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        used_slugs.add(slug)
        folder = fonts_dir / slug
        if key in bundled:
            canonical = bundled[key]
            pin = pins[canonical]
            package = bundled_package(canonical, pin)
            for rule, file in bundled_faces(package, weights, facts.italic):
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, folder / file.name)
                result.faces.append(_face(family, rule, f"{FROZEN_URL}fonts/{slug}/{file.name}"))
            add_entry(family, f"npm:{pin['package']}@{pin['version']}", f"{FROZEN_FONTS}/{slug}")
        else:
            fetcher = RemoteFetcher(folder, cache_dir=asset_cache)
            url = _fetch_google(family, weights, facts.italic, fetcher)
            css = (folder / fetcher.fetched[url].path).read_text(encoding="utf-8", errors="replace")
            google = CssFacts()
            read_css(css, url, url, google)
            if not google.faces:
                raise FontFetchFailed(f"{url} returned no @font-face for the font family "
                                      f"{family!r}", hint="check the family name")
            for rule in google.faces:
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


def _fetch_google(family: str, weights: set[int], italic: bool, fetcher: RemoteFetcher) -> str:
    """Fetch the family's stylesheet; weights the family lacks make the API refuse, so a
    plain request (its default face) is the second try."""
    first = google_css_url(family, weights, italic)
    try:
        fetcher(first)
        return first
    except RemoteAssetFetchFailed:
        pass
    plain = google_css_url(family, weights, italic, plain=True)
    try:
        fetcher(plain)
    except RemoteAssetFetchFailed as error:
        raise FontFetchFailed(
            f"the font family {family!r} is named in the CSS but not loaded, not bundled, and "
            f"could not be fetched from Google Fonts at {plain}: {error.message}",
            hint="load it with @font-face or a stylesheet, fix the name, or check the network",
        ) from None
    return plain


def _freeze_declared(rule: FaceRule, url: str, project_dir: Path, fetch: RemoteFetcher,
                     add_entry: Any) -> None:
    if url.startswith(_PROJECT_BASE):
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


# --- the browser's fontconfig ----------------------------------------------------------


def fontconfig_document(font_dir: Path, cache_dir: Path) -> str:
    """A fontconfig file whose only fonts are ``font_dir``'s, generics aliased to them."""
    aliases = "\n".join(
        f'  <alias binding="same"><family>{escape(generic)}</family>'
        f"<prefer><family>{escape(family)}</family></prefer></alias>"
        for generic, family in sorted(FALLBACK_ALIASES.items()))
    return f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- Generated by hfaction: only the plan's frozen fallback fonts, nothing of the machine. -->
<fontconfig>
  <dir>{escape(str(font_dir))}</dir>
  <cachedir>{escape(str(cache_dir))}</cachedir>
{aliases}
  <match target="pattern">
    <edit name="family" mode="append" binding="weak"><string>DejaVu Sans</string></edit>
  </match>
</fontconfig>
"""


def fallback_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in FALLBACK_FILES:
        path = folder / name
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-")
    return digest.hexdigest()


class FontEnvironment:
    """A private fontconfig setup (fonts, config, cache) in a temporary folder."""

    def __init__(self, fallback_dir: Path | None) -> None:
        source = fallback_dir if fallback_dir is not None else find_fallback_dir()
        self.root = Path(tempfile.mkdtemp(prefix="hfaction-fontconfig-"))
        fonts = self.root / "fonts"
        fonts.mkdir()
        if source is not None:
            for name in FALLBACK_FILES:
                if (source / name).is_file():
                    shutil.copyfile(source / name, fonts / name)
        self.digest = fallback_digest(fonts)
        self.config = self.root / "fonts.conf"
        self.config.write_text(fontconfig_document(fonts, self.root / "cache"))

    def env(self) -> dict[str, str | float | bool]:
        """The browser's environment: this process's, with this fontconfig file."""
        environment: dict[str, str | float | bool] = {
            key: value for key, value in os.environ.items()
            if key not in {"FONTCONFIG_PATH", "FONTCONFIG_SYSROOT"}}
        environment["FONTCONFIG_FILE"] = str(self.config)
        return environment

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def plan_fallback_dir(project_dir: Path) -> Path | None:
    """The frozen fallback of the plan whose ``project/`` folder is ``project_dir``."""
    folder = project_dir.parent / FROZEN_FONTS / FALLBACK
    return folder if folder.is_dir() else None


# Runs in the page before its own scripts: the faces hfaction froze for families the
# project names without loading (bundled, Google Fonts), served from the plan.
FONT_FACES_SCRIPT = """
(() => {
  const faces = (window.__hfConfig && window.__hfConfig.fontFaces) || [];
  for (const f of faces) {
    const descriptors = { weight: f.weight, style: f.style, display: "block" };
    if (f.unicodeRange) descriptors.unicodeRange = f.unicodeRange;
    const face = new FontFace(f.family, "url(" + JSON.stringify(f.src) + ")", descriptors);
    document.fonts.add(face);
    face.load().catch(() => {});
  }
})();
"""

# Loads every face the page declares (also those no text uses yet, and those of nested
# compositions) so no later frame waits for a font; answers the families that failed.
LOAD_ALL_FONTS_SCRIPT = """
() => {
  window.__hfFontsValue = null;
  Promise.all([...document.fonts].map((f) => f.load().catch(() => null)))
    .then(() => document.fonts.ready)
    .then(() => { window.__hfFontsValue = JSON.stringify(
      [...document.fonts].filter((f) => f.status === "error").map((f) => f.family)); });
  return 1;
}
"""
