"""The frozen machine fonts and the browser's private fontconfig: a generated file whose
only fonts are the frozen ones, so that workers with different system fonts draw
identically.

The frozen set stands in for the fonts of HyperFrames' render image (Debian with
fonts-liberation and fonts-dejavu-core), where text HyperFrames does not give a web font
is drawn: Chromium looks its generic families up as Arial, Times New Roman and Courier
New, which fontconfig answers with their metric-compatible Liberation fonts; DejaVu draws
what fontconfig's own generic families and per-character fallback reach.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from hfaction.errors import FontFetchFailed

FALLBACK_DIR_ENV = "HFACTION_FALLBACK_FONTS_DIR"
FROZEN_FONTS = "frozen/fonts"  # relative to the plan folder
FALLBACK = "fallback"

# The frozen fallback: DejaVu (fonts-dejavu-core) covers Latin, Greek and Cyrillic and is
# what fontconfig's generic families give; Liberation (fonts-liberation) is what
# Chromium's default fonts (Arial, Times New Roman, Courier New) resolve to.
_DEJAVU_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
                 "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
_LIBERATION_FILES = tuple(f"Liberation{family}-{style}.ttf"
                          for family in ("Sans", "Serif", "Mono")
                          for style in ("Regular", "Bold", "Italic", "BoldItalic"))
FALLBACK_FILES = _DEJAVU_FILES + _LIBERATION_FILES
FALLBACK_SEARCH = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
                   "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu-sans-fonts",
                   "/usr/share/fonts/truetype/liberation", "/usr/share/fonts/liberation",
                   "/usr/share/fonts/liberation-sans", "/usr/share/fonts/liberation-serif",
                   "/usr/share/fonts/liberation-mono")
FALLBACK_ALIASES = {
    "sans-serif": "DejaVu Sans", "serif": "DejaVu Serif", "monospace": "DejaVu Sans Mono",
    "system-ui": "DejaVu Sans", "cursive": "DejaVu Sans", "fantasy": "DejaVu Sans",
    "emoji": "DejaVu Sans", "math": "DejaVu Sans", "fangsong": "DejaVu Serif",
}
# fontconfig's metric aliases (30-metric-aliases.conf) for the frozen Liberation fonts.
METRIC_ALIASES = {
    "Arial": "Liberation Sans", "Helvetica": "Liberation Sans", "Arimo": "Liberation Sans",
    "Times New Roman": "Liberation Serif", "Times": "Liberation Serif",
    "Tinos": "Liberation Serif", "Courier New": "Liberation Mono",
    "Courier": "Liberation Mono", "Cousine": "Liberation Mono",
}
# The rendering defaults of Debian's fontconfig (conf.d 10-hinting-slight, 10-yes-antialias),
# which HyperFrames' render machines have: Chromium hints machine fonts as they say (seen
# where a page sets text-rendering to other than geometricPrecision).
RENDER_SETTINGS = (
    '  <match target="pattern"><edit name="hintstyle" mode="append">'
    "<const>hintslight</const></edit></match>",
    '  <match target="pattern"><edit name="antialias" mode="append">'
    "<bool>true</bool></edit></match>",
)
FALLBACK_FAMILIES = frozenset({"dejavu sans", "dejavu serif", "dejavu sans mono",
                               "liberation sans", "liberation serif", "liberation mono"})


def _search_folders() -> list[Path]:
    explicit = os.environ.get(FALLBACK_DIR_ENV)
    return [Path(folder) for folder in ([explicit] if explicit else []) + list(FALLBACK_SEARCH)]


def find_fallback_files() -> dict[str, Path]:
    """Each fallback file found on this machine (``$HFACTION_FALLBACK_FONTS_DIR`` first)."""
    found: dict[str, Path] = {}
    folders = _search_folders()
    for name in FALLBACK_FILES:
        for folder in folders:
            if (folder / name).is_file():
                found[name] = folder / name
                break
    return found


def describe_fallback() -> str:
    """Where this machine's fallback files are, for the plan's record."""
    return ", ".join(sorted({str(path.parent) for path in find_fallback_files().values()}))


def freeze_fallback(destination: Path) -> None:
    found = find_fallback_files()
    missing = [name for name in FALLBACK_FILES if name not in found]
    if missing:
        raise FontFetchFailed(
            f"the fallback fonts {', '.join(missing)} are not installed in any of "
            f"{', '.join(str(folder) for folder in _search_folders())}",
            hint="apt-get install fonts-dejavu-core fonts-liberation, or set "
            f"{FALLBACK_DIR_ENV} to a folder holding those files",
        )
    destination.mkdir(parents=True, exist_ok=True)
    for name in FALLBACK_FILES:
        shutil.copyfile(found[name], destination / name)


def fontconfig_document(font_dir: Path, cache_dir: Path) -> str:
    """A fontconfig file whose only fonts are ``font_dir``'s, generics aliased to them, with
    the render machines' rendering settings."""
    aliases = "\n".join(
        [f'  <alias binding="same"><family>{escape(generic)}</family>'
         f"<prefer><family>{escape(family)}</family></prefer></alias>"
         for generic, family in sorted(FALLBACK_ALIASES.items())]
        + [f'  <alias binding="same"><family>{escape(name)}</family>'
           f"<accept><family>{escape(family)}</family></accept></alias>"
           for name, family in sorted(METRIC_ALIASES.items())])
    return f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- Generated by hfaction: only the plan's frozen fallback fonts, nothing of the machine. -->
<fontconfig>
  <dir>{escape(str(font_dir))}</dir>
  <cachedir>{escape(str(cache_dir))}</cachedir>
{aliases}
{chr(10).join(RENDER_SETTINGS)}
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
        if fallback_dir is not None:
            sources = {name: fallback_dir / name for name in FALLBACK_FILES}
        else:
            sources = find_fallback_files()
        self.root = Path(tempfile.mkdtemp(prefix="hfaction-fontconfig-"))
        fonts = self.root / "fonts"
        fonts.mkdir()
        for name, source in sources.items():
            if source.is_file():
                shutil.copyfile(source, fonts / name)
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
