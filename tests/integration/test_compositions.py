"""``hfaction compositions`` lists what ``plan`` finds: on every example and every fixture of
the HyperFrames conformance corpus, the root id, size, rate, length (where it is declared),
nested compositions and variables of the listing are the plan's.

Only planning runs (one page load each), no frame is rendered. The corpus is found at
``HFACTION_CONFORMANCE``, else ``<repo>/../shared/conformance``; without it those cases
skip, naming the path.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from benchmarks import conformance
from hfaction.cli import main
from hfaction.render.options import RenderOptions
from hfaction.render.planner import Plan, plan

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(path.name for path in (REPO / "examples").iterdir()
                  if (path / "index.html").is_file())
CORPUS = conformance.default_corpus()
_VENDOR = re.compile(r"""src=["'](?:\./)?(vendor/[^"']+)["']""")


def _corpus_fixtures() -> list[str]:
    if not (CORPUS / "manifest.json").is_file():
        return []
    return sorted(fixture.id for fixture in conformance.load_manifest(CORPUS))


def _listing(project: Path, args: list[str], capsys: pytest.CaptureFixture[str]
             ) -> tuple[int, dict[str, Any]]:
    code = main(["compositions", str(project), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def _assert_agree(listing: dict[str, Any], planned: Plan) -> None:
    assert listing["errors"] == []  # planning succeeded: nothing stops it
    render = listing["render"]
    root = listing["compositions"][0]
    assert root["id"] == render["composition_id"] == planned.composition_id
    assert (render["width"], render["height"]) == (planned.width, planned.height)
    assert (render["output_width"], render["output_height"]) == planned.output_size
    assert Fraction(render["fps"]) == planned.fps
    if root["duration_source"] == "data-duration":
        assert render["frames"] == planned.frames
        assert Fraction(root["duration"]).limit_denominator(10**6) == planned.duration_exact
        assert (render["chunk_size"], render["chunks"]) == (
            planned.chunk_size, len(planned.chunks))
    else:
        assert render["frames"] is None
    nested = {item["id"] for item in planned.runtime["nested"]}
    assert {item["id"] for item in listing["compositions"][1:]} == nested
    for item in planned.runtime["nested"]:
        found = next(c for c in listing["compositions"] if c["id"] == item["id"])
        assert found["start"] - item["playbackStart"] == pytest.approx(item["offset"])
    assert {item["id"] for item in root["variables"] if item["value"] is not None} \
        == set(planned.runtime["variables"])
    assert render["variables"] == planned.runtime["variables"]
    # The page may find a timeline missing; it never waits for one the listing lacks.
    assert set(planned.runtime["timelineIds"]) <= set(render["timelines"])
    # The fonts' warnings are planning's, word for word.
    assert set(listing["warnings"]) == set(planned.fonts.warnings)


@pytest.mark.parametrize("example", EXAMPLES)
def test_compositions_of_an_example_are_what_plan_finds(
        example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = REPO / "examples" / example
    for vendored in _VENDOR.findall((project / "index.html").read_text()):
        if not (project / vendored).is_file():
            pytest.skip(f"{project / vendored} is missing: run scripts/setup-examples.sh")
    code, listing = _listing(project, [], capsys)
    planned = plan(project, RenderOptions(), tmp_path / "plan")
    assert code == 0
    _assert_agree(listing, planned)


@pytest.mark.parametrize("fixture_id", _corpus_fixtures() or ["(no corpus)"])
def test_compositions_of_a_conformance_fixture_are_what_plan_finds(
        fixture_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"no conformance corpus at {CORPUS} (set HFACTION_CONFORMANCE)")
    fixture = next(f for f in conformance.load_manifest(CORPUS) if f.id == fixture_id)
    variables = {key: value if isinstance(value, str) else json.dumps(value)
                 for key, value in (fixture.variables or {}).items()}
    project = conformance.with_links_restored(fixture, tmp_path / "project")
    args = ["--fps", fixture.fps]
    if variables:
        (tmp_path / "vars.json").write_text(json.dumps(variables))
        args += ["--vars-file", str(tmp_path / "vars.json")]
    code, listing = _listing(project, args, capsys)
    planned = plan(project, RenderOptions(fps=fixture.fps, variables=variables),
                   tmp_path / "plan")
    assert code == 0, listing["errors"]
    _assert_agree(listing, planned)
    if fixture.variables:
        assert listing["render"]["variables"] == {**listing["render"]["variables"],
                                                  **fixture.variables}
