"""Batch files (``render --batch``): reading JSON Lines and CSV, output names, checking rows
against the project's variables, and the batch loop (with a stand-in for the render)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.errors import (
    BatchFailed,
    InvalidBatch,
    InvalidOption,
    InvalidVariable,
    PageScriptError,
)
from hfaction.render.batch import (
    BatchRow,
    RowOutcome,
    batch_format,
    load_batch,
    output_name,
    problem_lines,
    read_batch,
    render_batch,
)
from hfaction.render.options import RenderOptions

VARIABLES = [
    {"id": "name", "type": "string", "label": "Name", "default": "World"},
    {"id": "bg", "type": "color", "label": "Background", "default": "#000000"},
    {"id": "price", "type": "number", "label": "Price", "default": 0},
    {"id": "sale", "type": "boolean", "label": "On sale", "default": False},
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(
        f"<!doctype html><html data-composition-variables='{json.dumps(VARIABLES)}'><body>"
        '<div data-composition-id="main" data-width="160" data-height="90" '
        'data-duration="1" data-no-timeline><p data-var-text="name"></p></div></body></html>')
    return folder


def problems(error: pytest.ExceptionInfo[InvalidBatch]) -> list[str]:
    return list(error.value.problems)


# --- JSON Lines ------------------------------------------------------------------------------


def test_jsonl_rows_their_values_and_names(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.jsonl", "\n".join([
        '{"name": "Ada", "bg": "#ff0000", "output": "ada"}',
        "",
        '{"name": "Bob", "price": 9.5, "sale": true, "bg": null}',
        '  {"price": 3, "output": "  "}  ',
    ]) + "\n")
    rows = read_batch(path)
    assert rows == [
        BatchRow(1, 1, {"name": "Ada", "bg": "#ff0000"}, "ada.mp4", named=True),
        # numbers and booleans as their JSON text (as --vars-file); null: the default
        BatchRow(2, 3, {"name": "Bob", "price": "9.5", "sale": "true"}, "row-0002.mp4"),
        BatchRow(3, 4, {"price": "3"}, "row-0003.mp4"),
    ]
    assert rows[1].where == "row 2 (line 3)"


def test_a_bad_json_line_is_named_by_row_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.jsonl", '{"name": "Ada"}\n\n{"name": "Bob",}\n[1, 2]\n'
                 '{"name": "a", "name": "b"}\n{"output": 7}\n')
    with pytest.raises(InvalidBatch) as error:
        read_batch(path)
    assert problems(error) == [
        "row 2 (line 3): not JSON (Expecting property name enclosed in double quotes at "
        "column 16)",
        "row 3 (line 4): a row must be a JSON object, not a list",
        "row 4 (line 5): key 'name' given twice",
        "row 5 (line 6), column 'output': the output name must be a string, not a number",
    ]
    assert error.value.exit_code == 2
    assert error.value.code == "INVALID_BATCH"
    assert str(path) in error.value.message and "(and 3 more)" in error.value.message
    assert "nothing was rendered" in error.value.message


def test_format_by_suffix_else_by_first_character(tmp_path: Path) -> None:
    assert batch_format(Path("a.CSV"), "{") == "csv"
    assert batch_format(Path("a.ndjson"), "x") == "jsonl"
    assert batch_format(Path("a.json"), "x") == "jsonl"
    assert batch_format(Path("rows.txt"), '\n {"a": 1}') == "jsonl"
    assert batch_format(Path("rows"), "name,bg\n") == "csv"
    path = write(tmp_path, "rows.txt", '{"name": "x"}\n')
    assert read_batch(path)[0].variables == {"name": "x"}


# --- CSV -------------------------------------------------------------------------------------


def test_csv_rows_are_text_and_the_header_names_the_variables(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    # A byte-order mark (spreadsheets write one), a quoted comma, a quoted newline.
    path.write_bytes(("\ufeff name , price,output\r\n"
                      '"Ada, Countess",9.5,ada.mp4\r\n'
                      "\r\n"
                      '"Two\nlines",,\r\n'
                      ",,\r\n"
                      "Cy,3,cy\r\n").encode())
    rows = read_batch(path)
    assert rows == [
        BatchRow(1, 2, {"name": "Ada, Countess", "price": "9.5"}, "ada.mp4", named=True),
        BatchRow(2, 4, {"name": "Two\nlines", "price": ""}, "row-0002.mp4"),
        BatchRow(3, 7, {"name": "Cy", "price": "3"}, "cy.mp4", named=True),
    ]


def test_csv_header_and_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(InvalidBatch) as error:
        read_batch(write(tmp_path, "a.csv", "name,,name\nx,y,z\n"))
    assert problems(error) == ["line 1 (header), column 2: empty column name",
                               "line 1 (header), column 'name': named twice"]
    with pytest.raises(InvalidBatch) as error:
        read_batch(write(tmp_path, "b.csv", "name,bg\nAda,#f00\nBob\nCy,#00f,extra\n"))
    assert problems(error) == ["row 2 (line 3): 1 values for 2 columns (name, bg)",
                               "row 3 (line 4): 3 values for 2 columns (name, bg)"]


@pytest.mark.parametrize(("name", "text"), [
    ("empty.jsonl", ""), ("blank.jsonl", "\n  \n"), ("header.csv", "name,bg\n"),
    ("empty.csv", ""),
])
def test_a_file_without_rows_is_refused(tmp_path: Path, name: str, text: str) -> None:
    with pytest.raises(InvalidBatch, match="has no rows"):
        read_batch(write(tmp_path, name, text))


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidBatch, match="does not exist"):
        read_batch(tmp_path / "nope.csv")
    with pytest.raises(InvalidBatch, match="is a folder"):
        read_batch(tmp_path)
    (tmp_path / "latin1.csv").write_bytes(b"name\nJos\xe9\n")
    with pytest.raises(InvalidBatch, match="not UTF-8"):
        read_batch(tmp_path / "latin1.csv")


# --- output names ----------------------------------------------------------------------------


@pytest.mark.parametrize("given", [
    "../escape", "/etc/passwd", "a/b", "a\\b", "..", ".hidden", "..mp4", "C:evil",
    "a\x00b", "a\nb", "what?", "x" * 300, "a..b",
])
def test_hostile_output_names_are_refused(given: str) -> None:
    with pytest.raises(ValueError):
        output_name(given)


def test_output_names_get_mp4_and_keep_their_case() -> None:
    assert output_name(" Ada Lovelace ") == "Ada Lovelace.mp4"
    assert output_name("promo.MP4") == "promo.MP4"
    assert output_name("v1.2-é") == "v1.2-é.mp4"


def test_a_hostile_name_names_its_row_and_nothing_escapes(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.jsonl", '{"output": "../../etc/cron.d/x"}\n')
    with pytest.raises(InvalidBatch) as error:
        read_batch(path)
    assert problems(error)[0].startswith("row 1 (line 1), column 'output': "
                                         "'../../etc/cron.d/x' is not a plain file name")


def test_duplicate_names_name_both_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv",
                 "name,output\nA,ada\nB,row-0003.mp4\nC,\nD,ADA.mp4\n")
    with pytest.raises(InvalidBatch) as error:
        read_batch(path)
    assert problems(error) == [
        "row 3 (line 4), column 'output': 'row-0003.mp4' is also the output of row 2 (line 3)",
        "row 4 (line 5), column 'output': 'ADA.mp4' is also the output of row 1 (line 2)",
    ]


def test_default_names_widen_past_9999_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", "name\n" + "x\n" * 10_000)
    rows = read_batch(path)
    assert (rows[0].output, rows[-1].output) == ("row-00001.mp4", "row-10000.mp4")


# --- rows against the project's variables ----------------------------------------------------


def test_rows_are_typed_like_var(tmp_path: Path, project: Path) -> None:
    path = write(tmp_path, "rows.jsonl", '{"name": "Ada", "price": 9.5, "sale": true}\n'
                 '{"price": "12", "sale": "no", "bg": "#ff0000"}\n')
    rows = load_batch(project, path, RenderOptions())
    assert [row.variables for row in rows] == [
        {"name": "Ada", "price": "9.5", "sale": "true"},
        {"price": "12", "sale": "no", "bg": "#ff0000"},
    ]


def test_unknown_variables_and_wrong_types_name_row_and_column(tmp_path: Path,
                                                               project: Path) -> None:
    path = write(tmp_path, "rows.csv", "name,price,sale,colour,output\n"
                 "Ada,9.5,yes,,ada\n"
                 "Bob,cheap,maybe,,../bob\n"
                 "Cy,1e999,true,,cy\n")
    with pytest.raises(InvalidBatch) as error:
        load_batch(project, path, RenderOptions())
    assert problems(error) == [
        "row 1 (line 2), column 'colour': variable 'colour' is not declared by the "
        "composition (declared: bg, name, price, sale)",
        "row 2 (line 3), column 'output': '../bob' is not a plain file name: no folders, no "
        'control characters, none of / \\ : * ? " < > |',
        "row 2 (line 3), column 'price': variable 'price' is a number; got 'cheap'",
        "row 2 (line 3), column 'sale': variable 'sale' is a boolean; got 'maybe'",
        "row 2 (line 3), column 'colour': variable 'colour' is not declared by the "
        "composition (declared: bg, name, price, sale)",
        "row 3 (line 4), column 'price': variable 'price' must be a finite number; got '1e999'",
        "row 3 (line 4), column 'colour': variable 'colour' is not declared by the "
        "composition (declared: bg, name, price, sale)",
    ]
    assert error.value.message.startswith(f"{path}: row 1 (line 2), column 'colour'")
    assert problem_lines(error.value, limit=2)[-1] == "... and 5 more"


def test_a_json_boolean_for_a_number_is_the_wrong_type(tmp_path: Path, project: Path) -> None:
    path = write(tmp_path, "rows.jsonl", '{"price": true}\n')
    with pytest.raises(InvalidBatch) as error:
        load_batch(project, path, RenderOptions())
    assert problems(error) == ["row 1 (line 1), column 'price': variable 'price' is a number; "
                               "got 'true'"]


def test_shared_var_values_and_options_are_checked_once(tmp_path: Path,
                                                        project: Path) -> None:
    path = write(tmp_path, "rows.jsonl", '{"name": "Ada"}\n')
    with pytest.raises(InvalidVariable, match="'price' is a number"):
        load_batch(project, path, RenderOptions(variables={"price": "x"}))
    with pytest.raises(InvalidOption, match="--crf"):
        load_batch(project, path, RenderOptions(crf=99))
    with pytest.raises(InvalidOption, match="--chunk-size"):
        load_batch(project, path, RenderOptions(chunk_size=0))
    with pytest.raises(InvalidOption, match="--workers"):
        load_batch(project, path, RenderOptions(), workers=0)


def test_a_project_variable_named_output_cannot_be_set(tmp_path: Path, project: Path) -> None:
    html = project / "index.html"
    html.write_text(html.read_text().replace('"name"', '"output"', 1))
    assert load_batch(project, write(tmp_path, "ok.csv", "price\n1\n"), RenderOptions())
    with pytest.raises(InvalidBatch, match="also declares a variable 'output'"):
        load_batch(project, write(tmp_path, "rows.csv", "output\nada\n"), RenderOptions())


# --- the batch loop, with a stand-in for render_local ------------------------------------------


class FakeRender:
    """Writes a file per call; fails for the rows whose name is ``boom``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, dict[str, str]]] = []

    def __call__(self, project: Path, output: Path, options: RenderOptions, *,
                 workers: int | None, progress: Any) -> Any:
        self.calls.append((output, dict(options.variables)))
        if options.variables.get("name") == "boom":
            raise PageScriptError("the page threw: boom at index.html:3")
        output.write_bytes(b"mp4")
        return SimpleNamespace(output=SimpleNamespace(frames=30, bytes=3))


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def row_started(self, row: BatchRow, index: int, total: int) -> None:
        self.lines.append(f"start {index + 1}/{total} {row.output}")

    def row_finished(self, outcome: RowOutcome, index: int, total: int) -> None:
        self.lines.append(f"{outcome.status} {index + 1}/{total}")


ROWS = [BatchRow(1, 1, {"name": "Ada"}, "ada.mp4", named=True),
        BatchRow(2, 2, {"name": "boom"}, "row-0002.mp4"),
        BatchRow(3, 3, {"name": "Cy", "bg": "#00f"}, "row-0003.mp4")]


def test_a_failed_row_fails_alone(tmp_path: Path) -> None:
    fake, recorder, out = FakeRender(), Recorder(), tmp_path / "out" / "nested"
    result = render_batch(tmp_path, ROWS, out, RenderOptions(variables={"bg": "#fff"}),
                          fail_fast=False, progress=recorder, render=fake)
    assert [o.status for o in result.outcomes] == ["done", "failed", "done"]
    assert sorted(p.name for p in out.iterdir()) == ["ada.mp4", "batch.json", "row-0003.mp4"]
    # --var values are shared by every row; a row's own override them.
    assert fake.calls[0] == (out / "ada.mp4", {"bg": "#fff", "name": "Ada"})
    assert fake.calls[2][1] == {"bg": "#00f", "name": "Cy"}
    assert recorder.lines == ["start 1/3 ada.mp4", "done 1/3", "start 2/3 row-0002.mp4",
                              "failed 2/3", "start 3/3 row-0003.mp4", "done 3/3"]
    written = json.loads((out / "batch.json").read_text())
    assert written == result.to_dict()
    assert [row["status"] for row in written["rows"]] == ["done", "failed", "done"]
    assert written["rows"][1]["error"] == {"code": "PAGE_SCRIPT_ERROR",
                                           "message": "the page threw: boom at index.html:3",
                                           "hint": ""}
    assert written["rows"][0]["frames"] == 30 and written["rows"][1]["frames"] is None
    assert (written["done"], written["failed"], written["skipped"]) == (2, 1, 0)
    with pytest.raises(BatchFailed) as error:
        result.check()
    assert error.value.exit_code == 1
    assert "1 of 3 rows failed; the first, row 2 (line 2) (row-0002.mp4): PAGE_SCRIPT_ERROR" \
        in error.value.message


def test_fail_fast_stops_after_the_first_failure(tmp_path: Path) -> None:
    fake = FakeRender()
    result = render_batch(tmp_path, ROWS, tmp_path / "out", RenderOptions(), fail_fast=True,
                          render=fake)
    assert len(fake.calls) == 2
    assert [o.status for o in result.outcomes] == ["done", "failed", "skipped"]
    with pytest.raises(BatchFailed, match="1 more not rendered"):
        result.check()


def test_all_rows_done_is_no_error(tmp_path: Path) -> None:
    result = render_batch(tmp_path, [ROWS[0], ROWS[2]], tmp_path / "out", RenderOptions(),
                          render=FakeRender())
    result.check()
    assert result.to_dict()["done"] == 2


def test_batch_json_is_written_when_interrupted(tmp_path: Path) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_batch(tmp_path, ROWS, tmp_path / "out", RenderOptions(), render=interrupted)
    written = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert [row["status"] for row in written["rows"]] == ["skipped"] * 3


def test_the_output_must_be_a_folder(tmp_path: Path) -> None:
    file = write(tmp_path, "out", "")
    for out in (file, tmp_path / "videos.mp4"):
        with pytest.raises(InvalidOption, match="with --batch it is a folder"):
            render_batch(tmp_path, ROWS, out, RenderOptions(), render=FakeRender())
    assert not (tmp_path / "videos.mp4").exists()


# --- the command line (no rendering: everything here fails before) ----------------------------


def test_cli_bad_rows_exit_2_one_line_each_and_nothing_written(
        tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "rows.csv", "name,price\nAda,x\nBob,1\nCy,y\n")
    out = tmp_path / "out"
    assert main(["render", str(project), "--batch", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad row: row 1 (line 2), column 'price': variable 'price' is a number; got 'x'" \
        in err
    assert "bad row: row 3 (line 4), column 'price'" in err
    assert "error: INVALID_BATCH:" in err
    assert not out.exists()


def test_cli_fail_fast_needs_batch(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(project), "--fail-fast"]) == 2
    assert "--fail-fast only applies with --batch" in capsys.readouterr().err
