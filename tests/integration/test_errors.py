"""Every bad input gets one line naming what and where, the right exit code, no
traceback, and no output file left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hfaction.cli import main
from hfaction.errors import (
    BrowserGpuNotSoftware,
    ChunkIncomplete,
    ChunkMissing,
    FfmpegVersionMismatch,
    PlanHashMismatch,
)
from hfaction.render.assembler import assemble
from hfaction.render.chunk import render_chunk
from hfaction.render.options import RenderOptions
from hfaction.render.planner import PLAN_FILE, compute_hash, plan
from tests.conftest import FIXTURES

PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
{body}
</body></html>
"""


def project(tmp_path: Path, body: str, name: str = "index.html") -> Path:
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(PAGE.format(body=body))
    return folder


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_failed_cleanly(code: int, output: str, expected_code: int, *needles: str,
                          out_dir: Path) -> None:
    assert code == expected_code, output
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, output
    for needle in needles:
        assert needle in error_lines[0], error_lines[0]
    assert list(out_dir.iterdir()) == []  # no output, no partial file


STATIC_ROOT = ('<div data-composition-id="main" data-width="64" data-height="64" '
               'data-duration="{duration}" {extra}></div>')

CASES = {
    "no-root": ("<div>nothing</div>", 2, ["NO_COMPOSITION_ROOT", "index.html"]),
    "zero-duration": (STATIC_ROOT.format(duration="0", extra="data-no-timeline"), 2,
                      ["INVALID_DURATION", "'main'", "index.html:2"]),
    "bad-size": ('<div data-composition-id="main" data-width="8" data-height="64" '
                 'data-duration="1"></div>', 2, ["INVALID_SIZE", "data-width=8", "index.html:2"]),
    "bad-fps": ('<div data-composition-id="main" data-width="64" data-height="64" '
                'data-duration="1" data-fps="fast" data-no-timeline></div>', 2,
                ["INVALID_FPS", "'fast'", "index.html:2"]),
    "unknown-reference": (
        STATIC_ROOT.format(duration="1", extra="data-no-timeline").replace(
            "></div>", '><div class="clip" data-start="intro + 1" data-duration="1"></div>'
            "</div>"), 2, ["CLIP_REFERENCE_UNRESOLVED", "'intro'", "index.html:2"]),
    "cyclic-reference": (
        STATIC_ROOT.format(duration="1", extra="data-no-timeline").replace(
            "></div>", '>\n<div id="a" class="clip" data-start="b" data-duration="1"></div>\n'
            '<div id="b" class="clip" data-start="a" data-duration="1"></div></div>'),
        2, ["CLIP_REFERENCE_CYCLE", "b -> a -> b", "index.html:3"]),
    "script-error": (
        STATIC_ROOT.format(duration="1", extra="data-no-timeline")
        + "\n<script>\nconst x = 1;\nundefinedFunction();\n</script>", 2,
        ["PAGE_SCRIPT_ERROR", "undefinedFunction", "index.html:5"]),
    "missing-script": (
        STATIC_ROOT.format(duration="1", extra="data-no-timeline")
        + '<script src="vendor/gsap.min.js"></script>', 2,
        ["PAGE_SCRIPT_ERROR", "vendor/gsap.min.js", "not in the project"]),
    # A page without its timeline now renders without it, as in HyperFrames (see
    # test_runtime_adapters); what never gets ready is a readiness gate, e.g. a map.
    "never-ready": (STATIC_ROOT.format(duration="1", extra="data-no-timeline")
                    + "<script>window.__hfGoogleMaps = [{ addListener() {"
                    " return { remove() {} }; } }];</script>", 2,
                    ["READINESS_TIMEOUT", "Google map", "window.__hfGoogleMaps"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_project(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, exit_code, needles = CASES[case]
    folder = project(tmp_path, body)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(folder), "-o", str(out_dir / "x.mp4"),
                            "--ready-timeout", "3"], capsys)
    assert_failed_cleanly(code, output, exit_code, *needles, out_dir=out_dir)


def test_no_index_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(folder), "-o", str(out_dir / "x.mp4")], capsys)
    assert_failed_cleanly(code, output, 2, "ENTRY_NOT_FOUND", "index.html", str(folder),
                          out_dir=out_dir)


def test_missing_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(tmp_path / "nope"), "-o", str(out_dir / "x.mp4")],
                           capsys)
    assert_failed_cleanly(code, output, 2, "PROJECT_NOT_FOUND", "nope", out_dir=out_dir)


def test_unfetchable_remote_script(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   loopback_server: tuple[object, Path]) -> None:
    server, _root = loopback_server
    url = server.url("missing/gsap.min.js")  # type: ignore[attr-defined]
    folder = project(tmp_path, STATIC_ROOT.format(duration="1", extra="data-no-timeline")
                     + f'<script src="{url}"></script>')
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(folder), "-o", str(out_dir / "x.mp4")], capsys)
    assert_failed_cleanly(code, output, 2, "REMOTE_ASSET_FETCH_FAILED", url, "404",
                          out_dir=out_dir)


def test_missing_browser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(FIXTURES / "frame-index"), "-o",
                            str(out_dir / "x.mp4"), "--browser", "/opt/no/chromium"], capsys)
    assert_failed_cleanly(code, output, 1, "BROWSER_NOT_FOUND", "/opt/no/chromium",
                          "apt-get install chromium-headless-shell", out_dir=out_dir)


def test_missing_ffmpeg(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFACTION_FFMPEG", "/opt/no/ffmpeg")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(FIXTURES / "frame-index"), "-o",
                            str(out_dir / "x.mp4")], capsys)
    assert_failed_cleanly(code, output, 1, "FFMPEG_NOT_FOUND", "/opt/no/ffmpeg",
                          "apt-get install ffmpeg", out_dir=out_dir)


def test_unknown_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, output = run_cli(["render", str(FIXTURES / "frame-index"), "-o",
                            str(out_dir / "x.mp4"), "--var", "headline=hi"], capsys)
    assert_failed_cleanly(code, output, 2, "INVALID_VARIABLE", "'headline'", out_dir=out_dir)


@pytest.fixture
def planned(tmp_path: Path) -> Path:
    plan_dir = tmp_path / "plan"
    plan(FIXTURES / "frame-index", RenderOptions(chunk_size=30), plan_dir)
    return plan_dir


def test_changed_project_file_is_a_plan_hash_mismatch(planned: Path, tmp_path: Path) -> None:
    index = planned / "project" / "index.html"
    index.write_text(index.read_text().replace("#000", "#111"))
    with pytest.raises(PlanHashMismatch, match=r"index\.html differs from the plan"):
        render_chunk(planned, 0, tmp_path / "c.mp4")
    assert not (tmp_path / "c.mp4").exists()


def test_edited_plan_is_a_plan_hash_mismatch(planned: Path, tmp_path: Path) -> None:
    data = json.loads((planned / PLAN_FILE).read_text())
    data["frames"] = 59
    (planned / PLAN_FILE).write_text(json.dumps(data))
    with pytest.raises(PlanHashMismatch) as caught:
        render_chunk(planned, 0, tmp_path / "c.mp4")
    assert caught.value.exit_code == 1


def test_other_ffmpeg_is_refused(planned: Path, tmp_path: Path) -> None:
    data = json.loads((planned / PLAN_FILE).read_text())
    data["ffmpeg_version"] = "4.4.2-0ubuntu0.22.04.1"
    data["hash"] = compute_hash(data)  # a consistent plan made elsewhere
    (planned / PLAN_FILE).write_text(json.dumps(data))
    with pytest.raises(FfmpegVersionMismatch, match=r"4\.4\.2"):
        render_chunk(planned, 0, tmp_path / "c.mp4")


def test_assemble_refuses_missing_and_short_chunks(planned: Path, tmp_path: Path) -> None:
    first = render_chunk(planned, 0, tmp_path / "c0.mp4")
    out = tmp_path / "out.mp4"
    with pytest.raises(ChunkMissing, match="chunk 1"):
        assemble(planned, [first.path, tmp_path / "c1.mp4"], out)
    with pytest.raises(ChunkMissing, match="2 chunks"):
        assemble(planned, [first.path], out)
    # A chunk from another plan of the same project, cut shorter.
    other = tmp_path / "other"
    plan(FIXTURES / "frame-index", RenderOptions(chunk_size=20), other)
    short = render_chunk(other, 2, tmp_path / "short.mp4")
    with pytest.raises(ChunkIncomplete, match="20 frames"):
        assemble(planned, [first.path, short.path], out)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.mp4*"))


def test_hardware_gl_is_refused(tmp_path: Path) -> None:
    # No hardware GPU exists on these machines: the page reports one by overriding
    # WebGL's renderer string, which is exactly what the probe reads.
    from hfaction.render.browser import resolve_browser
    from hfaction.render.capture import AssetServer, BrowserSession
    from hfaction.render.planner import load_plan

    plan_dir = tmp_path / "plan"
    plan(FIXTURES / "frame-index", RenderOptions(), plan_dir)
    plan_ = load_plan(plan_dir)
    server = AssetServer(plan_dir / "project", plan_dir / "remote", {})
    with BrowserSession(resolve_browser()) as session:
        page = session.open(server=server, entry=plan_.entry,
                            runtime_config=plan_.runtime_config, size=plan_.capture_size)
        page.load(10)
        page.check_software_gl()  # SwiftShader passes
        page.page.evaluate("""() => {
            const original = WebGLRenderingContext.prototype.getParameter;
            WebGLRenderingContext.prototype.getParameter = function (name) {
              const info = this.getExtension('WEBGL_debug_renderer_info');
              if (info && name === info.UNMASKED_RENDERER_WEBGL) return 'NVIDIA GeForce RTX 4090';
              return original.call(this, name);
            }; }""")
        with pytest.raises(BrowserGpuNotSoftware, match="NVIDIA"):
            page.check_software_gl()
        page.close()
