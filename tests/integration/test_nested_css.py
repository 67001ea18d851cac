"""Nested compositions keep the selectors their authors wrote, and a project's own
symbolic links are rendered from, with the real browser and ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES
from tests.integration.conftest import decode_rgb


def colour_at(frame: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    """The mean colour of the 10x10 square at (x, y)."""
    patch = frame[y:y + 10, x:x + 10].reshape(-1, 3).astype(int)
    return tuple(int(v) for v in patch.mean(axis=0).round())


def assert_colours(frame: np.ndarray, expected: dict[str, tuple[tuple[int, int],
                                                                 tuple[int, int, int]]]) -> None:
    got = {name: colour_at(frame, *where) for name, (where, _colour) in expected.items()}
    wrong = {name: (got[name], colour) for name, (_where, colour) in expected.items()
             if max(abs(g - c) for g, c in zip(got[name], colour, strict=True)) > 24}
    assert not wrong, f"(got, expected) by cell: {wrong}"


def test_nested_composition_selectors_reach_what_they_name(tmp_path: Path) -> None:
    out = tmp_path / "nested-css.mp4"
    render_local(FIXTURES / "nested-css", out, RenderOptions(crf=0), workers=1)
    frame = decode_rgb(out)[0]
    assert_colours(frame, {
        # [data-composition-id="box"] alone styles the composition's box ...
        "box: its own box": ((70, 70), (0, 0, 255)),
        # ... and inside a selector still matches, since the host keeps the id.
        "box: [data-composition-id] .title": ((20, 20), (255, 255, 0)),
        # Its script's document.querySelector('[data-composition-id="box"]') is the host.
        "box: script found its host": ((20, 70), (255, 255, 255)),
        # A host without data-composition-id: the composition's own id still applies,
        "anon: its own box": ((170, 70), (0, 255, 0)),
        # and @keyframes are not renamed or scoped away.
        "anon: keyframes": ((120, 20), (255, 0, 255)),
        # body in a nested file is the composition's box, not the page's body.
        "ids: body is its box": ((270, 70), (0, 255, 255)),
        # #<id of the composition's root> still reaches the root.
        "ids: #root-id .title": ((220, 20), (255, 128, 0)),
        # The root's own .title: no nested rule (not even one inside @media) reaches it.
        "root: .title": ((340, 40), (255, 0, 0)),
        # The page's body stays black: the nested body rule did not reach it.
        "root: page background": ((340, 92), (0, 0, 0)),
    })


def test_a_linked_folder_beside_the_project_is_rendered_from(tmp_path: Path) -> None:
    # src/shared -> ../shared, the layout of a monorepo that shares brand assets.
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "brand.css").write_text(
        ".card { position: absolute; inset: 0; background: rgb(0, 200, 0); }")
    project = tmp_path / "src"
    project.mkdir()
    (project / "shared").symlink_to("../shared", target_is_directory=True)
    (project / "index.html").write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="shared/brand.css">'
        '<style>html, body { margin: 0; background: #000; }</style></head><body>'
        '<div data-composition-id="main" data-no-timeline data-width="64" data-height="64" '
        'data-duration="0.5" style="position: relative; width: 64px; height: 64px">'
        '<div class="card"></div></div></body></html>')
    out = tmp_path / "linked.mp4"
    result = render_local(project, out, RenderOptions(crf=0), workers=1)
    assert "shared/brand.css" in [item.path for item in result.plan.files]
    assert_colours(decode_rgb(out)[0], {"card": ((27, 27), (0, 200, 0))})
