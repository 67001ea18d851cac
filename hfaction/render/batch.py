"""Batch renders: one project, one video per row of a data file (``render --batch``).

A batch file is JSON Lines or CSV; each row is a set of variable values, as ``--var``
gives them, and an optional output file name:

- JSON Lines (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, each key a
  variable id. A string is the value as is; a number or boolean is kept as its JSON text
  (as ``--vars-file`` does), then typed like ``--var``; ``null`` leaves the variable at its
  default. Blank lines are skipped.
- CSV (``.csv``): the header row names the columns, variable ids; every cell is text, read
  as ``--var ID=VALUE`` reads it (an empty cell is the empty string; leave a column out to
  keep a variable's default). Blank lines, and lines of empty cells, are skipped.

Another suffix is read as JSON Lines when its first character is ``{``, else as CSV.

The key or column ``output`` is the row's file name inside the output folder, never a
variable: a plain file name (no folder, no ``..``, no leading ``.``, none of
``/ \\ : * ? " < > |`` nor control characters), ``.mp4`` added when missing, unique in the
batch (compared case-insensitively). Without it a row is ``row-0001.mp4``, ``row-0002.mp4``,
... by its number. Rows are numbered from 1 in file order; the header of a CSV is no row.
Values given with ``--var``/``--vars-file`` apply to every row; a row's own override them.

Everything is checked before anything renders (:func:`load_batch`): the file's format, the
output names, and every value against the variables the project declares, with the same
rules a single render uses (:func:`~hfaction.render.composition.resolve_variables`). Each
problem names its row, line and column; any problem is INVALID_BATCH (exit 2), nothing
written. :func:`render_batch` then renders row after row with
:func:`~hfaction.render.local.render_local`: a row that fails is recorded with its error
and the others go on (unless ``fail_fast``); ``batch.json`` in the output folder lists
every row's status. Some rows failed: :meth:`BatchResult.check` raises BATCH_FAILED
(exit 1).

Each row is planned on its own: variables reach the page before it is read, so they can
change the render's length, warnings and plan hash, and a plan cannot be shared.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hfaction.errors import (
    BatchFailed,
    HfactionError,
    InvalidBatch,
    InvalidOption,
    InvalidVariable,
)
from hfaction.render.composition import load_project, resolve_variables
from hfaction.render.options import RenderOptions
from hfaction.render.project import check_project_dir

if TYPE_CHECKING:
    from hfaction.render.local import LocalRenderResult, ProgressSink

OUTPUT_KEY = "output"
RESULT_FILE = "batch.json"
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
MAX_NAME_BYTES = 200
# Characters no output name may hold: folders, and what Windows or artifact uploads refuse.
_FORBIDDEN = frozenset('/\\:*?"<>|')
# A problem of a batch file: (the line it is on, what it says); listed in line order.
Problems = list[tuple[int, str]]
# The problems an INVALID_BATCH lists in full (the CLI prints one line each).
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class BatchRow:
    """One row of a batch file: the variables it sets and the file it renders to."""

    number: int  # from 1, in file order
    line: int  # the line of the file it starts on
    variables: dict[str, str]
    output: str  # a file name inside the output folder
    named: bool = False  # the row gave its output name (else the row-NNNN.mp4 default)

    @property
    def where(self) -> str:
        return f"row {self.number} (line {self.line})"


# --- reading ------------------------------------------------------------------------------


@dataclass
class _Raw:
    number: int
    line: int
    variables: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    bad: bool = False

    @property
    def where(self) -> str:
        return f"row {self.number} (line {self.line})"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {key!r} given twice")
        found[key] = value
    return found


def _jsonl_rows(text: str, problems: Problems) -> list[_Raw]:
    rows: list[_Raw] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        raw = _Raw(len(rows) + 1, line_no)
        rows.append(raw)
        try:
            loaded = json.loads(line, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as error:
            problems.append((raw.line, f"{raw.where}: not JSON ({error.msg} at column "
                                       f"{error.colno})"))
            raw.bad = True
            continue
        except ValueError as error:  # a key twice (_unique_pairs)
            problems.append((raw.line, f"{raw.where}: {error}"))
            raw.bad = True
            continue
        if not isinstance(loaded, dict):
            problems.append((raw.line, f"{raw.where}: a row must be a JSON object, not "
                             f"{_kind(loaded)}"))
            raw.bad = True
            continue
        for key, value in loaded.items():
            if key == OUTPUT_KEY:
                if value is not None and not isinstance(value, str):
                    problems.append((raw.line, f"{raw.where}, column {OUTPUT_KEY!r}: the "
                                     f"output name must be a string, not {_kind(value)}"))
                    raw.bad = True
                raw.output = value if isinstance(value, str) else None
            elif value is not None:  # null: the variable keeps its default
                raw.variables[key] = value if isinstance(value, str) else json.dumps(value)
    return rows


def _csv_header(record: list[str], line: int, problems: Problems) -> list[str]:
    names = [name.strip() for name in record]
    for index, name in enumerate(names, start=1):
        if not name:
            problems.append((line, f"line {line} (header), column {index}: empty column name"))
        elif names.index(name) != index - 1:
            problems.append((line, f"line {line} (header), column {name!r}: named twice"))
    return names


def _csv_rows(text: str, problems: Problems) -> list[_Raw]:
    rows: list[_Raw] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    ended = 0  # the last line of the previous record
    try:
        for record in reader:
            line, ended = ended + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = _csv_header(record, line, problems)
                if problems:
                    return rows
                continue
            raw = _Raw(len(rows) + 1, line)
            rows.append(raw)
            if len(record) != len(header):
                problems.append((raw.line, f"{raw.where}: {len(record)} values for "
                                 f"{len(header)} columns ({', '.join(header)})"))
                raw.bad = True
                continue
            for name, value in zip(header, record, strict=True):
                if name == OUTPUT_KEY:
                    raw.output = value
                else:
                    raw.variables[name] = value
    except csv.Error as error:
        problems.append((reader.line_num, f"line {reader.line_num}: not valid CSV ({error})"))
    return rows


def output_name(given: str) -> str:
    """The file name a row's ``output`` gives (``.mp4`` added when missing); ValueError
    saying why when it is not a plain, safe file name."""
    name = given.strip()
    if not name.lower().endswith(".mp4"):
        name += ".mp4"
    if any(char in _FORBIDDEN or ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"{given!r} is not a plain file name: no folders, no control "
                         'characters, none of / \\ : * ? " < > |')
    if name.startswith(".") or ".." in name:
        raise ValueError(f"{given!r} may not start with '.' nor hold '..'")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"{given[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
    return name


def _named_rows(raws: list[_Raw], problems: Problems) -> list[BatchRow]:
    width = max(4, len(str(len(raws))))
    taken: dict[str, _Raw] = {}
    rows = []
    for raw in raws:
        given = raw.output if raw.output is not None and raw.output.strip() else None
        name = f"row-{raw.number:0{width}d}.mp4"
        try:
            name = name if given is None else output_name(given)
        except ValueError as error:  # the row's values are still checked
            problems.append((raw.line, f"{raw.where}, column {OUTPUT_KEY!r}: {error}"))
        else:
            first = taken.setdefault(name.casefold(), raw)
            if first is not raw:
                problems.append((raw.line, f"{raw.where}, column {OUTPUT_KEY!r}: {name!r} is "
                                 f"also the output of {first.where}"))
        if not raw.bad:
            rows.append(BatchRow(raw.number, raw.line, dict(raw.variables), name,
                                 named=given is not None))
    return rows


def batch_format(path: Path, text: str) -> str:
    """``"jsonl"`` or ``"csv"``: by the file's suffix, else by its first character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InvalidBatch(f"batch file {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidBatch(f"batch file {path} is a folder",
                           hint="pass a .jsonl or .csv file") from None
    except UnicodeDecodeError as error:
        raise InvalidBatch(f"batch file {path} is not UTF-8 text (byte {error.start})",
                           hint="save it as UTF-8") from None
    except OSError as error:
        raise InvalidBatch(f"batch file {path} cannot be read ({error.strerror})") from None


def _invalid(path: Path, problems: Problems) -> InvalidBatch:
    texts = [text for _line, text in sorted(problems, key=lambda item: item[0])]
    more = f" (and {len(texts) - 1} more)" if len(texts) > 1 else ""
    return InvalidBatch(f"{path}: {texts[0]}{more}; nothing was rendered",
                        problems=tuple(texts))


def _parse(path: Path) -> tuple[list[BatchRow], Problems]:
    text = _read_text(path)
    problems: Problems = []
    parse = _jsonl_rows if batch_format(path, text) == "jsonl" else _csv_rows
    rows = _named_rows(parse(text, problems), problems)
    if not rows and not problems:
        raise InvalidBatch(f"batch file {path} has no rows",
                           hint="one JSON object per line, or a CSV header and a row per video")
    return rows, problems


def read_batch(path: Path) -> list[BatchRow]:
    """The rows of a batch file (JSON Lines or CSV), output names checked and unique.

    Every problem of the file is listed in one INVALID_BATCH, each naming its row, line
    and column.
    """
    rows, problems = _parse(path)
    if problems:
        raise _invalid(path, problems)
    return rows


# --- checking rows against the project ------------------------------------------------------


def _variable_problems(rows: list[BatchRow], declared: list[dict[str, object]]) -> Problems:
    problems: Problems = []
    if OUTPUT_KEY in {str(item["id"]) for item in declared} and any(r.named for r in rows):
        problems.append((0, f"column {OUTPUT_KEY!r} is each row's output file name, but the "
                         f"project also declares a variable {OUTPUT_KEY!r}, which a batch "
                         "cannot set; rename the variable"))
    for row in rows:
        for column, value in row.variables.items():
            try:
                resolve_variables(declared, {column: value})
            except InvalidVariable as error:
                problems.append((row.line, f"{row.where}, column {column!r}: {error.message}"))
    return problems


def check_rows(path: Path, rows: list[BatchRow], declared: list[dict[str, object]]) -> None:
    """Every row's values against the variables the project declares (unknown ids, wrong
    types), with the rules of a single render; INVALID_BATCH listing every problem."""
    problems = _variable_problems(rows, declared)
    if problems:
        raise _invalid(path, problems)


def check_options(options: RenderOptions, workers: int | None) -> None:
    """What every row would fail on alike, refused once before any renders."""
    from hfaction.render.encode import encoder_settings
    from hfaction.render.framemath import parse_fps

    encoder_settings(options.quality, options.crf)
    if options.fps:
        parse_fps(options.fps, where="--fps")
    if options.chunk_size is not None and options.chunk_size <= 0:
        raise InvalidOption(f"--chunk-size is {options.chunk_size}; it must be positive")
    if workers is not None and workers < 1:
        raise InvalidOption(f"--workers is {workers}; it must be at least 1")


def load_batch(project: Path, path: Path, options: RenderOptions, *,
               workers: int | None = None) -> list[BatchRow]:
    """The rows of ``path``, each checked against ``project``'s declared variables; the
    ``--var`` values of ``options`` (shared by every row, a row's own override them) and
    the options every row renders with are checked too. Nothing is rendered."""
    rows, problems = _parse(path)
    composition = load_project(check_project_dir(project), options.entry)
    resolve_variables(composition.variables, options.variables)
    problems += _variable_problems(rows, composition.variables)
    if problems:
        raise _invalid(path, problems)
    check_options(options, workers)
    return rows


def problem_lines(error: InvalidBatch, limit: int = SHOWN_PROBLEMS) -> list[str]:
    """The problems of an INVALID_BATCH to show, one line each, at most ``limit``."""
    shown = list(error.problems[:limit])
    if len(error.problems) > limit:
        shown.append(f"... and {len(error.problems) - limit} more")
    return shown


# --- rendering ------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    """What became of one row: ``done``, ``failed`` (with its error) or ``skipped``."""

    row: BatchRow
    status: str
    seconds: float = 0.0
    frames: int | None = None
    bytes: int | None = None
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row.number, "line": self.row.line, "output": self.row.output,
                "status": self.status, "seconds": round(self.seconds, 3),
                "frames": self.frames, "bytes": self.bytes, "error": self.error}


@dataclass
class BatchResult:
    out_dir: Path
    outcomes: list[RowOutcome]
    wall_seconds: float

    @property
    def result_file(self) -> Path:
        return self.out_dir / RESULT_FILE

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def failed(self) -> list[RowOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "rows": [o.to_dict() for o in self.outcomes],
                "done": self.count("done"), "failed": self.count("failed"),
                "skipped": self.count("skipped"), "wall_seconds": round(self.wall_seconds, 3)}

    def check(self) -> None:
        """BATCH_FAILED (exit 1) when a row failed, naming the first."""
        failed = self.failed
        if not failed:
            return
        first = failed[0]
        error = first.error or {}
        skipped = self.count("skipped")
        raise BatchFailed(
            f"{len(failed)} of {len(self.outcomes)} rows failed; the first, {first.row.where} "
            f"({first.row.output}): {error.get('code', 'RENDER_FAILED')}: "
            f"{error.get('message', '')}"
            + (f"; {skipped} more not rendered (--fail-fast)" if skipped else ""),
            hint=f"each row's status and error are in {self.result_file}")


class BatchProgress(Protocol):
    """What a batch reports as it goes; ``row_started`` may return a sink for that row's
    render (its frames and chunks)."""

    def row_started(self, row: BatchRow, index: int, total: int) -> ProgressSink | None: ...
    def row_finished(self, outcome: RowOutcome, index: int, total: int) -> None: ...


RenderFunction = Callable[..., "LocalRenderResult"]


def _render_row(render: RenderFunction, project: Path, row: BatchRow, out_dir: Path,
                options: RenderOptions, workers: int | None, sink: ProgressSink | None,
                clock: Callable[[], float]) -> RowOutcome:
    started = clock()
    row_options = replace(options, variables={**options.variables, **row.variables})
    try:
        result = render(project, out_dir / row.output, row_options, workers=workers,
                        progress=sink)
    except HfactionError as error:
        return RowOutcome(row, "failed", seconds=clock() - started, error=error.to_dict())
    return RowOutcome(row, "done", seconds=clock() - started, frames=result.output.frames,
                      bytes=result.output.bytes)


def write_result(result: BatchResult) -> Path:
    """``batch.json`` in the output folder, replaced whole (never half-written)."""
    partial = result.out_dir / f".{RESULT_FILE}.partial"
    partial.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    os.replace(partial, result.result_file)
    return result.result_file


def render_batch(
    project: Path,
    rows: list[BatchRow],
    out_dir: Path,
    options: RenderOptions,
    *,
    workers: int | None = None,
    fail_fast: bool = False,
    progress: BatchProgress | None = None,
    render: RenderFunction | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchResult:
    """Render each row (see :func:`load_batch`) to ``out_dir/<output>``, one after the other,
    each with ``render_local`` over ``workers`` processes. A row that fails is recorded
    and the next one renders, unless ``fail_fast`` (the rest are then ``skipped``).
    ``batch.json`` is written at the end, also when interrupted."""
    if not rows:
        raise InvalidBatch("the batch has no rows")
    if (out_dir.exists() and not out_dir.is_dir()) or out_dir.suffix.lower() == ".mp4":
        raise InvalidOption(f"output {out_dir} is a file name; with --batch it is a folder",
                            hint="pass a folder, e.g. -o out/")
    if render is None:
        from hfaction.render.local import render_local

        render = render_local
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes = [RowOutcome(row, "skipped") for row in rows]
    started = clock()
    try:
        for index, row in enumerate(rows):
            sink = progress.row_started(row, index, len(rows)) if progress else None
            outcomes[index] = _render_row(render, project, row, out_dir, options, workers,
                                          sink, clock)
            if progress:
                progress.row_finished(outcomes[index], index, len(rows))
            if fail_fast and outcomes[index].status == "failed":
                break
    finally:
        result = BatchResult(out_dir, outcomes, clock() - started)
        write_result(result)
    return result
