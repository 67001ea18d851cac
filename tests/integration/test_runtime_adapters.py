"""The page runtime drives what HyperFrames drives besides GSAP: anime.js, Lottie,
three.js/WebGPU pages ("hf-seek"), requestAnimationFrame, map and d3 readiness, same-origin
iframes; it sizes the root, offers window.__hyperframes, keeps its own state out of the
page's names, and renders a page whose timeline never comes without it.

Each test loads a page in the real browser and seeks it as a chunk does; what it checks
stays at its frame-0 value (or fails to load) without the behaviour under test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.errors import ReadinessTimeout
from hfaction.render.browser import resolve_browser
from hfaction.render.capture import (
    SEEK_SHOWING_PAGE,
    AssetServer,
    BrowserSession,
    CompositionPage,
)
from hfaction.render.options import RenderOptions
from hfaction.render.planner import load_plan, plan
from tests.conftest import FIXTURES
from tests.integration.conftest import decode_gray, open_page

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<style>html, body {{ margin: 0; background: #000; }}</style></head><body>
{body}
</body></html>
"""


def write_project(tmp_path: Path, body: str, extra: dict[str, str] | None = None, *,
                  page: str = PAGE) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(page.format(body=body))
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    return folder




def seek(page: CompositionPage, frame: int) -> None:
    # The runtime's own seek, without capture's unseen catch-up frames (capture draws the
    # frames since the last raster reset before a chunk's first frame: see capture.py).
    page.page.evaluate(SEEK_SHOWING_PAGE, [frame, []])


def js(page: CompositionPage, expression: str) -> Any:
    return page.page.evaluate(f"() => {expression}")


def box_left(page: CompositionPage, selector: str) -> float:
    return float(js(page, f"document.querySelector({selector!r}).getBoundingClientRect().left"))


# ---- anime.js ----------------------------------------------------------------------


def test_anime_js_instances_follow_composition_time() -> None:
    with open_page(FIXTURES / "adapter-animejs") as (page, _ready):
        assert box_left(page, "#box") == pytest.approx(0, abs=0.01)
        seek(page, 15)  # 0.5 s of a 1 s slide over 200 px
        assert box_left(page, "#box") == pytest.approx(100, abs=0.01)
        seek(page, 45)  # past its end: held
        assert box_left(page, "#box") == pytest.approx(200, abs=0.01)
        seek(page, 3)  # backwards too
        assert box_left(page, "#box") == pytest.approx(20, abs=0.01)


def test_anime_js_moves_in_the_video_across_chunks(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "anime.mp4"
    code = main(["render", str(FIXTURES / "adapter-animejs"), "-o", str(out), "--crf", "0",
                 "--chunk-size", "20", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    frames = decode_gray(out)
    assert len(frames) == 60
    for frame in (0, 15, 21, 29, 45):
        row = frames[frame, 90]
        lit = [x for x in range(len(row)) if row[x] > 128]
        expected = min(frame / 30, 1.0) * 200
        assert lit and abs(lit[0] - expected) <= 1, (frame, lit[:3])


def test_anime_v3_running_instances_are_discovered(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="2"
     data-no-timeline></div>
<script>
  // anime.js v3 lists what it runs in anime.running; HyperFrames seeks those too.
  window.seen = [];
  window.anime = { running: [{ seek: (ms) => window.seen.push(ms), pause() {} }] };
</script>""")
    with open_page(project) as (page, _ready):
        seek(page, 12)
        assert js(page, "window.__hfAnime.length") == 1
        assert js(page, "window.seen")[-1] == pytest.approx(400)


# ---- Lottie ------------------------------------------------------------------------


def test_lottie_web_animations_are_found_and_seeked_by_milliseconds() -> None:
    # The file runs at 60 fps, the composition at 30: frame 15 is 500 ms, the file's
    # frame 30 (x = 10 + 200 * 30/60 = 110, the square's left edge 100).
    with open_page(FIXTURES / "adapter-lottie") as (page, _ready):
        assert js(page, "window.__hfLottie.length") == 1
        left = "document.querySelector('#anim svg g path').getBoundingClientRect().left"
        assert float(js(page, left)) == pytest.approx(0, abs=0.5)
        seek(page, 15)
        assert js(page, "window.__hfLottie[0].currentFrame") == pytest.approx(30)
        assert float(js(page, left)) == pytest.approx(100, abs=0.5)


def test_dotlottie_players_seek_by_frame_or_percentage(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="4"
     data-no-timeline></div>
<script>
  window.frames2 = []; window.percent = [];
  window.__hfLottie = [
    { totalFrames: 60, frameRate: 30, pause() {},
      setCurrentRawFrameValue: (f) => window.frames2.push(f) },   // dotLottie 2
    { duration: 2, pause() {}, seek: (p) => window.percent.push(p) },  // dotLottie 1
  ];
</script>""")
    with open_page(project) as (page, _ready):
        seek(page, 15)
        assert js(page, "window.frames2")[-1] == pytest.approx(15)
        assert js(page, "window.percent")[-1] == pytest.approx(25)
        seek(page, 90)  # 3 s: past both files' ends
        assert js(page, "window.frames2")[-1] == pytest.approx(59)
        assert js(page, "window.percent")[-1] == pytest.approx(100)


# ---- three.js / WebGPU: hf-seek ---------------------------------------------------------


def test_gpu_pages_get_the_time_and_one_hf_seek_per_frame(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="2"
     data-no-timeline><div id="done"></div></div>
<script>
  window.events = [];
  window.addEventListener("hf-seek", (e) => {
    window.events.push([e.detail.time, window.__hfThreeTime, window.__hfTypegpuTime]);
    // GPU work the frame must wait for: finished on a native task, after the seek returns.
    const channel = new MessageChannel();
    e.detail.waitUntil(new Promise((resolve) => {
      channel.port1.onmessage = () => {
        document.getElementById("done").textContent = String(e.detail.time); resolve(); };
      channel.port2.postMessage(0);
    }));
  });
</script>""")
    with open_page(project) as (page, _ready):
        seek(page, 0)  # the same time again: no second event
        seek(page, 6)
        events = js(page, "window.events")
        assert events == [[0, 0, 0], [pytest.approx(0.2)] * 3]
        assert js(page, "document.getElementById('done').textContent") == "0.2"


# ---- requestAnimationFrame -------------------------------------------------------------


def test_animation_frames_run_once_per_seek_at_the_frame_time(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="2"
     data-no-timeline></div>
<script>
  window.stamps = [];
  function loop(ts) { window.stamps.push(ts); requestAnimationFrame(loop); }
  requestAnimationFrame(loop);
  const cancelled = requestAnimationFrame(() => window.stamps.push("cancelled"));
  cancelAnimationFrame(cancelled);
</script>""")
    with open_page(project) as (page, _ready):
        time.sleep(0.2)  # the browser's own frames run none of them
        seek(page, 1)
        seek(page, 2)
        assert js(page, "window.stamps") == [0, pytest.approx(1000 / 30), pytest.approx(2000 / 30)]


# ---- iframes -----------------------------------------------------------------------------


CHILD_PAGE = """<!doctype html><html><body style="margin:0">
<div id="dial" style="width:20px;height:20px;background:#fff"></div>
<script>
  window.stamps = [];
  function animate(ts) {
    window.stamps.push(ts);
    document.getElementById("dial").style.transform = "translateX(" + ts / 10 + "px)";
    requestAnimationFrame(animate);
  }
  requestAnimationFrame(animate);
</script></body></html>"""


def test_same_origin_iframes_run_on_composition_time(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="320" data-height="64" data-duration="2"
     data-no-timeline>
  <iframe src="child.html" width="320" height="64" style="border:0" class="clip"
          data-start="0" data-duration="2"></iframe>
</div>""", {"child.html": CHILD_PAGE})
    with open_page(project) as (page, _ready):
        child = page.page.frames[1]
        seek(page, 15)
        assert child.evaluate("() => window.stamps") == [0, 500]
        assert child.evaluate("() => performance.now()") == 500
        assert child.evaluate(
            "() => document.getElementById('dial').getBoundingClientRect().left") == 50


# ---- readiness -------------------------------------------------------------------------


MAP_PAGE = """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-no-timeline><div id="state">loading</div></div>
<script>
  const listeners = [];
  window.__hfGoogleMaps = [{ addListener(event, cb) {
    if (event === "tilesloaded") listeners.push(cb);
    return { remove() {} };
  } }];
  %s
</script>"""


def test_a_map_gates_readiness_until_its_tiles_load(tmp_path: Path) -> None:
    # The tiles arrive from a timer; readiness runs the page's timers while it waits.
    project = write_project(tmp_path, MAP_PAGE % """setTimeout(() => {
    document.getElementById("state").textContent = "tiles";
    listeners.forEach((cb) => cb());
  }, 300);""")
    with open_page(project) as (page, _ready):
        assert js(page, "document.getElementById('state').textContent") == "tiles"


def test_a_map_that_never_loads_is_a_readiness_timeout(tmp_path: Path) -> None:
    project = write_project(tmp_path, MAP_PAGE % "")
    with pytest.raises(ReadinessTimeout, match="__hfGoogleMaps"), open_page(project, timeout=3):
        pass


def test_d3_transitions_gate_readiness(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-no-timeline><div id="state">running</div></div>
<script>
  // A transition that ends 300 ms in; readiness runs the page's timers while it waits.
  const ended = new Promise((resolve) => setTimeout(() => {
    document.getElementById("state").textContent = "ended"; resolve(); }, 300));
  window.__hfD3 = [{ end: () => ended }];
</script>""")
    with open_page(project) as (page, _ready):
        assert js(page, "document.getElementById('state').textContent") == "ended"


# ---- a timeline that never comes -----------------------------------------------------


def test_a_page_without_its_timeline_renders_without_it(tmp_path: Path) -> None:
    # No data-no-timeline, no timeline: rendered as a CSS composition after a short wait,
    # with a warning; its length is its finite CSS animation's (no data-duration).
    project = write_project(tmp_path, """
<style>@keyframes grow { from { width: 0 } to { width: 64px } }
#bar { height: 8px; background: #fff; animation: grow 2s linear both; }</style>
<div data-composition-id="main" data-width="64" data-height="64"><div id="bar"></div></div>""")
    started = time.monotonic()
    with open_page(project) as (page, ready):
        assert time.monotonic() - started < 10
        assert ready.warnings == [
            'timeline "main" is not registered in window.__timelines; rendering without it '
            "(mark a composition without a timeline data-no-timeline)"]
        assert ready.timeline_duration == pytest.approx(2)
        seek(page, 30)
        assert js(page, "document.getElementById('bar').getBoundingClientRect().width") == 32


def test_a_timeline_registered_from_a_timer_is_waited_for(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64"></div>
<script>
  setTimeout(() => {
    window.__timelines = window.__timelines || {};
    window.__timelines.main = { duration: () => 2.5, totalDuration: () => 2.5,
                                totalTime() {}, paused: () => true, play() {}, pause() {} };
  }, 500);
</script>""")
    with open_page(project) as (_page, ready):
        assert ready.warnings == []
        assert ready.timeline_duration == pytest.approx(2.5)
        assert ready.timelines == ["main"]


# ---- root sizing, page API, namespace --------------------------------------------------


def test_the_root_gets_its_declared_size(tmp_path: Path) -> None:
    # No CSS at all: the root is data-width x data-height at the page's corner (no default
    # body margin), its timed children fill it.
    project = write_project(tmp_path, """
<div id="root" data-composition-id="main" data-width="200" data-height="100" data-duration="1"
     data-no-timeline>
  <div id="layer" class="clip" data-start="0" data-duration="1"
       style="background: linear-gradient(#fff, #fff)"></div>
</div>""", page="<!doctype html><html><head></head><body>{body}</body></html>")
    with open_page(project) as (page, _ready):
        root = js(page, """(() => { const r = document.getElementById('root');
            const box = r.getBoundingClientRect(); const s = getComputedStyle(r);
            return [box.left, box.top, box.width, box.height, s.overflow, s.position,
                    r.style.getPropertyValue('--comp-width')]; })()""")
        assert root == [0, 0, 200, 100, "hidden", "relative", "200px"]
        layer = js(page, """(() => { const b = document.getElementById('layer')
            .getBoundingClientRect(); return [b.left, b.top, b.width, b.height]; })()""")
        assert layer == [0, 0, 200, 100]


def test_page_api_and_a_page_of_its_own_window_hf(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-no-timeline data-composition-variables='[{"id": "title", "type": "string",
     "label": "Title", "default": "Hello"}]'><p id="title"></p></div>
<script>
  // HyperFrames pages may define window.__hf themselves.
  window.__hf = { duration: 1, seek: () => {} };
  const vars = window.__hyperframes.getVariables();
  document.getElementById("title").textContent = vars.title;
  window.fit = window.__hyperframes.fitTextFontSize("Hi", { maxWidth: 1000 });
</script>""")
    with open_page(project) as (page, _ready):
        seek(page, 10)
        assert js(page, "document.getElementById('title').textContent") == "Hello"
        assert js(page, "window.fit") == {"fontSize": 78, "fits": True}
        assert js(page, "Object.keys(window.__hf)") == ["duration", "seek"]
        assert js(page, "Object.keys(window).filter((k) => k.startsWith('__hfaction'))") == []


def test_variables_page_renders_with_planned_values(tmp_path: Path) -> None:
    project = write_project(tmp_path, """
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-no-timeline></div>
<script>document.body.dataset.title = window.__hyperframes.getVariables().title;</script>""")
    html = project / "index.html"
    html.write_text(html.read_text().replace(
        "<html>", """<html data-composition-variables='[{"id": "title", "type": "string",
        "label": "T", "default": "Default"}]'>"""))
    plan_dir = tmp_path / "plan"
    plan(project, RenderOptions(variables={"title": "Given"}), plan_dir)
    plan_ = load_plan(plan_dir)
    server = AssetServer(plan_dir / "project", plan_dir / "remote", {})
    with BrowserSession(resolve_browser()) as session:
        page = session.open(server=server, entry=plan_.entry,
                            runtime_config=plan_.runtime_config, size=plan_.capture_size)
        try:
            page.load(20)
            assert js(page, "document.body.dataset.title") == "Given"
        finally:
            page.close()
