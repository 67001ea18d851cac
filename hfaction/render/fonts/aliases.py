"""HyperFrames' font aliases: the families it supplies itself (bundled), the machine
families it draws with one of them instead, and the generic families it puts Inter in
front of.

A family named in a ``font-family`` declaration HyperFrames reads (``<style>``,
``style=""``, ``data-font-family``) that is bundled or aliased gets the bundled faces
under the name the author wrote: ``font-family: Arial`` draws Inter, ``Georgia`` EB
Garamond, ``Menlo`` JetBrains Mono. Such a declaration whose first family is generic
(``system-ui, sans-serif``) becomes ``Inter, system-ui, sans-serif``.
"""

from __future__ import annotations

# The bundled families and the machine names each stands in for (lowercase).
_ALIASES: dict[str, tuple[str, ...]] = {
    "Inter": (
        "helvetica neue", "helvetica", "arial", "helvetica bold",
        # macOS
        "sf pro", "sf pro display", "sf pro text", "sf pro rounded", "avenir", "avenir next",
        "lucida grande", "geneva", "optima",
        # Windows
        "verdana", "tahoma", "trebuchet ms", "calibri", "candara", "corbel", "lucida sans",
        "lucida sans unicode",
        # Linux
        "noto sans", "dejavu sans", "liberation sans",
    ),
    "Montserrat": ("futura", "din alternate", "arial black"),
    "Outfit": (),
    "Nunito": (),
    "Oswald": (),
    "League Gothic": ("bebas neue",),
    "Archivo Black": (),
    "Space Mono": (),
    "IBM Plex Mono": (),
    "JetBrains Mono": (
        "courier new", "courier", "sf mono", "menlo", "monaco", "consolas", "lucida console",
        "lucida sans typewriter", "andale mono", "dejavu sans mono", "liberation mono",
    ),
    "EB Garamond": (
        "garamond", "georgia", "palatino", "palatino linotype", "book antiqua", "cambria",
        "times", "times new roman", "dejavu serif", "liberation serif",
    ),
    "Playfair Display": (),
    "Source Code Pro": (),
    "Noto Sans JP": ("noto sans japanese",),
    "Roboto": ("segoe ui",),
    "Open Sans": (),
    "Lato": (),
    "Poppins": (),
}

BUNDLED_FAMILIES: tuple[str, ...] = tuple(_ALIASES)
# lowercase family name -> the bundled family drawn for it (bundled names map to themselves)
FONT_ALIASES: dict[str, str] = {
    **{family.lower(): family for family in _ALIASES},
    **{alias: family for family, aliases in _ALIASES.items() for alias in aliases},
}

# The generic families HyperFrames puts PRIMARY_FAMILY in front of when they come first.
PROMOTED_GENERICS = frozenset({
    "sans-serif", "serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif",
    "ui-serif", "ui-monospace", "emoji", "math", "fangsong", "-apple-system",
    "blinkmacsystemfont",
})
PRIMARY_FAMILY = "Inter"


def bundled_family_for(name: str) -> str | None:
    """The bundled family HyperFrames draws for ``name`` (any case), else None."""
    return FONT_ALIASES.get(" ".join(name.split()).lower())


def is_bundled_name(name: str) -> bool:
    """``name`` is one of the bundled families themselves (``Inter``, not ``Arial``)."""
    family = bundled_family_for(name)
    return family is not None and family.lower() == " ".join(name.split()).lower()


def promoted_value(value: str, first: str) -> str | None:
    """``value`` with PRIMARY_FAMILY in front if ``first`` is a promoted generic."""
    if first.lower() not in PROMOTED_GENERICS:
        return None
    return f"{PRIMARY_FAMILY}, {value.strip()}"
