"""Google Fonts: the stylesheet URL of a family (``HFACTION_GOOGLE_FONTS_URL`` points it
elsewhere), and fetching it with a plain request as the second try.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from hfaction.errors import FontFetchFailed, RemoteAssetFetchFailed
from hfaction.render.assets import RemoteFetcher

GOOGLE_FONTS_ENV = "HFACTION_GOOGLE_FONTS_URL"
GOOGLE_FONTS_URL = "https://fonts.googleapis.com"


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


def fetch_google(family: str, weights: set[int], italic: bool, fetcher: RemoteFetcher) -> str:
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
