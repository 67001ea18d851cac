"""``hfaction render --batch``: one video per row, each with its own variables; a row that
fails at render time fails alone (exit 1), ``--fail-fast`` stops there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hfaction.cli import main
from tests.integration.conftest import decode_rgb

pytestmark = pytest.mark.browser

VARIABLES = [
    {"id": "name", "type": "string", "label": "Name", "default": "World"},
    {"id": "bg", "type": "color", "label": "Background", "default": "#000000"},
]
# 160x90, 1 s at 10 fps: the background is the colour variable, the white label the text
# one; a page script throws for the name "boom" (a row that fails only when rendered).
PAGE = """<!doctype html>
<html data-composition-variables='{variables}'>
<head><style>
html, body {{ margin: 0; background: #000; }}
#stage {{ width: 160px; height: 90px; background: var(--bg); position: relative;
          overflow: hidden; }}
#label {{ position: absolute; left: 4px; top: 56px; font: 24px "Inter"; color: #fff;
          white-space: nowrap; }}
</style></head>
<body>
<div id="stage" data-composition-id="main" data-width="160" data-height="90"
     data-duration="1" data-fps="10" data-no-timeline>
  <span id="label" data-var-text="name">name</span>
</div>
<script>
  if (window.__hyperframes.getVariables().name === "boom") throw new Error("boom");
</script>
</body></html>
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(PAGE.format(variables=json.dumps(VARIABLES)))
    return folder


def background(video: Path) -> np.ndarray:
    """The mean colour of the top half of the last frame (above the label)."""
    frames = decode_rgb(video)
    assert frames.shape == (10, 90, 160, 3)
    return np.asarray(frames[-1, :40].reshape(-1, 3).mean(axis=0))


def label_pixels(video: Path) -> int:
    """White pixels in the label's band of the last frame."""
    band = decode_rgb(video)[-1, 50:]
    return int((band.min(axis=2) > 180).sum())


def assert_colour(video: Path, expected: tuple[int, int, int]) -> None:
    got = background(video)
    assert np.abs(got - np.array(expected)).max() < 24, (video.name, got)


def batch_statuses(out: Path) -> list[tuple[str, str]]:
    written = json.loads((out / "batch.json").read_text())
    return [(row["output"], row["status"]) for row in written["rows"]]


def test_three_rows_render_three_videos_as_their_variables_say(tmp_path: Path,
                                                               project: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"name": "Ada", "bg": "#ff0000", "output": "ada"}\n'
                    '{"name": "Bartholomew", "bg": "#0000ff", "output": "bart.mp4"}\n'
                    '{"bg": "#00ff00"}\n')
    out = tmp_path / "out"
    assert main(["render", str(project), "--batch", str(rows), "-o", str(out),
                 "--workers", "1"]) == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "ada.mp4", "bart.mp4", "batch.json", "row-0003.mp4"]
    assert_colour(out / "ada.mp4", (255, 0, 0))
    assert_colour(out / "bart.mp4", (0, 0, 255))
    assert_colour(out / "row-0003.mp4", (0, 255, 0))
    # The text variable: a longer name paints more of the label; the default ("World") too.
    ada, bart, world = (label_pixels(out / name)
                        for name in ("ada.mp4", "bart.mp4", "row-0003.mp4"))
    assert 0 < ada < world < bart
    written = json.loads((out / "batch.json").read_text())
    assert [row["frames"] for row in written["rows"]] == [10, 10, 10]
    assert batch_statuses(out) == [("ada.mp4", "done"), ("bart.mp4", "done"),
                                   ("row-0003.mp4", "done")]


def test_a_row_that_fails_when_rendered_fails_alone(
        tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("name,bg,output\nAda,#ff0000,ada\nboom,#00ff00,boom\nCy,#0000ff,cy\n")
    out = tmp_path / "out"
    assert main(["render", str(project), "--batch", str(rows), "-o", str(out),
                 "--workers", "1"]) == 1
    assert sorted(path.name for path in out.iterdir()) == ["ada.mp4", "batch.json", "cy.mp4"]
    assert_colour(out / "ada.mp4", (255, 0, 0))
    assert_colour(out / "cy.mp4", (0, 0, 255))
    assert batch_statuses(out) == [("ada.mp4", "done"), ("boom.mp4", "failed"),
                                   ("cy.mp4", "done")]
    failed = json.loads((out / "batch.json").read_text())["rows"][1]
    assert failed["error"]["code"] == "PAGE_SCRIPT_ERROR"
    assert "boom" in failed["error"]["message"]
    captured = capsys.readouterr()
    assert "row 2/3 boom.mp4 failed" in captured.err
    assert "row 3/3 cy.mp4 done in" in captured.err
    assert "error: BATCH_FAILED: 1 of 3 rows failed" in captured.err
    assert "failed" in captured.out and "cy.mp4" in captured.out


def test_fail_fast_stops_at_the_failed_row(tmp_path: Path, project: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"name": "Ada", "bg": "#ff0000"}\n{"name": "boom"}\n{"name": "Cy"}\n')
    out = tmp_path / "out"
    assert main(["render", str(project), "--batch", str(rows), "-o", str(out),
                 "--workers", "1", "--fail-fast"]) == 1
    assert sorted(path.name for path in out.iterdir()) == ["batch.json", "row-0001.mp4"]
    assert_colour(out / "row-0001.mp4", (255, 0, 0))
    assert batch_statuses(out) == [("row-0001.mp4", "done"), ("row-0002.mp4", "failed"),
                                   ("row-0003.mp4", "skipped")]
