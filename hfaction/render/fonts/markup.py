"""The CSS a project's HTML files use: ``<style>``, ``style=""``, ``data-font-family`` and
SVG ``font-family`` attributes, stylesheet links, and every stylesheet they import (local
or fetched).

A relative URL resolves against the file that holds it: a stylesheet's against the
stylesheet, the entry document's against it. A nested composition's markup ends up in the
entry document: its URLs resolve as the page runtime mounts it
(``hfaction.render.composition.resolve_reference``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

from hfaction.errors import FontFetchFailed, RemoteAssetFetchFailed
from hfaction.render.assets import RemoteFetcher
from hfaction.render.composition import resolve_reference
from hfaction.render.fonts.css import PROJECT_BASE, CssFacts, read_css

_ITALIC_TAGS = frozenset({"i", "em", "cite", "var", "dfn", "address"})


class _HtmlStyles(HTMLParser):
    """The CSS of one HTML file: ``<style>`` text, ``style`` attributes, stylesheet links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (CSS, line, whether HyperFrames reads it for fonts)
        self.blocks: list[tuple[str, int, bool]] = []
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
            self.blocks.append((f"x{{{attributes['style']}}}", line, True))
        if attributes.get("data-font-family"):  # read by HyperFrames' font compile step
            self.blocks.append((f"x{{font-family:{attributes['data-font-family']}}}", line,
                                True))
        if attributes.get("font-family"):  # SVG presentation attribute
            self.blocks.append((f"x{{font-family:{attributes['font-family']}}}", line, False))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.blocks.append((data, self.getpos()[0], True))


def _is_font_stylesheet(url: str) -> bool:
    """A Google-Fonts-style CSS API URL (``.../css2?family=...``)."""
    parts = urlsplit(url)
    return PurePosixPath(parts.path).name in {"css", "css2"} and "family" in parse_qs(parts.query)


def _query_families(url: str) -> str:
    families = [value.split(":", 1)[0] for value in parse_qs(urlsplit(url).query).get("family", [])]
    return ", ".join(families) or "?"


@dataclass
class MarkupReader:
    """Reads every stylesheet a project's HTML files use, local or remote, once."""

    project_dir: Path
    fetch: RemoteFetcher
    facts: CssFacts = field(default_factory=CssFacts)
    seen: set[str] = field(default_factory=set)
    entry: str | None = None  # the entry document; the others are nested compositions

    def _exists(self, relative: str) -> bool:
        path = self.project_dir / relative
        return (bool(relative.strip("/")) and path.is_file()
                and path.resolve().is_relative_to(self.project_dir))

    def resolver(self, relative: str) -> Callable[[str], str]:
        """How URLs in the HTML file ``relative`` resolve."""
        base = PROJECT_BASE + quote(relative)
        entry = self.entry if self.entry is not None else relative

        def resolve(url: str) -> str:
            target = resolve_reference(url, relative, entry, self._exists)
            return urljoin(base, url) if target is None else PROJECT_BASE + target

        return resolve

    def html(self, relative: str) -> None:
        path = self.project_dir / relative
        parser = _HtmlStyles()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        base = PROJECT_BASE + quote(relative)
        resolve = self.resolver(relative)
        self.facts.italic |= parser.italic_tags
        for text, line, hyperframes in parser.blocks:
            for url in read_css(text, base, relative, self.facts, first_line=line,
                                hyperframes=hyperframes, resolve=resolve):
                self.stylesheet(url, f"{relative}:{line}")
        for href, line in parser.links:
            self.stylesheet(resolve(href), f"{relative}:{line}")

    def stylesheet(self, url: str, where: str, depth: int = 0) -> None:
        url = url.split("#", 1)[0]
        if url in self.seen or depth > 16:
            return
        self.seen.add(url)
        if url.startswith(PROJECT_BASE):
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
