"""Chunk seams are invisible: a frame's pixels depend on its time alone, never on which
chunk (or worker) drew it, so lossless renders of any chunking are frame-identical.

The conformance fixtures come from the HyperFrames corpus, found at
``HFACTION_CONFORMANCE``, else ``<repo>/../shared/conformance``; without it they skip,
naming the path.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import conformance
from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.integration.conftest import decode_gray, frame_md5s

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
GSAP_INTRO = REPO / "examples" / "gsap-intro"
CORPUS = conformance.default_corpus()


def _differing(reference: list[str], other: list[str]) -> list[int]:
    return [index for index, (a, b) in enumerate(zip(reference, other, strict=True)) if a != b]


def _assert_chunkings_identical(project: Path, tmp_path: Path, options: RenderOptions,
                                chunk_sizes: tuple[int, ...]) -> None:
    whole = tmp_path / "whole.mp4"
    result = render_local(project, whole, replace(options, crf=0), workers=1)
    frames = result.output.frames
    reference = frame_md5s(whole)
    assert len(reference) == frames
    for size in chunk_sizes:
        if size >= frames:
            continue  # one chunk of this size is the whole render
        chunked = tmp_path / f"chunked-{size}.mp4"
        render_local(project, chunked, replace(options, crf=0, chunk_size=size), workers=2)
        md5s = frame_md5s(chunked)
        assert len(md5s) == frames
        assert _differing(reference, md5s) == [], f"chunks of {size} differ at these frames"


def test_gsap_intro_chunks_are_identical_to_one_chunk(tmp_path: Path) -> None:
    # Its will-change: transform shapes scale in from 0 with an overshoot while chunks
    # of 15 and 30 start, and its headline settles glyph by glyph.
    if not (GSAP_INTRO / "vendor" / "gsap.min.js").is_file():
        pytest.skip(f"{GSAP_INTRO}/vendor/gsap.min.js is missing: run scripts/setup-examples.sh")
    _assert_chunkings_identical(GSAP_INTRO, tmp_path, RenderOptions(), (15, 30))


# A same-origin <iframe> and a content-visibility: auto block, which Chromium shows again
# a varying number of frames after the rest of a skipped page. Each holds a will-change:
# transform box that scales in with an overshoot (CSS animation) and a box moved by
# requestAnimationFrame.
_BOX_STYLE = """
  .grow { position: absolute; left: 20px; top: 40px; width: 60px; height: 60px;
          border-radius: 30px; background: #ffd166; will-change: transform;
          animation: grow 0.8s cubic-bezier(0.3, 1.8, 0.6, 1) both; }
  .move { position: absolute; left: 20px; top: 120px; width: 40px; height: 40px;
          background: #06d6a0; }
  @keyframes grow { from { transform: scale(0); } to { transform: scale(1); } }
"""
_MOVE_SCRIPT = """<script>
  const move = document.querySelector(".move");
  (function tick(now) {
    move.style.transform = "translateX(" + (now / 20).toFixed(2) + "px)";
    requestAnimationFrame(tick);
  })(0);
</script>"""


def _page(left: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
  html, body {{ margin: 0; }}
  #root {{ position: relative; width: 320px; height: 180px; background: #000; }}
  iframe {{ position: absolute; left: 0; top: 0; width: 160px; height: 180px; border: 0; }}
  .auto {{ position: absolute; left: 160px; top: 0; width: 160px; height: 180px;
           background: #553344; content-visibility: auto; }}
  {_BOX_STYLE}
</style></head><body>
<div id="root" data-composition-id="main" data-width="320" data-height="180"
     data-start="0" data-duration="1" data-fps="30" data-no-timeline>
  {left}
  <div class="auto"><div class="grow"></div><div class="move"></div></div>
</div>
{_MOVE_SCRIPT}
</body></html>
"""


_INNER_PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><style>
  html, body {{ margin: 0; width: 160px; height: 180px; background: #334455; overflow: hidden; }}
  {_BOX_STYLE}
</style></head><body><div class="grow"></div><div class="move"></div>
{_MOVE_SCRIPT}
</body></html>
"""


def _write_page(project: Path, left: str) -> None:
    project.mkdir()
    (project / "index.html").write_text(_page(left))
    (project / "inner.html").write_text(_INNER_PAGE)


def _assert_drawn(video: Path, halves: tuple[int, ...]) -> None:
    # Each half shows its background (luma ~67 and ~63) in every frame, never the black page.
    frames = decode_gray(video).astype(float)
    for half in halves:
        assert frames[:, :, half * 160:(half + 1) * 160].mean(axis=(1, 2)).min() > 40


def test_child_frames_and_auto_content_are_drawn(tmp_path: Path) -> None:
    # A page with either is not skipped (capture.SKIPPABLE): its chunks are primed with the
    # frame before their first, which does not make every seam identical.
    project = tmp_path / "framed"
    _write_page(project, '<iframe src="inner.html"></iframe>')
    for size in (None, 7):
        out = tmp_path / f"framed-{size}.mp4"
        render_local(project, out, RenderOptions(crf=0, chunk_size=size), workers=2)
        _assert_drawn(out, (0, 1))


def _corpus_fixtures() -> list[str]:
    if not (CORPUS / "manifest.json").is_file():
        return []
    return sorted(fixture.id for fixture in conformance.load_manifest(CORPUS))


# Every fixture of the corpus, animated or not (a still one must stay still across seams
# too), so fixtures added to the corpus are checked without naming them here.
@pytest.mark.parametrize("fixture_id", _corpus_fixtures() or ["(no corpus)"])
def test_conformance_fixture_chunks_are_identical_to_one_chunk(fixture_id: str,
                                                                tmp_path: Path) -> None:
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"no conformance corpus at {CORPUS} (set HFACTION_CONFORMANCE)")
    fixture = next(f for f in conformance.load_manifest(CORPUS) if f.id == fixture_id)
    variables = {key: value if isinstance(value, str) else json.dumps(value)
                 for key, value in (fixture.variables or {}).items()}
    project = conformance.with_links_restored(fixture, tmp_path / "project")
    options = RenderOptions(fps=fixture.fps, variables=variables)
    _assert_chunkings_identical(project, tmp_path, options, (15, 30))


# An adapter in window.__hfAnime whose picture depends on every time it was seeked to, as
# anime.js timelines that animate one property do (a "to" value starts from what an
# earlier timeline left, fixed when it first renders): the bar's width counts the frame
# times seeked so far.
_PATH_DEPENDENT_ADAPTER = """<!doctype html><html><head><meta charset="utf-8"><style>
  html, body { margin: 0; background: #000; }
  #bar { position: absolute; left: 0; top: 60px; width: 0; height: 40px; background: #fff; }
</style></head><body>
<div id="root" data-composition-id="main" data-width="320" data-height="180"
     data-start="0" data-duration="2" data-fps="30" data-no-timeline><div id="bar"></div></div>
<script>
  const seen = new Set();
  window.__hfAnime = [{
    seek(ms) {
      seen.add(Math.round(ms));
      document.getElementById("bar").style.width = (seen.size * 4) + "px";
    },
  }];
</script></body></html>
"""


def test_anime_adapters_are_seeked_through_the_frames_before_a_chunk(tmp_path: Path) -> None:
    project = tmp_path / "path-dependent"
    project.mkdir()
    (project / "index.html").write_text(_PATH_DEPENDENT_ADAPTER)
    _assert_chunkings_identical(project, tmp_path, RenderOptions(), (15, 30))
