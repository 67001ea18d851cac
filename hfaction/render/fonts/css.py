"""Reading CSS for fonts: ``@font-face`` rules, the families ``font-family`` and ``font``
name (through custom properties), the weights and styles used, ``@import``s; and
CSS's rule for which weight a family's faces answer.

CSS HyperFrames reads for fonts (``<style>`` and ``style=""`` of the HTML files) is read
as HyperFrames compiles it: a ``font-family`` declaration or custom property whose first
family is generic gets Inter in front (see :mod:`~hfaction.render.fonts.aliases`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from hfaction.render.fonts.aliases import promoted_value

_CSS_WIDE = frozenset({"inherit", "initial", "unset", "revert", "revert-layer", "default"})
_SYSTEM_FONT_KEYWORDS = frozenset({"caption", "icon", "menu", "message-box", "small-caption",
                                   "status-bar"})

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
PROJECT_BASE = "http://project.invalid/"  # only for resolving relative URLs


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
    # The font-family lists HyperFrames reads (``<style>``, ``style=""``, data-font-family;
    # not the ``font`` shorthand), Inter in front of a generic first family.
    hyperframes_families: list[tuple[list[str], str]] = field(default_factory=list)
    # Where HyperFrames puts Inter in front of a generic family: (where, generic, declaration).
    promoted: list[tuple[str, str, str]] = field(default_factory=list)


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


def first_token(value: str) -> str:
    """The first comma-separated item of ``value`` (commas in parentheses or quotes do not
    count), unquoted: ``var(--a, b), serif`` -> ``var(--a, b)``."""
    depth, quote = 0, ""
    for index, char in enumerate(value):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            value = value[:index]
            break
    token = value.replace("!important", "").strip()
    if token[:1] in {"'", '"'} and token[-1:] == token[:1]:
        token = token[1:-1].strip()
    return token


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
             first_line: int | None = None, *, hyperframes: bool = False,
             resolve: Callable[[str], str] | None = None) -> list[str]:
    """Add ``text``'s fonts to ``facts``; return the absolute URLs it ``@import``s.

    A relative URL resolves against ``base_url`` (the stylesheet's or HTML file's URL), or
    through ``resolve`` when given. With ``first_line`` (where ``text`` starts in the file
    ``where``), findings name their own line. ``hyperframes``: ``text`` is CSS HyperFrames
    reads for fonts (a ``<style>`` or ``style=""`` of an HTML file).
    """
    def absolute(url: str) -> str:
        return resolve(url) if resolve is not None else urljoin(base_url, url)

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
        urls = tuple(absolute(url.group(2).strip()) for url in _URL.finditer(source)
                     if not url.group(2).strip().startswith("data:"))
        if names:
            facts.faces.append(FaceRule(names[0], urls, _descriptor(block, "font-weight") or "400",
                                        _descriptor(block, "font-style") or "normal",
                                        _descriptor(block, "unicode-range"),
                                        at(match.start())))
    rules = _FONT_FACE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), css)

    def promoted(name: str, value: str, offset: int) -> str:
        # HyperFrames' compile step: Inter in front of a generic first family.
        if not hyperframes:
            return value
        first = first_token(value)
        replaced = promoted_value(value.replace("!important", ""), first)
        if replaced is None:
            return value
        facts.promoted.append((at(offset), first, f"{name}: {value}"))
        return replaced

    for match in _DECLARATION.finditer(rules):
        name, value = match.group(1).lower(), match.group(2).strip()
        if name.startswith("--"):
            facts.variables.setdefault(match.group(1),
                                       promoted(match.group(1), value, match.start(2)))
    for match in _DECLARATION.finditer(rules):
        name, value = match.group(1).lower(), match.group(2).strip()
        if name == "font-family":
            value = promoted(name, value, match.start(2))
        value = _substitute(value, facts.variables)
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
            if hyperframes and name == "font-family":
                facts.hyperframes_families.append((families, at(match.start(2))))
    imports = []
    for match in _IMPORT.finditer(css):
        imports.append(absolute((match.group(2) or match.group(4)).strip()))
    return imports


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
