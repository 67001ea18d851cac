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
    FONT_CACHE_ENV,
    FROZEN_URL,
    GOOGLE_FONTS_ENV,
    PROMOTE_KEY,
    CssFacts,
    FrozenFonts,
    _wanted_member,
    bundled_families,
    bundled_family_for,
    check_integrity,
    face_file_name,
    fallback_digest,
    first_token,
    fontconfig_document,
    freeze_fonts,
    google_css_url,
    match_weight,
    read_css,
    select_bundled_face,
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


def test_font_family_declarations_hyperframes_reads_get_inter_before_a_generic() -> None:
    css = """
    :root { --ui: system-ui, sans-serif; --mono: 'JetBrains Mono', monospace; }
    body { font-family: system-ui, -apple-system, sans-serif; }
    code { font-family: monospace !important; }
    h1 { font-family: var(--ui); }
    h2 { font-family: "Inter", system-ui; }
    p { font: bold 56px sans-serif; }
    """
    facts = CssFacts()
    read_css(css, "http://project.invalid/index.html", "index.html", facts, hyperframes=True)
    assert [families for families, _ in facts.hyperframes_families] == [
        ["Inter", "system-ui", "-apple-system", "sans-serif"],
        ["Inter", "monospace"],
        ["Inter", "system-ui", "sans-serif"],  # through the promoted custom property
        ["Inter", "system-ui"],
    ]
    # The font shorthand is left alone, as HyperFrames leaves it.
    assert ["sans-serif"] in [families for families, _ in facts.families]
    assert [(generic, declaration) for _, generic, declaration in facts.promoted] == [
        ("system-ui", "--ui: system-ui, sans-serif"),
        ("system-ui", "font-family: system-ui, -apple-system, sans-serif"),
        ("monospace", "font-family: monospace !important"),
    ]
    # A stylesheet (not read by HyperFrames for fonts) is taken as written.
    linked = CssFacts()
    read_css(css, "http://project.invalid/site.css", "site.css", linked)
    assert linked.hyperframes_families == [] and linked.promoted == []
    assert linked.families[0][0] == ["system-ui", "-apple-system", "sans-serif"]


@pytest.mark.parametrize(("value", "first"), [
    ("'Inter', sans-serif", "Inter"), ("var(--a, b), serif", "var(--a, b)"),
    (" system-ui ", "system-ui"), ("monospace !important", "monospace"),
])
def test_first_token(value: str, first: str) -> None:
    assert first_token(value) == first


def test_match_weight_follows_css_font_matching() -> None:
    assert match_weight(700, [400, 700]) == 700
    assert match_weight(450, [300, 500, 700]) == 500  # 400..500: up to 500 first
    assert match_weight(450, [300, 700]) == 300  # then down
    assert match_weight(300, [100, 400]) == 100  # below 400: lighter first
    assert match_weight(300, [400, 700]) == 400
    assert match_weight(600, [400, 800]) == 800  # above 500: bolder first
    assert match_weight(900, [400, 700]) == 700
    assert match_weight(800, [400, 700, 900]) == 900  # Inter as HyperFrames bundles it
    assert match_weight(800, [400, 700]) == 700


def test_bundled_set_is_hyperframes_and_pinned_with_integrity() -> None:
    pins = bundled_families()
    assert set(pins) == HYPERFRAMES_SET
    for family, pin in pins.items():
        assert pin["package"] == "@fontsource/" + family.lower().replace(" ", "-"), family
        assert pin["version"].count(".") == 2, family
        assert pin["integrity"].startswith("sha512-"), family
        assert len(base64.b64decode(pin["integrity"][7:])) == 64, family
    # HyperFrames' faces: 42 in all, upright, in these weights only.
    assert {family: pin["weights"] for family, pin in pins.items()
            if pin["weights"] != [400, 700]} == {
        family: [400, 700, 900] for family in ("Inter", "Montserrat", "Outfit", "Nunito",
                                               "Playfair Display", "Roboto", "Lato", "Poppins")
    } | {"League Gothic": [400], "Archivo Black": [400]}
    assert sum(len(pin["weights"]) for pin in pins.values()) == 42
    # The package versions whose latin files HyperFrames embeds byte for byte.
    assert pins["Inter"]["version"] == "5.2.8"
    assert pins["Roboto"]["version"] == "5.2.10"


@pytest.mark.parametrize(("name", "family"), [
    ("Inter", "Inter"), ("inter", "Inter"), ("Helvetica Neue", "Inter"), ("ARIAL", "Inter"),
    ("Helvetica", "Inter"), ("Verdana", "Inter"), ("Tahoma", "Inter"), ("SF Pro Display", "Inter"),
    ("DejaVu Sans", "Inter"), ("Liberation Sans", "Inter"), ("Segoe UI", "Roboto"),
    ("Futura", "Montserrat"), ("DIN Alternate", "Montserrat"), ("Arial Black", "Montserrat"),
    ("Bebas Neue", "League Gothic"), ("Courier New", "JetBrains Mono"),
    ("Courier", "JetBrains Mono"), ("Menlo", "JetBrains Mono"), ("Monaco", "JetBrains Mono"),
    ("Consolas", "JetBrains Mono"), ("Georgia", "EB Garamond"), ("Times", "EB Garamond"),
    ("Times New Roman", "EB Garamond"), ("Garamond", "EB Garamond"),
    ("Palatino", "EB Garamond"), ("Cambria", "EB Garamond"),
    ("Noto Sans Japanese", "Noto Sans JP"), ("noto sans jp", "Noto Sans JP"),
    ("Space  Mono", "Space Mono"),
])
def test_alias_table_is_hyperframes(name: str, family: str) -> None:
    assert bundled_family_for(name) == family


@pytest.mark.parametrize("name", ["Impact", "sans-serif", "system-ui", "serif", "Lobster",
                                  "Comic Sans MS", "-apple-system", "Bebas"])
def test_generic_and_other_families_are_not_aliased(name: str) -> None:
    assert bundled_family_for(name) is None


@pytest.mark.parametrize(("name", "weight", "face"), [
    ("Arial", 800, ("Inter", 900, "inter-latin-900-normal.woff2")),
    ("Inter", 800, ("Inter", 900, "inter-latin-900-normal.woff2")),
    ("Inter", 600, ("Inter", 700, "inter-latin-700-normal.woff2")),
    ("Inter", 500, ("Inter", 400, "inter-latin-400-normal.woff2")),
    ("Inter", 300, ("Inter", 400, "inter-latin-400-normal.woff2")),
    ("Georgia", 900, ("EB Garamond", 700, "eb-garamond-latin-700-normal.woff2")),
    ("Bebas Neue", 700, ("League Gothic", 400, "league-gothic-latin-400-normal.woff2")),
    ("Segoe UI", 800, ("Roboto", 900, "roboto-latin-900-normal.woff2")),
])
def test_weight_selection_picks_the_bundled_face_css_matching_picks(
        name: str, weight: int, face: tuple[str, int, str]) -> None:
    assert select_bundled_face(name, weight) == face


def test_select_bundled_face_of_a_family_not_bundled() -> None:
    assert select_bundled_face("Lobster", 400) is None
    assert select_bundled_face("sans-serif", 400) is None


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
               or alias.findtext("accept/family") for alias in root.iter("alias")}
    assert aliases["sans-serif"] == "DejaVu Sans"
    assert aliases["serif"] == "DejaVu Serif"
    assert aliases["monospace"] == "DejaVu Sans Mono"
    assert aliases["system-ui"] == "DejaVu Sans"
    # Chromium's default fonts, as fontconfig's metric aliases answer them.
    assert aliases["Arial"] == "Liberation Sans"
    assert aliases["Times New Roman"] == "Liberation Serif"
    assert aliases["Courier New"] == "Liberation Mono"
    # Debian's rendering defaults, written out.
    edits = {edit.get("name"): edit[0].tag + ":" + (edit[0].text or "")
             for match in root.iter("match") for edit in match.iter("edit")}
    assert edits["hintstyle"] == "const:hintslight"
    assert edits["antialias"] == "bool:true"
    assert "include" not in document  # nothing of the machine's configuration


def test_the_frozen_machine_fonts_are_dejavu_and_liberation() -> None:
    assert {"DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf"} <= set(FALLBACK_FILES)
    for family in ("Sans", "Serif", "Mono"):
        for style in ("Regular", "Bold", "Italic", "BoldItalic"):
            assert f"Liberation{family}-{style}.ttf" in FALLBACK_FILES


def test_fallback_digest_changes_with_file_content(tmp_path: Path) -> None:
    for name in FALLBACK_FILES:
        (tmp_path / name).write_bytes(name.encode())
    before = fallback_digest(tmp_path)
    (tmp_path / FALLBACK_FILES[0]).write_bytes(b"another build of the font")
    assert fallback_digest(tmp_path) != before


# --- freeze_fonts without network -------------------------------------------------------


@pytest.fixture
def fake_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A font cache holding stand-ins of the pinned packages: no network in these tests."""
    cache = tmp_path / "font-cache"
    for pin in bundled_families().values():
        name = pin["package"].rsplit("/", 1)[-1]
        folder = cache / "fontsource" / f"{name}@{pin['version']}"
        (folder / "files").mkdir(parents=True)
        for weight in (100, 400, 700, 800, 900):
            for subset in ("latin", "latin-ext"):
                (folder / "files" / f"{name}-{subset}-{weight}-normal.woff2").write_bytes(
                    f"{name} {subset} {weight}".encode())
        (folder / ".complete").write_text(pin["integrity"])
    monkeypatch.setenv(FONT_CACHE_ENV, str(cache))
    return cache


@pytest.fixture
def fake_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_bundle: Path) -> Path:
    """Stand-in fallback files (no browser reads them in these tests), and the bundle."""
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
                       '<span style="font-family: \'DejaVu Sans\'">aliased too</span>')
    _plan_dir, frozen = _freeze(project, tmp_path)
    # The generic family is drawn with Inter, as HyperFrames does, and said so; Arial,
    # Helvetica and DejaVu Sans are HyperFrames aliases of Inter: nothing to report.
    assert len(frozen.warnings) == 1
    assert "'system-ui'" in frozen.warnings[0] and "Inter" in frozen.warnings[0]
    assert frozen.promoted == "Inter"
    assert {face["family"] for face in frozen.faces if "src" in face} == {
        "Inter", "Arial", "Helvetica", "DejaVu Sans"}
    with pytest.raises(SystemFontUsed) as caught:
        _freeze(project, tmp_path, strict=True, name="strict-plan")
    assert caught.value.code == "SYSTEM_FONT_USED"
    assert "system-ui" in caught.value.message


def _faces(frozen: FrozenFonts) -> dict[str, list[tuple[str, str, str]]]:
    faces: dict[str, list[tuple[str, str, str]]] = {}
    for face in frozen.faces:
        if "src" in face:
            assert "unicodeRange" not in face  # bundled faces cover all they have
            faces.setdefault(face["family"], []).append(
                (face["weight"], face["style"], face["src"].rsplit("/", 1)[-1]))
    return faces


def test_aliased_families_get_the_bundled_faces_under_the_names_written(
        tmp_path: Path, fake_fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9")  # nothing is fetched
    project = _project(
        tmp_path, "<style>h1 { font-family: Arial; font-weight: 800; font-style: italic }\n"
        "code { font-family: Menlo, 'Courier New', monospace }</style>"
        '<p style="font-family: \'Helvetica Neue\', Georgia, serif">x</p>'
        '<p data-font-family="Bebas Neue">y</p>')
    plan_dir, frozen = _freeze(project, tmp_path)
    inter = [("400", "normal", "inter-latin-400-normal.woff2"),
             ("700", "normal", "inter-latin-700-normal.woff2"),
             ("900", "normal", "inter-latin-900-normal.woff2")]
    mono = [("400", "normal", "jetbrains-mono-latin-400-normal.woff2"),
            ("700", "normal", "jetbrains-mono-latin-700-normal.woff2")]
    assert _faces(frozen) == {
        "Arial": inter, "Helvetica Neue": inter, "Menlo": mono, "Courier New": mono,
        "Georgia": [("400", "normal", "eb-garamond-latin-400-normal.woff2"),
                    ("700", "normal", "eb-garamond-latin-700-normal.woff2")],
        "Bebas Neue": [("400", "normal", "league-gothic-latin-400-normal.woff2")],
    }
    assert frozen.warnings == [] and frozen.promoted is None
    # One folder per bundled family, holding exactly its bundled faces.
    entries = {entry["path"]: entry for entry in frozen.entries}
    assert entries["frozen/fonts/inter"]["name"] == "Inter (as Arial, Helvetica Neue)"
    assert entries["frozen/fonts/inter"]["source"] == (
        f"npm:@fontsource/inter@{bundled_families()['Inter']['version']}")
    assert sorted(p.name for p in (plan_dir / "frozen/fonts/inter").iterdir()) == [
        face_file_name(bundled_families()["Inter"], weight) for weight in (400, 700, 900)]
    assert all(face["src"].startswith(FROZEN_URL + "fonts/") for face in frozen.faces)


def test_a_family_the_page_declares_is_not_bundled_over(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>@font-face { font-family: Arial; src: url(a.ttf); }"
                       "h1 { font-family: Arial, Inter; }</style>", {"a.ttf": b"font"})
    _plan_dir, frozen = _freeze(project, tmp_path)
    assert set(_faces(frozen)) == {"Inter"}


def test_what_hyperframes_leaves_to_the_machine_is_not_aliased(
        tmp_path: Path, fake_fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HyperFrames reads font-family declarations only: a family the ``font`` shorthand
    names is the machine's (Georgia -> the serif fallback), generic or aliased alike, and
    nothing is fetched for it."""
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9")
    project = _project(tmp_path, "<style>h1 { font: 700 44px Georgia, serif; }\n"
                       "h2 { font: bold 56px sans-serif; } h3 { font: 20px Futura; }\n"
                       "h4 { font: 20px 'Liberation Serif'; } h5 { font: 20px Roboto; }"
                       "</style>")
    _plan_dir, frozen = _freeze(project, tmp_path)
    assert set(_faces(frozen)) == {"Roboto"}  # a bundled family is a web font anywhere
    assert frozen.promoted is None
    assert len(frozen.warnings) == 3
    for warning, name in zip(frozen.warnings, ("'Georgia'", "'sans-serif'", "'Futura'"),
                             strict=True):
        assert warning.startswith("SYSTEM_FONT_USED: index.html:") and name in warning
        assert "machine" in warning


def test_a_generic_custom_property_is_promoted_and_inter_frozen(
        tmp_path: Path, fake_fallback: Path) -> None:
    project = _project(tmp_path, "<style>:root { --font: -apple-system, sans-serif }"
                       "h1 { font: 700 40px var(--font) }</style>")
    _plan_dir, frozen = _freeze(project, tmp_path)
    assert frozen.promoted == "Inter"
    assert set(_faces(frozen)) == {"Inter"}
    assert "'-apple-system'" in frozen.warnings[0]
    assert frozen.plan_data()["faces"] == 3  # the promotion entry is no face
    assert frozen.faces[0] == {PROMOTE_KEY: "Inter"}


def test_nested_composition_imports_resolve_from_the_file_then_the_entry_document(
        tmp_path: Path, fake_fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested composition's CSS ends up in the entry document: a relative URL is the file
    beside the composition if there is one, else the entry document's (as HyperFrames
    rewrites it); inside a stylesheet, relative to that stylesheet."""
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9")  # a miss would fail here
    project = _project(tmp_path, "", {
        "compositions/scene.html": (
            b'<template id="scene-template"><div data-composition-id="scene">'
            b'<style>@import url("fonts.css"); @import "sibling.css";\n'
            b'@import url("../shared/theme.css");\n'
            b".a { font-family: Brand } .b { font-family: Sibling } .c { font-family: Deep }"
            b"</style></div></template>"),
        "fonts.css": b"@font-face { font-family: Brand; src: url(fonts/brand.woff2); }",
        "fonts/brand.woff2": b"brand",
        "compositions/sibling.css": b"@font-face { font-family: Sibling; src: url(s.woff2) }",
        "compositions/s.woff2": b"sibling",
        "shared/theme.css": b'@import "nested/deeper.css";',
        "shared/nested/deeper.css": b"@font-face { font-family: Deep; src: url(d.woff2) }",
        "shared/nested/d.woff2": b"deep",
    })
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    frozen = freeze_fonts(project, ["index.html", "compositions/scene.html"], plan_dir,
                          RemoteFetcher(plan_dir / "remote"))
    assert {entry["name"]: entry["path"] for entry in frozen.entries
            if not entry["name"].startswith("fallback")} == {
        "Brand": "project/fonts/brand.woff2",
        "Sibling": "project/compositions/s.woff2",
        "Deep": "project/shared/nested/d.woff2",
    }
    assert frozen.warnings == []


def test_unloaded_family_unreachable_on_google_fonts_fails_with_family_and_url(
        tmp_path: Path, fake_fallback: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    monkeypatch.setenv(GOOGLE_FONTS_ENV, "http://127.0.0.1:9")
    project = _project(tmp_path, "<style>h1 { font-family: 'Press Start 2P', sans-serif; }"
                       "</style>")
    with pytest.raises(FontFetchFailed) as caught:
        _freeze(project, tmp_path)
    assert "'Press Start 2P'" in caught.value.message
    assert "http://127.0.0.1:9/css2?family=Press+Start+2P" in caught.value.message


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
