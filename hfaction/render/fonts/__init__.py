"""Fonts, frozen into the plan so that every worker draws the same glyphs, and drawn as
HyperFrames draws them.

At planning, the project's CSS (stylesheets, ``<style>``, ``style=""``) is read
for the fonts it loads (``@font-face``: local files or URLs, Google Fonts
stylesheets) and the families it names. As in HyperFrames:

- a family its ``font-family`` declarations (in ``<style>`` and ``style=""``) name that
  HyperFrames bundles or aliases (``Arial``, ``Helvetica Neue`` -> Inter, ``Georgia`` -> EB
  Garamond, ``Menlo`` -> JetBrains Mono, ...) gets the bundled faces under the name written:
  the upright latin woff2 of the pinned ``@fontsource/*`` packages (``fonts_bundled.json``)
  in HyperFrames' weights only, so ``font-weight: 800`` draws the 900 face;
- such a declaration whose first family is generic (``system-ui, sans-serif``) gets Inter
  in front, in the page as in HyperFrames' compile step (reported as ``SYSTEM_FONT_USED``:
  a warning, an error with ``strict``);
- another family named first and not loaded by the project comes from Google Fonts.

The files are copied into ``<plan>/frozen/fonts/`` and the page gets them as ``FontFace``
objects served from the plan. A font that cannot be fetched fails the plan
(``FONT_FETCH_FAILED``).

What HyperFrames leaves to the machine (the ``font`` shorthand, linked stylesheets, a
character no web font has) is drawn by the browser's system font lookup, i.e.
fontconfig. Chromium therefore runs with a generated fontconfig file whose only fonts are
the plan's frozen machine fonts, those of HyperFrames' Linux render machines (Liberation
for Chromium's Arial, Times New Roman and Courier New; DejaVu for fontconfig's generic
families), with their rendering settings: workers with different system fonts draw
identically, and as HyperFrames does (``SYSTEM_FONT_USED`` again).

The package's modules:

- :mod:`~hfaction.render.fonts.aliases`: HyperFrames' bundled families, aliases, generics;
- :mod:`~hfaction.render.fonts.css`: reading CSS (faces, families, weights) and weight matching;
- :mod:`~hfaction.render.fonts.markup`: the CSS of a project's HTML files and their stylesheets;
- :mod:`~hfaction.render.fonts.bundled`: the pinned ``@fontsource`` packages (npm, integrity,
  cache) and their bundled faces;
- :mod:`~hfaction.render.fonts.google`: Google Fonts stylesheets;
- :mod:`~hfaction.render.fonts.fontconfig`: the frozen machine fonts and the browser's fontconfig;
- :mod:`~hfaction.render.fonts.freeze`: :func:`freeze_fonts`, which plan.py calls;
- :mod:`~hfaction.render.fonts.page`: the scripts run in the page.
"""

from hfaction.render.fonts.aliases import (
    BUNDLED_FAMILIES,
    FONT_ALIASES,
    PRIMARY_FAMILY,
    PROMOTED_GENERICS,
    bundled_family_for,
    is_bundled_name,
)
from hfaction.render.fonts.bundled import (
    FETCH_TIMEOUT_S,
    FONT_CACHE_ENV,
    MAX_FONT_PACKAGE_BYTES,
    NPM_REGISTRY_ENV,
    NPM_REGISTRY_URL,
    BundledPin,
    bundled_faces,
    bundled_families,
    bundled_package,
    check_integrity,
    face_file_name,
    font_cache_dir,
    select_bundled_face,
)
from hfaction.render.fonts.bundled import (
    _wanted_member as _wanted_member,  # tests check the unpacking filter
)
from hfaction.render.fonts.css import (
    CssFacts,
    FaceRule,
    first_token,
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
    METRIC_ALIASES,
    RENDER_SETTINGS,
    FontEnvironment,
    describe_fallback,
    fallback_digest,
    find_fallback_files,
    fontconfig_document,
    freeze_fallback,
    plan_fallback_dir,
)
from hfaction.render.fonts.freeze import (
    FROZEN_URL,
    GENERIC_FAMILIES,
    PROMOTE_KEY,
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
    "BUNDLED_FAMILIES",
    "FALLBACK",
    "FALLBACK_ALIASES",
    "FALLBACK_DIR_ENV",
    "FALLBACK_FAMILIES",
    "FALLBACK_FILES",
    "FALLBACK_SEARCH",
    "FETCH_TIMEOUT_S",
    "FONT_ALIASES",
    "FONT_CACHE_ENV",
    "FONT_FACES_SCRIPT",
    "FROZEN_FONTS",
    "FROZEN_URL",
    "GENERIC_FAMILIES",
    "GOOGLE_FONTS_ENV",
    "GOOGLE_FONTS_URL",
    "LOAD_ALL_FONTS_SCRIPT",
    "MAX_FONT_PACKAGE_BYTES",
    "METRIC_ALIASES",
    "NPM_REGISTRY_ENV",
    "NPM_REGISTRY_URL",
    "PRIMARY_FAMILY",
    "PROMOTED_GENERICS",
    "PROMOTE_KEY",
    "RENDER_SETTINGS",
    "SYSTEM_FAMILIES",
    "BundledPin",
    "CssFacts",
    "FaceRule",
    "FontEnvironment",
    "FrozenFonts",
    "bundled_faces",
    "bundled_families",
    "bundled_family_for",
    "bundled_package",
    "check_integrity",
    "describe_fallback",
    "face_file_name",
    "fallback_digest",
    "find_fallback_files",
    "first_token",
    "font_cache_dir",
    "fontconfig_document",
    "freeze_fallback",
    "freeze_fonts",
    "google_css_url",
    "is_bundled_name",
    "match_weight",
    "plan_fallback_dir",
    "read_css",
    "select_bundled_face",
    "shorthand_families",
    "split_families",
]
