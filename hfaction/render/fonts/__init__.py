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

The package's modules:

- :mod:`~hfaction.render.fonts.css`: reading CSS (faces, families, weights) and weight matching;
- :mod:`~hfaction.render.fonts.markup`: the CSS of a project's HTML files and their stylesheets;
- :mod:`~hfaction.render.fonts.bundled`: the pinned ``@fontsource`` packages (npm, integrity,
  cache);
- :mod:`~hfaction.render.fonts.google`: Google Fonts stylesheets;
- :mod:`~hfaction.render.fonts.fontconfig`: the frozen fallback and the browser's fontconfig;
- :mod:`~hfaction.render.fonts.freeze`: :func:`freeze_fonts`, which plan.py calls;
- :mod:`~hfaction.render.fonts.page`: the scripts run in the page.
"""

from hfaction.render.fonts.bundled import (
    FETCH_TIMEOUT_S,
    FONT_CACHE_ENV,
    MAX_FONT_PACKAGE_BYTES,
    NPM_REGISTRY_ENV,
    NPM_REGISTRY_URL,
    bundled_faces,
    bundled_families,
    bundled_package,
    check_integrity,
    font_cache_dir,
)
from hfaction.render.fonts.bundled import (
    _wanted_member as _wanted_member,  # tests check the unpacking filter
)
from hfaction.render.fonts.css import (
    CssFacts,
    FaceRule,
    match_weight,
    read_css,
    shorthand_families,
    split_families,
)
from hfaction.render.fonts.fontconfig import (
    FALLBACK,
    FALLBACK_ALIASES,
    FALLBACK_DIR_ENV,
    FALLBACK_FAMILIES,
    FALLBACK_FILES,
    FALLBACK_SEARCH,
    FROZEN_FONTS,
    FontEnvironment,
    fallback_digest,
    find_fallback_dir,
    fontconfig_document,
    freeze_fallback,
    plan_fallback_dir,
)
from hfaction.render.fonts.freeze import (
    FROZEN_URL,
    GENERIC_FAMILIES,
    SYSTEM_FAMILIES,
    FrozenFonts,
    freeze_fonts,
)
from hfaction.render.fonts.google import (
    GOOGLE_FONTS_ENV,
    GOOGLE_FONTS_URL,
    google_css_url,
)
from hfaction.render.fonts.page import (
    FONT_FACES_SCRIPT,
    LOAD_ALL_FONTS_SCRIPT,
)

__all__ = [
    "FALLBACK",
    "FALLBACK_ALIASES",
    "FALLBACK_DIR_ENV",
    "FALLBACK_FAMILIES",
    "FALLBACK_FILES",
    "FALLBACK_SEARCH",
    "FETCH_TIMEOUT_S",
    "FONT_CACHE_ENV",
    "FONT_FACES_SCRIPT",
    "FROZEN_FONTS",
    "FROZEN_URL",
    "GENERIC_FAMILIES",
    "GOOGLE_FONTS_ENV",
    "GOOGLE_FONTS_URL",
    "LOAD_ALL_FONTS_SCRIPT",
    "MAX_FONT_PACKAGE_BYTES",
    "NPM_REGISTRY_ENV",
    "NPM_REGISTRY_URL",
    "SYSTEM_FAMILIES",
    "CssFacts",
    "FaceRule",
    "FontEnvironment",
    "FrozenFonts",
    "bundled_faces",
    "bundled_families",
    "bundled_package",
    "check_integrity",
    "fallback_digest",
    "find_fallback_dir",
    "font_cache_dir",
    "fontconfig_document",
    "freeze_fallback",
    "freeze_fonts",
    "google_css_url",
    "match_weight",
    "plan_fallback_dir",
    "read_css",
    "shorthand_families",
    "split_families",
]
