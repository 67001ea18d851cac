"""The bundled families: ``@fontsource/*`` npm packages pinned with their integrity in
``hfaction/render/fonts_bundled.json``, fetched from the registry into the font cache once,
checked, and unpacked (CSS and woff2 only), and the faces CSS matching would pick.
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
from urllib.parse import unquote, urlsplit

from hfaction.errors import FontFetchFailed
from hfaction.render.fonts.css import _PROJECT_BASE, CssFacts, FaceRule, match_weight, read_css

NPM_REGISTRY_ENV = "HFACTION_NPM_REGISTRY"
NPM_REGISTRY_URL = "https://registry.npmjs.org"
FONT_CACHE_ENV = "HFACTION_FONT_CACHE"
MAX_FONT_PACKAGE_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT_S = 60


def bundled_families() -> dict[str, dict[str, str]]:
    text = (resources.files("hfaction.render") / "fonts_bundled.json").read_text(encoding="utf-8")
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
