"""Font discovery and freezing without a browser or network: reading CSS, choosing faces,
the pinned bundled set, the generated fontconfig file, and planning-time failures."""

from __future__ import annotations

import base64
import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hfaction.errors import FontFetchFailed, SystemFontUsed, UnsafePath
from hfaction.render.assets import RemoteFetcher
from hfaction.render.fonts import (
    FALLBACK_DIR_ENV,
    FALLBACK_FILES,
    GOOGLE_FONTS_ENV,
    CssFacts,
    FrozenFonts,
    _wanted_member,
    bundled_families,
    check_integrity,
    fallback_digest,
    fontconfig_document,
    freeze_fonts,
    google_css_url,
    match_weight,
    read_css,
    shorthand_families,
    split_families,
)

HYPERFRAMES_SET = {
    "Inter", "Montserrat", "Outfit", "Nunito", "Oswald", "League Gothic", "Archivo Black",
    "Space Mono", "IBM Plex Mono", "JetBrains Mono", "EB Garamond", "Playfair Display",
    "Source Code Pro", "Noto Sans JP", "Roboto", "Open Sans", "Lato", "Poppins",
}


def test_split_families_handles_quotes_spaces_and_generics() -> None:
    value = """ "Playfair Display", 'Noto Sans JP' ,Helvetica   Neue, sans-serif !important"""
    assert split_families(value) == ["Playfair Display", "Noto Sans JP", "Helvetica Neue",
                                     "sans-serif"]


@pytest.mark.parametrize(("value", "families"), [
    ("bold 48px/1.2 Inter, sans-serif", ["Inter", "sans-serif"]),
    ("italic 600 2rem 'Space Mono'", ["Space Mono"]),
    ("16px / 1.5 Lato", ["Lato"]),
    ("menu", ["system-ui"]),
    ("inherit", []),
])
def test_font_shorthand_family_list(value: str, families: list[str]) -> None:
    assert shorthand_families(value) == families


def test_read_css_collects_faces_families_weights_styles_and_imports() -> None:
    css = """
    /* font-family: Commented Out; */
    @import url("theme.css");
    :root { --display: "Oswald", serif; }
    @font-face { font-family: "Brand"; src: url(fonts/brand.woff2) format("woff2"),
                 url(data:font/woff2;base64,AAAA); font-weight: 300; font-style: italic; }
    h1 { font-family: var(--display); font-weight: 800; }
    p { font: italic bold 20px/1.4 Brand, sans-serif; }
    """
    facts = CssFacts()
    imports = read_css(css, "https://example.com/css/site.css", "site.css", facts)
    assert imports == ["https://example.com/css/theme.css"]
    assert [(f.family, f.urls, f.weight, f.style) for f in facts.faces] == [
        ("Brand", ("https://example.com/css/fonts/brand.woff2",), "300", "italic")]
    assert [families for families, _ in facts.families] == [["Oswald", "serif"],
                                                             ["Brand", "sans-serif"]]
    assert facts.weights == {800, 700}
    assert facts.italic


def test_match_weight_follows_css_font_matching() -> None:
    assert match_weight(700, [400, 700]) == 700
    assert match_weight(450, [300, 500, 700]) == 500  # 400..500: up to 500 first
    assert match_weight(450, [300, 700]) == 300  # then down
    assert match_weight(300, [100, 400]) == 100  # below 400: lighter first
    assert match_weight(300, [400, 700]) == 400
    assert match_weight(600, [400, 800]) == 800  # above 500: bolder first
    assert match_weight(900, [400, 700]) == 700


def test_bundled_set_is_hyperframes_and_pinned_with_integrity() -> None:
    pins = bundled_families()
    assert set(pins) == HYPERFRAMES_SET
    for family, pin in pins.items():
        assert pin["package"].startswith("@fontsource/"), family
        assert pin["version"].count(".") == 2, family
        assert pin["integrity"].startswith("sha512-"), family
        assert len(base64.b64decode(pin["integrity"][7:])) == 64, family


def test_check_integrity_accepts_only_matching_bytes() -> None:
    body = b"package bytes"
    good = "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()
    assert check_integrity(body, good)
    assert not check_integrity(body + b"!", good)
    assert not check_integrity(body, "md5-" + base64.b64encode(hashlib.md5(body).digest()).decode())


def test_tarball_members_outside_the_package_or_unneeded_are_skipped() -> None:
    assert _wanted_member("package/400.css")
    assert _wanted_member("package/files/inter-latin-400-normal.woff2")
    assert _wanted_member("package/metadata.json")
    assert not _wanted_member("package/files/inter-latin-400-normal.woff")
    assert not _wanted_member("package/../../etc/passwd.css")
    assert not _wanted_member("other/400.css")
    assert not _wanted_member("package/files/sub/x.woff2")


def test_google_css_url_asks_for_the_weights_and_italics_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9/")
    assert google_css_url("Bebas Neue", {700, 400}, False) == (
        "http://127.0.0.1:9/css2?family=Bebas+Neue:wght@400;700&display=block")
    assert google_css_url("Lobster", {400}, True) == (
        "http://127.0.0.1:9/css2?family=Lobster:ital,wght@0,400;1,400&display=block")
    assert google_css_url("A&B", {400}, False, plain=True) == (
        "http://127.0.0.1:9/css2?family=A%26B&display=block")


def test_fontconfig_document_has_only_the_given_folder_and_aliases_generics(
        tmp_path: Path) -> None:
    fonts = tmp_path / "fonts & <more>"
    document = fontconfig_document(fonts, tmp_path / "cache")
    root = ET.fromstring(document.split("\n", 2)[2])  # past the XML and DOCTYPE lines
    assert [element.text for element in root.iter("dir")] == [str(fonts)]
    aliases = {alias.findtext("family"): alias.findtext("prefer/family")
               for alias in root.iter("alias")}
    assert aliases["sans-serif"] == "DejaVu Sans"
    assert aliases["serif"] == "DejaVu Serif"
    assert aliases["monospace"] == "DejaVu Sans Mono"
    assert "include" not in document  # nothing of the machine's configuration


def test_fallback_digest_changes_with_file_content(tmp_path: Path) -> None:
    for name in FALLBACK_FILES:
        (tmp_path / name).write_bytes(name.encode())
    before = fallback_digest(tmp_path)
    (tmp_path / FALLBACK_FILES[0]).write_bytes(b"another build of the font")
    assert fallback_digest(tmp_path) != before


# --- freeze_fonts without network -------------------------------------------------------


@pytest.fixture
def fake_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in fallback files: no browser reads them in these tests."""
    folder = tmp_path / "dejavu"
    folder.mkdir()
    for name in FALLBACK_FILES:
        (folder / name).write_bytes(b"font " + name.encode())
    monkeypatch.setenv(FALLBACK_DIR_ENV, str(folder))
    return folder


def _project(tmp_path: Path, head: str, files: dict[str, bytes] | None = None) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "index.html").write_text(
        f"<!doctype html><html><head>{head}</head><body>"
        '<div data-composition-id="main" data-width="160" data-height="90" data-duration="1">'
        "<p>text</p></div></body></html>")
    for name, content in (files or {}).items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(content)
    return project


def _freeze(project: Path, tmp_path: Path, *, strict: bool = False,
            name: str = "plan") -> tuple[Path, FrozenFonts]:
    plan_dir = tmp_path / name
    plan_dir.mkdir()
    fetcher = RemoteFetcher(plan_dir / "remote")
    return plan_dir, freeze_fonts(project, ["index.html"], plan_dir, fetcher, strict=strict)


def test_local_font_face_is_listed_with_its_size_and_the_fallback_is_frozen(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, """<link rel="stylesheet" href="css/site.css">""", {
        "css/site.css": b"@font-face { font-family: Brand; src: url(../fonts/brand.ttf); }\n"
                        b"body { font-family: Brand, sans-serif; }",
        "fonts/brand.ttf": b"x" * 1234,
    })
    plan_dir, frozen = _freeze(project, tmp_path)
    entries = {item["name"]: item for item in frozen.entries}
    assert entries["Brand"]["path"] == "project/fonts/brand.ttf"
    assert entries["Brand"]["bytes"] == 1234
    fallback = next(item for name, item in entries.items() if name.startswith("fallback"))
    assert fallback["bytes"] == sum((fake_fallback / n).stat().st_size for n in FALLBACK_FILES)
    assert sorted(p.name for p in (plan_dir / fallback["path"]).iterdir()) == sorted(
        FALLBACK_FILES)
    assert frozen.warnings == []
    assert frozen.faces == []  # the project loads its own


def test_missing_local_font_file_fails_naming_family_and_path(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>@font-face { font-family: 'Brand Serif'; "
                       "src: url('fonts/missing.woff2'); } h1 { font-family: 'Brand Serif'; }"
                       "</style>")
    with pytest.raises(FontFetchFailed) as caught:
        _freeze(project, tmp_path)
    assert "'Brand Serif'" in caught.value.message
    assert "fonts/missing.woff2" in caught.value.message
    assert caught.value.exit_code == 2


def test_font_face_urls_resolve_inside_the_project_only(
        tmp_path: Path, fake_fallback: Path) -> None:
    # As in the browser, "../" cannot climb above the site root: the project folder.
    project = _project(tmp_path, "<style>@font-face { font-family: X; "
                       "src: url('../../../etc/hostname'); } p { font-family: X; }</style>")
    with pytest.raises(FontFetchFailed) as caught:
        _freeze(project, tmp_path)
    assert "'etc/hostname', which is not in the project" in caught.value.message


def test_font_file_linked_outside_the_project_is_refused(
        tmp_path: Path, fake_fallback: Path) -> None:
    outside = tmp_path / "secret.ttf"
    outside.write_bytes(b"not for the plan")
    project = _project(tmp_path, "<style>@font-face { font-family: X; src: url(f.ttf); } "
                       "p { font-family: X; }</style>")
    (project / "f.ttf").symlink_to(outside)
    with pytest.raises(UnsafePath):
        _freeze(project, tmp_path)


def test_generic_first_choice_warns_and_strict_refuses(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>p { font-family: system-ui, sans-serif; }\n"
                       "h1 { font-family: Arial, Helvetica; }</style>"
                       '<span style="font-family: \'DejaVu Sans\'">frozen fallback</span>')
    _plan_dir, frozen = _freeze(project, tmp_path)
    warnings = frozen.warnings
    assert len(warnings) == 2
    assert "'system-ui'" in warnings[0] and "'Arial'" in warnings[1]
    with pytest.raises(SystemFontUsed) as caught:
        _freeze(project, tmp_path, strict=True, name="strict-plan")
    assert caught.value.code == "SYSTEM_FONT_USED"
    assert "system-ui" in caught.value.message


def test_unloaded_family_unreachable_on_google_fonts_fails_with_family_and_url(
        tmp_path: Path, fake_fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9")
    project = _project(tmp_path, "<style>h1 { font-family: 'Bebas Neue', sans-serif; }</style>")
    with pytest.raises(FontFetchFailed) as caught:
        _freeze(project, tmp_path)
    assert "'Bebas Neue'" in caught.value.message
    assert "http://127.0.0.1:9/css2?family=Bebas+Neue" in caught.value.message


def test_plan_data_is_json(tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>p { font: 12px monospace; }</style>")
    _plan_dir, frozen = _freeze(project, tmp_path)
    data = frozen.plan_data()
    assert json.loads(json.dumps(data)) == data
    assert data["fallback"] == "frozen/fonts/fallback"


def test_findings_name_their_file_and_line(tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "\n<style>\n/* a\ncomment */\n@font-face { font-family: A;\n"
                       "src: url(b.ttf); }\n\nh1 {\n  font-family: sans-serif;\n}</style>")
    with pytest.raises(FontFetchFailed, match=r"'A' \(index.html:5\) loads 'b.ttf'"):
        _freeze(project, tmp_path)
    (project / "b.ttf").write_bytes(b"font")
    _plan_dir, frozen = _freeze(project, tmp_path, name="plan-2")
    assert frozen.warnings[0].startswith("SYSTEM_FONT_USED: index.html:9 names 'sans-serif'")


def test_svg_font_attribute_and_local_only_faces_are_seen(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>@font-face { font-family: Mine; src: local(Arial); }"
                       "p { font-family: Mine; }</style>"
                       '<svg><text font-family="Helvetica, sans-serif">x</text></svg>')
    _plan_dir, frozen = _freeze(project, tmp_path)
    assert len(frozen.warnings) == 2
    assert "'Mine'" in frozen.warnings[0] and "local()" in frozen.warnings[0]
    assert "'Helvetica'" in frozen.warnings[1]


def test_font_environment_is_private_and_removed(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from hfaction.render.fonts import FontEnvironment

    source = tmp_path / "fallback"
    source.mkdir()
    for name in FALLBACK_FILES:
        (source / name).write_bytes(name.encode())
    monkeypatch.setenv("FONTCONFIG_PATH", "/etc/fonts")
    environment = FontEnvironment(source)
    try:
        env = environment.env()
        config = Path(str(env["FONTCONFIG_FILE"]))
        assert "FONTCONFIG_PATH" not in env
        assert config.is_relative_to(environment.root)
        font_dir = environment.root / "fonts"
        assert f"<dir>{font_dir}</dir>" in config.read_text()
        assert sorted(p.name for p in font_dir.iterdir()) == sorted(FALLBACK_FILES)
        assert environment.digest == fallback_digest(source)
    finally:
        environment.close()
    assert not environment.root.exists()


def test_two_families_with_the_same_slug_get_their_own_folders_and_hashes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'Brand Sans' and 'Brand-Sans' from a loopback Google Fonts stand-in: each frozen
    entry's hash must cover exactly its own files, or the plan fails its own check."""
    from urllib.parse import parse_qs, urlsplit

    from hfaction.render.fonts import FALLBACK_FILES, freeze_fonts
    from hfaction.render.project import frozen_sha256
    from tests.loopback import RecordingServer, Reply, Request

    def google_fonts(request: Request) -> Reply:
        parts = urlsplit(request.path)
        if parts.path == "/css2":
            family = parse_qs(parts.query)["family"][0].split(":")[0]
            return 200, {}, (f"@font-face {{ font-family: '{family}'; font-weight: 400; "
                             f"src: url({server.url}/files/{family.replace(' ', '_')}.woff2); "
                             "}").encode()
        return 200, {}, f"FONT {parts.path}".encode()

    server = RecordingServer(google_fonts)
    try:
        monkeypatch.setenv("HFACTION_GOOGLE_FONTS_URL", server.url)
        fallback = tmp_path / "fallback"
        fallback.mkdir()
        for name in FALLBACK_FILES:
            (fallback / name).write_bytes(name.encode())
        monkeypatch.setenv("HFACTION_FALLBACK_FONTS_DIR", str(fallback))
        project, plan_dir = tmp_path / "project", tmp_path / "plan"
        project.mkdir()
        plan_dir.mkdir()
        (project / "index.html").write_text(
            "<style>h1{font-family:'Brand Sans'} h2{font-family:'Brand-Sans'}</style>"
            "<h1>a</h1><h2>b</h2>")
        frozen = freeze_fonts(project, ["index.html"], plan_dir,
                              RemoteFetcher(plan_dir / "remote"))
    finally:
        server.stop()
    brand = [entry for entry in frozen.entries if entry["name"].lower().startswith("brand")]
    assert len({entry["path"] for entry in brand}) == 2
    for entry in brand:
        assert entry["sha256"] == frozen_sha256(plan_dir / entry["path"])
