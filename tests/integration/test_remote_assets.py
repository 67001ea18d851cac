"""Remote scripts, stylesheets and fonts are fetched once, at planning; chunk workers
make no network request (tested against an HTTP server on loopback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hfaction.errors import RemoteAssetFetchFailed
from hfaction.render.chunk import render_chunk
from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from hfaction.render.planner import load_plan, plan
from tests.integration.conftest import LoopbackServer, decode_rgb, read_bits

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

TIMELINE_JS = """
const bits = document.getElementById("bits");
for (let i = 0; i < 16; i++) bits.appendChild(document.createElement("div"));
let now = 0;
window.__timelines = { main: {
  totalTime(t) { if (t === undefined) return now; now = t;
    const frame = Math.round(t * 30);
    for (let i = 0; i < 16; i++) bits.children[i].className = (frame >> (15 - i)) & 1 ? "on" : "";
    return this; },
  duration() { return 1; } } };
"""
STYLE_CSS = """@import url("theme.css");
@font-face { font-family: "Remote Bold"; src: url("fonts/remote.ttf") format("truetype"); }
#bits { position: absolute; left: 0; top: 0; width: 160px; height: 60px; display: grid;
        grid-template-columns: repeat(8, 1fr); grid-template-rows: repeat(2, 1fr); }
#bits div { background: #fff; } #bits div.on { background: #000; }
#late { font-family: "Remote Bold"; position: absolute; top: 64px; font-size: 20px; }
"""
THEME_CSS = "body { margin: 0; background: rgb(0, 128, 255); }"


def serve_assets(root: Path) -> None:
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "timeline.js").write_text(TIMELINE_JS)
    (root / "css" / "fonts").mkdir(parents=True)
    (root / "css" / "style.css").write_text(STYLE_CSS)
    (root / "css" / "theme.css").write_text(THEME_CSS)
    shutil.copy(FONT, root / "css" / "fonts" / "remote.ttf")


def remote_project(tmp_path: Path, server: LoopbackServer) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(f"""<!doctype html><html><head>
<link rel="stylesheet" href="{server.url('css/style.css')}"></head><body>
<div data-composition-id="main" data-width="160" data-height="96" data-duration="1">
  <div id="bits"></div>
  <div id="late" class="clip" data-start="0.5" data-duration="0.5">Late text</div>
</div>
<script src="{server.url('lib/timeline.js')}"></script>
</body></html>""")
    return folder


EXPECTED_PATHS = {"/lib/timeline.js", "/css/style.css", "/css/theme.css",
                  "/css/fonts/remote.ttf"}


@pytest.mark.skipif(not FONT.exists(), reason=f"needs {FONT} (apt-get install fonts-dejavu-core)")
def test_remote_assets_are_fetched_once_at_planning(
        tmp_path: Path, loopback_server: tuple[LoopbackServer, Path]) -> None:
    server, root = loopback_server
    serve_assets(root)
    folder = remote_project(tmp_path, server)
    out = tmp_path / "out.mp4"
    result = render_local(folder, out, RenderOptions(chunk_size=10), workers=2)
    assert set(server.requests) == EXPECTED_PATHS
    assert all(count == 1 for count in server.requests.values()), server.requests
    frames = decode_rgb(out)
    assert result.output.frames == 30
    assert [read_bits(frame[:60, :160].mean(axis=2)) for frame in frames] == list(range(30))
    # The imported theme's background reached every frame.
    corner = frames[:, 90:, 150:].reshape(30, -1, 3).mean(axis=1)
    assert (abs(corner - [0, 128, 255]) < 30).all()


@pytest.mark.skipif(not FONT.exists(), reason=f"needs {FONT} (apt-get install fonts-dejavu-core)")
def test_chunks_render_with_the_server_gone(
        tmp_path: Path, loopback_server: tuple[LoopbackServer, Path]) -> None:
    server, root = loopback_server
    serve_assets(root)
    folder = remote_project(tmp_path, server)
    plan_dir = tmp_path / "plan"
    planned = plan(folder, RenderOptions(chunk_size=15), plan_dir)
    fetched = dict(server.requests)
    assert {a.url for a in planned.remote_assets.values()} == {
        server.url(path) for path in EXPECTED_PATHS}
    server.stop()  # any request from a chunk worker would now fail
    for index in range(len(planned.chunks)):
        render_chunk(plan_dir, index, tmp_path / f"c{index}.mp4")
    assert dict(server.requests) == fetched
    assert load_plan(plan_dir).hash == planned.hash


def test_asset_cache_is_used_before_the_network(
        tmp_path: Path, loopback_server: tuple[LoopbackServer, Path]) -> None:
    server, _root = loopback_server
    cache = tmp_path / "cache"
    serve_assets(cache / "127.0.0.1")  # laid out as HOST/PATH
    folder = remote_project(tmp_path, server)
    planned = plan(folder, RenderOptions(asset_cache=cache), tmp_path / "plan")
    assert dict(server.requests) == {}
    assert len(planned.remote_assets) == len(EXPECTED_PATHS)


def test_unreachable_host_names_the_url(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    url = "http://127.0.0.1:9/gsap.min.js"  # the discard port: nothing listens
    (folder / "index.html").write_text(
        '<div data-composition-id="m" data-width="64" data-height="64" data-duration="1" '
        f'data-no-timeline></div><script src="{url}"></script>')
    with pytest.raises(RemoteAssetFetchFailed, match=url):
        plan(folder, RenderOptions(), tmp_path / "plan")
    assert not (tmp_path / "plan").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["project"]
