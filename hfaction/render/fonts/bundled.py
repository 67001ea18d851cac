"""The bundled families: ``@fontsource/*`` npm packages pinned with their integrity in
``hfaction/render/fonts_bundled.json``, fetched from the registry into the font cache once,
checked, and unpacked (CSS and woff2 only); and their faces as HyperFrames bundles them.

HyperFrames bundles, of each family, the upright latin-subset woff2 of a few weights
(``weights`` in the pin: 400, 700 and 900, or 400 and 700, or 400 alone), declared without
a unicode-range. The browser's font matching picks among those: ``font-weight: 800``
draws the 900 face, italics are slanted by the browser.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import TypedDict

from hfaction.errors import FontFetchFailed
from hfaction.render.assets import open_url
from hfaction.render.fonts.aliases import bundled_family_for
from hfaction.render.fonts.css import FaceRule, match_weight

NPM_REGISTRY_ENV = "HFACTION_NPM_REGISTRY"
NPM_REGISTRY_URL = "https://registry.npmjs.org"
FONT_CACHE_ENV = "HFACTION_FONT_CACHE"
MAX_FONT_PACKAGE_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT_S = 60


class BundledPin(TypedDict):
    """One bundled family's package: name, version, npm integrity, the weights bundled."""

    package: str
    version: str
    integrity: str
    weights: list[int]


def bundled_families() -> dict[str, BundledPin]:
    text = (resources.files("hfaction.render") / "fonts_bundled.json").read_text(encoding="utf-8")
    data: dict[str, BundledPin] = json.loads(text)
    return data


def _package_slug(pin: BundledPin) -> str:
    return pin["package"].rsplit("/", 1)[-1]


def face_file_name(pin: BundledPin, weight: int) -> str:
    """The package file of the bundled face of ``weight``: upright, latin subset."""
    return f"{_package_slug(pin)}-latin-{weight}-normal.woff2"


def select_bundled_face(name: str, weight: int) -> tuple[str, int, str] | None:
    """What the browser draws for ``font-family: name; font-weight: weight`` from the bundle:
    (bundled family, face weight, face file), or None if ``name`` is neither bundled nor
    aliased. ``("Arial", 800)`` -> ``("Inter", 900, "inter-latin-900-normal.woff2")``.
    """
    family = bundled_family_for(name)
    if family is None:
        return None
    pin = bundled_families()[family]
    chosen = match_weight(weight, sorted(pin["weights"]))
    return family, chosen, face_file_name(pin, chosen)


def font_cache_dir() -> Path:
    explicit = os.environ.get(FONT_CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hfaction" / "fonts"


def _download(url: str, what: str, max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "hfaction"})
    try:
        # http(s) only, redirects too. The registry is the operator's (a private mirror
        # is fine): its peers are not checked against HFACTION_FETCH_PRIVATE.
        with open_url(request, FETCH_TIMEOUT_S, public_only=False) as response:
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


def bundled_package(family: str, pin: BundledPin) -> Path:
    """The pinned ``@fontsource`` package's CSS and woff2 files, from the cache or npm."""
    name = _package_slug(pin)
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


def bundled_faces(family: str, package: Path, pin: BundledPin) -> list[tuple[FaceRule, Path]]:
    """The faces HyperFrames bundles of ``family`` (one per pinned weight), with their files."""
    found: list[tuple[FaceRule, Path]] = []
    files = package / "files"
    for weight in sorted(pin["weights"]):
        file = files / face_file_name(pin, weight)
        if not file.is_file():  # another file name for the same face
            candidates = sorted(path for path in files.glob(f"*-latin-{weight}-normal.woff2")
                                if "-latin-ext-" not in path.name)
            if not candidates:
                raise FontFetchFailed(
                    f"the bundled font family {family!r} ({pin['package']}@{pin['version']}) "
                    f"has no latin {weight} face", hint="the pin in fonts_bundled.json is wrong")
            file = candidates[0]
        found.append((FaceRule(family, (), str(weight), "normal", None, file.name), file))
    return found
