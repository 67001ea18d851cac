"""Frozen fonts with the real browser: identical pixels on workers with different system
fonts, Google Fonts from a local HTTP server, bundled families and HyperFrames' aliases
and generic rule, fetch failures.

"Different system fonts" is simulated the way Chromium sees a machine's fonts: through
fontconfig (FONTCONFIG_FILE pointing at a folder of DejaVu on one worker, of Liberation
on the other; the second worker's "DejaVu" install is also a different font). Google
Fonts is a local server speaking the css2 API's shape (no Google access here).
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import sync_playwright

from hfaction.cli import main
from hfaction.errors import FontFetchFailed
from hfaction.render.browser import BrowserInfo, launch_args, resolve_browser
from hfaction.render.capture import BrowserSession
from hfaction.render.chunk import render_chunk
from hfaction.render.fonts import (
    FALLBACK_DIR_ENV,
    FALLBACK_FILES,
    FONT_CACHE_ENV,
    GOOGLE_FONTS_ENV,
    NPM_REGISTRY_URL,
)
from hfaction.render.options import RenderOptions
from hfaction.render.planner import plan
from tests.conftest import FIXTURES
from tests.integration.conftest import psnr_per_frame
from tests.loopback import RecordingServer, Reply, Request

LIBERATION_DIRS = (Path("/usr/share/fonts/truetype/liberation"),
                   Path("/usr/share/fonts/truetype/liberation2"))
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def liberation(name: str) -> Path:
    for folder in LIBERATION_DIRS:
        if (folder / name).is_file():
            return folder / name
    reason = f"needs {name} (apt-get install fonts-liberation)"
    if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


# --- a Google Fonts stand-in --------------------------------------------------------------


class FontsApi:
    """``/css2?family=NAME...`` answers an @font-face for NAME if it is served, else 400
    (as Google does for unknown families); ``/files/NAME.ttf`` serves the font."""

    def __init__(self, fonts: dict[str, Path]) -> None:
        self.fonts = fonts
        self.server = RecordingServer(self._route)

    def _route(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        if parts.path == "/css2":
            family = parse_qs(parts.query).get("family", [""])[0].split(":")[0]
            if family not in self.fonts:
                return 400, {"Content-Type": "text/plain"}, b"family not found"
            slug = family.replace(" ", "-")
            css = (f"/* latin */\n@font-face {{ font-family: '{family}'; font-style: "
                   f"normal; font-weight: 400; font-display: swap; src: url("
                   f"{self.url(f'files/{slug}.ttf')}) format('truetype'); }}\n")
            return 200, {"Content-Type": "text/css; charset=utf-8"}, css.encode()
        if parts.path.startswith("/files/"):
            family = parts.path[len("/files/"):-len(".ttf")].replace("-", " ")
            if family in self.fonts:
                return 200, {"Content-Type": "font/ttf"}, self.fonts[family].read_bytes()
        return 404, {"Content-Type": "text/plain"}, b"no such file"

    @property
    def requests(self) -> Counter[str]:
        return Counter(request.path for request in self.server.requests)

    def url(self, path: str = "") -> str:
        return f"{self.server.url}/{path}"

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def fonts_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FontsApi]:
    api = FontsApi({"Test Serif": liberation("LiberationSerif-Regular.ttf"),
                    "Test Mono": liberation("LiberationMono-Regular.ttf")})
    monkeypatch.setenv(GOOGLE_FONTS_ENV, api.url().rstrip("/"))
    try:
        yield api
    finally:
        api.close()


def write_project(folder: Path, head: str, body: str, size: tuple[int, int] = (320, 112)) -> Path:
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(
        f"<!doctype html><html><head>{head}<style>body {{ margin: 0; background: #fff; "
        f"color: #000; }} div.t {{ position: absolute; left: 8px; }}</style></head><body>"
        f'<div data-composition-id="main" data-width="{size[0]}" data-height="{size[1]}" '
        f'data-duration="0.1" data-no-timeline>{body}</div></body></html>')
    return folder


# --- simulated machines ---------------------------------------------------------------------


def machine(root: Path, system_fonts: list[Path], dejavu: dict[str, Path]) -> dict[str, str]:
    """A worker's font setup: its fontconfig (what Chromium sees as installed fonts) and
    the files it would take as its DejaVu install."""
    fonts, installed = root / "system-fonts", root / "dejavu"
    fonts.mkdir(parents=True)
    installed.mkdir()
    for font in system_fonts:
        shutil.copy(font, fonts / font.name)
    for name, source in dejavu.items():
        shutil.copy(source, installed / name)
    config = root / "fonts.conf"
    config.write_text(f'<?xml version="1.0"?>\n<fontconfig><dir>{fonts}</dir>'
                      f"<cachedir>{root / 'cache'}</cachedir></fontconfig>\n")
    return {"FONTCONFIG_FILE": str(config), FALLBACK_DIR_ENV: str(installed)}


def two_machines(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    liberation_sans = liberation("LiberationSans-Regular.ttf")
    first = machine(tmp_path / "worker-a", [DEJAVU / "DejaVuSans.ttf"],
                    {name: DEJAVU / name if name.startswith("DejaVu") else liberation(name)
                     for name in FALLBACK_FILES})
    # The second machine's "DejaVu" is another font: only the plan's copy may be used.
    second = machine(tmp_path / "worker-b", [liberation_sans],
                     {name: liberation_sans for name in FALLBACK_FILES})
    return first, second


def render_as(env: dict[str, str], plan_dir: Path, out: Path,
              monkeypatch: pytest.MonkeyPatch) -> Path:
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        render_chunk(plan_dir, 0, out)
    return out


def screenshot_without_hfaction(env: dict[str, str], html: str, out: Path) -> Path:
    """The control: the same browser and flags, with the machine's fonts (no freezing)."""
    info = resolve_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=info.path, args=launch_args(BrowserInfo(info.path, "chromium")),
            env={**os.environ, **env})
        try:
            page = browser.new_page(viewport={"width": 320, "height": 112})
            page.set_content(html)
            page.evaluate("() => document.fonts.ready.then(() => 1)")
            out.write_bytes(page.screenshot(type="png"))
        finally:
            browser.close()
    return out


@pytest.mark.skipif(not (DEJAVU / "DejaVuSans.ttf").is_file(),
                    reason="needs fonts-dejavu-core (apt-get install fonts-dejavu-core)")
def test_web_fonts_render_identically_on_workers_with_different_system_fonts(
        tmp_path: Path, fonts_api: FontsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(
        tmp_path / "project",
        f'<link rel="stylesheet" href="{fonts_api.url("css2?family=Test+Serif&display=swap")}">',
        '<div class="t" style="top: 2px; font: 34px \'Test Serif\', serif">Loaded Qg</div>'
        '<div class="t" style="top: 40px; font: 30px \'Test Mono\', monospace">Named Qg</div>'
        '<div class="t" style="top: 76px; font: 28px sans-serif">Generic Qg</div>')
    planned = plan(project, RenderOptions(), tmp_path / "plan")
    fonts = {item["name"]: item for item in planned.to_dict()["frozen"] if item["kind"] == "font"}
    # Loaded by the project (a remote asset) and named only (fetched by hfaction).
    assert fonts["Test Serif"]["bytes"] == liberation("LiberationSerif-Regular.ttf").stat().st_size
    assert fonts["Test Mono"]["source"].startswith(fonts_api.url("css2?family=Test+Mono"))
    assert fonts["Test Mono"]["bytes"] > liberation("LiberationMono-Regular.ttf").stat().st_size
    assert any("'sans-serif'" in warning for warning in planned.to_dict()["fonts"]["warnings"])
    requests_after_planning = dict(fonts_api.requests)

    first, second = two_machines(tmp_path)
    a = render_as(first, tmp_path / "plan", tmp_path / "a.mp4", monkeypatch)
    b = render_as(second, tmp_path / "plan", tmp_path / "b.mp4", monkeypatch)
    assert dict(fonts_api.requests) == requests_after_planning  # workers fetch nothing
    assert min(psnr_per_frame(a, b)) >= 50

    # The control proves the two simulated machines do draw a system font differently.
    control = ('<p style="margin: 8px; font: 34px sans-serif">Generic Qg</p>'
               '<p style="margin: 8px; font: 30px serif">System text</p>')
    shot_a = screenshot_without_hfaction(first, control, tmp_path / "control-a.png")
    shot_b = screenshot_without_hfaction(second, control, tmp_path / "control-b.png")
    assert psnr_per_frame(shot_a, shot_b)[0] < 50


def test_fonts_that_cannot_be_fetched_fail_the_plan_naming_family_and_url(
        tmp_path: Path, fonts_api: FontsApi, capsys: pytest.CaptureFixture[str]) -> None:
    named = write_project(tmp_path / "named", "<style>h1 { font-family: 'Nope Sans'; }</style>",
                          "<h1>x</h1>")
    with pytest.raises(FontFetchFailed) as caught:
        plan(named, RenderOptions(), tmp_path / "plan-named")
    assert "'Nope Sans'" in caught.value.message
    assert fonts_api.url("css2?family=Nope+Sans") in caught.value.message

    linked_url = fonts_api.url("css2?family=Gone+Grotesk:wght@400&display=swap")
    linked = write_project(tmp_path / "linked", f'<link rel="stylesheet" href="{linked_url}">',
                           "<p>x</p>")
    with pytest.raises(FontFetchFailed) as caught:
        plan(linked, RenderOptions(), tmp_path / "plan-linked")
    assert "Gone Grotesk" in caught.value.message and linked_url in caught.value.message

    missing_url = fonts_api.url("files/Brand-Sans.ttf")
    declared = write_project(
        tmp_path / "declared",
        f"<style>@font-face {{ font-family: 'Brand Sans'; src: url({missing_url}); }} "
        "p { font-family: 'Brand Sans'; }</style>", "<p>x</p>")
    assert main(["plan", str(declared)]) == 2
    err = capsys.readouterr().err
    assert "FONT_FETCH_FAILED" in err and "'Brand Sans'" in err and missing_url in err
    assert "Traceback" not in err
    assert not (tmp_path / "plan-named").exists()


def _npm_reachable() -> bool:
    try:
        urllib.request.urlopen(NPM_REGISTRY_URL + "/@fontsource%2Finter", timeout=10).close()
        return True
    except OSError:
        return False


def test_bundled_family_renders_without_the_project_loading_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _npm_reachable():
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"the bundled-font test needs the npm registry ({NPM_REGISTRY_URL})")
        pytest.skip(f"needs the npm registry ({NPM_REGISTRY_URL}) for @fontsource/inter")
    monkeypatch.setenv(FONT_CACHE_ENV, str(tmp_path / "font-cache"))
    text = "Hamburgefonstiv 0123"
    style = "position: absolute; left: 8px; top: 8px; font-size: 40px"
    renders: dict[str, Path] = {}
    with BrowserSession(resolve_browser()) as session:
        def render(name: str, project: Path) -> Path:
            plan_dir = tmp_path / f"plan-{name}"
            plan(project, RenderOptions(), plan_dir, session=session)
            renders[name] = render_chunk(plan_dir, 0, tmp_path / f"{name}.mp4",
                                         session=session).path
            return plan_dir

        bundled_plan = render("bundled", FIXTURES / "fonts-bundled")
        # The same page loading Inter itself, from the very file the bundle froze.
        explicit = write_project(
            tmp_path / "explicit",
            "<style>@font-face { font-family: Inter; src: url(inter.woff2); }</style>",
            f'<div style="{style}; font-family: Inter">{text}</div>', size=(480, 64))
        shutil.copy(bundled_plan / "frozen/fonts/inter/inter-latin-400-normal.woff2",
                    explicit / "inter.woff2")
        render("explicit", explicit)
        # A machine font (DejaVu Sans in a font-family declaration would be Inter, as
        # HyperFrames aliases it; the font shorthand is left to the machine).
        fallback = write_project(
            tmp_path / "fallback", "",
            f'<div style="{style}; font: 40px \'DejaVu Sans\'">{text}</div>', size=(480, 64))
        render("fallback", fallback)
    assert min(psnr_per_frame(renders["bundled"], renders["explicit"])) >= 50
    assert max(psnr_per_frame(renders["bundled"], renders["fallback"])) < 30


def _needs_npm() -> None:
    if not _npm_reachable():
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"the bundled-font tests need the npm registry ({NPM_REGISTRY_URL})")
        pytest.skip(f"needs the npm registry ({NPM_REGISTRY_URL}) for @fontsource packages")


TEXT = "Hamburgefonstiv 0123"
TEXT_STYLE = "position: absolute; left: 8px; top: 8px; font-size: 40px"


def _render_pages(tmp_path: Path, pages: dict[str, tuple[str, str]],
                  files: dict[str, dict[str, Path | str]] | None = None) -> dict[str, Path]:
    """Plan and render each page (head, body) in one browser; ``files`` go beside them."""
    renders: dict[str, Path] = {}
    with BrowserSession(resolve_browser()) as session:
        for name, (head, body) in pages.items():
            project = write_project(tmp_path / name, head, body, size=(480, 64))
            for relative, content in (files or {}).get(name, {}).items():
                target = project / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    shutil.copy(content, target)
                else:
                    target.write_text(content)
            plan_dir = tmp_path / f"plan-{name}"
            plan(project, RenderOptions(), plan_dir, session=session)
            renders[name] = render_chunk(plan_dir, 0, tmp_path / f"{name}.mp4",
                                         session=session).path
    return renders


def _inter_file(weight: int) -> Path:
    cache = Path(os.environ[FONT_CACHE_ENV]) / "fontsource"
    found = sorted(cache.glob(f"inter@*/files/inter-latin-{weight}-normal.woff2"))
    assert found, f"no Inter {weight} in the font cache"
    return found[0]


def test_arial_800_draws_inter_900_as_hyperframes_bundles_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`font-family: Arial; font-weight: 800`: Arial is HyperFrames' alias of Inter, whose
    bundle has 400, 700 and 900: the browser's matching draws the 900 face."""
    _needs_npm()
    monkeypatch.setenv(FONT_CACHE_ENV, str(tmp_path / "font-cache"))
    aliased = _render_pages(tmp_path, {"arial": (
        "<style>.t { font-family: Arial, sans-serif; font-weight: 800; }</style>",
        f'<div class="t" style="{TEXT_STYLE}">{TEXT}</div>')})["arial"]
    explicit = {
        f"inter-{weight}": (
            f"<style>@font-face {{ font-family: 'Inter {weight}'; src: url(inter.woff2); "
            f"font-weight: {weight}; }}</style>",
            f'<div style="{TEXT_STYLE}; font-family: \'Inter {weight}\'; '
            f'font-weight: {weight}">{TEXT}</div>')
        for weight in (900, 800)}
    files: dict[str, dict[str, Path | str]] = {
        f"inter-{weight}": {"inter.woff2": _inter_file(weight)} for weight in (900, 800)}
    renders = _render_pages(tmp_path, explicit, files)
    assert min(psnr_per_frame(aliased, renders["inter-900"])) >= 50
    assert max(psnr_per_frame(aliased, renders["inter-800"])) < 40


def test_a_generic_first_family_draws_inter_and_the_shorthand_the_machine_font(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As HyperFrames compiles a page: `font-family: system-ui, sans-serif` (also in a
    nested composition) gets Inter in front; `font: 40px sans-serif` is the render
    machine's sans-serif, Chromium's Arial: Liberation Sans."""
    _needs_npm()
    monkeypatch.setenv(FONT_CACHE_ENV, str(tmp_path / "font-cache"))
    def nested(css: str) -> str:
        return ('<template id="x-template"><div data-composition-id="x" data-width="480" '
                f'data-height="64" data-no-timeline><style>{css} .n {{ font-family: system-ui, '
                f'sans-serif; {TEXT_STYLE} }}</style><div class="n">{TEXT}</div></div>'
                "</template>")
    host = ('<div data-composition-id="x" data-composition-src="compositions/x.html"'
            ' data-start="0" data-duration="0.1" data-width="480" data-height="64"></div>')
    pages = {
        "generic": ("<style>.t { font-family: system-ui, -apple-system, sans-serif; }</style>",
                    f'<div class="t" style="{TEXT_STYLE}">{TEXT}</div>'),
        "nested": ("", host),
        # With an @import (of a stylesheet beside the entry document), the runtime scopes
        # the sheet's rules in place: they are promoted one by one.
        "nested-import": ("", host),
        "inter": ("<style>@font-face { font-family: Mine; src: url(inter.woff2); }</style>",
                  f'<div style="{TEXT_STYLE}; font-family: Mine">{TEXT}</div>'),
        "shorthand": ("<style>.t { font: 40px sans-serif; }</style>",
                      f'<div class="t" style="position: absolute; left: 8px; top: 8px">'
                      f"{TEXT}</div>"),
        "liberation": ("<style>.t { font: 40px 'Liberation Sans'; }</style>",
                       f'<div class="t" style="position: absolute; left: 8px; top: 8px">'
                       f"{TEXT}</div>"),
        "dejavu": ("<style>.t { font: 40px 'DejaVu Sans'; }</style>",
                   f'<div class="t" style="position: absolute; left: 8px; top: 8px">'
                   f"{TEXT}</div>"),
    }
    # Inter 400 is in the cache once the first page is planned.
    first = _render_pages(tmp_path, {"generic": pages.pop("generic")})
    renders = first | _render_pages(
        tmp_path, pages, {"inter": {"inter.woff2": _inter_file(400)},
                          "nested": {"compositions/x.html": nested("")},
                          "nested-import": {"compositions/x.html": nested('@import "extra.css";'),
                                            "extra.css": "p { color: #000; }"}})
    assert min(psnr_per_frame(renders["generic"], renders["inter"])) >= 50
    assert min(psnr_per_frame(renders["nested"], renders["inter"])) >= 50
    assert min(psnr_per_frame(renders["nested-import"], renders["inter"])) >= 50
    assert min(psnr_per_frame(renders["shorthand"], renders["liberation"])) >= 50
    assert max(psnr_per_frame(renders["shorthand"], renders["dejavu"])) < 30
    assert max(psnr_per_frame(renders["shorthand"], renders["inter"])) < 30
