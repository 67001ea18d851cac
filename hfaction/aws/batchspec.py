"""Batch renders on AWS: the names, keys and payload pieces the batch state machine
(statemachine/batch.asl.json), its handler actions (``plan_batch``, ``assemble_row``) and
the client share. Pure: no AWS calls, no rendering.

A batch is one execution: its id (the execution's name) is a render id as
:func:`hfaction.aws.renders.new_render_id` makes them, and row ``i`` (from 0, in the
order of the execution's ``rows``) renders as its own render id, ``<batch>-<iiii>``, with
its plan, chunks and invocation records under ``work/<row render id>/`` exactly like a
single render's, and its MP4 at ``renders/<batch>/<name>.mp4`` (the poster beside it).

The execution's output (the batch contract, issue 15, as amended for batches above 50
rows): ``{"batch_id", "rows": [...]}``, a row each in input order, SUCCEEDED even when
rows failed. A SUCCEEDED row is ``{row, name, render_id, status, output_key, output_uri,
bytes, frames, duration, fps, poster_key}``; a FAILED one ``{row, name, render_id, status,
error: {code, message}}`` with the message cut to STATE_MESSAGE_CHARS. Neither carries
``links`` any more: the signed links (and a failed row's whole message) are in the
Lambda results only, visible in the execution's history as each task's TaskSucceeded
event: assemble_row returns ``{"row_result": <the row as above>, "links": {...},
"error": {...}}`` and its ResultSelector keeps ``row_result`` alone; plan_batch's result
holds ``row_errors`` (render id -> whole error) beside the rows it plans, which its
ResultSelector leaves out. :func:`hfaction.aws.batches.batch_progress` merges them back
into its rows by render id, as :func:`hfaction.aws.renders.progress` does for a single
render's links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hfaction.aws import s3uri
from hfaction.errors import HfactionError, InvalidBatch
from hfaction.render.batch import output_name

# A row's status in the execution's output.
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
# A row whose plan succeeded, between plan_batch and assemble_row (never in the output).
PLANNED = "PLANNED"

# Step Functions refuses a state's input or output above 256 KiB (262,144 bytes), and
# everything a batch carries from state to state is in one state: the row summaries and
# chunk items plan_batch returns, a record per chunk, then every row's result. What is
# large stays out of it, as for a single render (render.asl.json's Assemble
# ResultSelector): a row's two links signed with the function's role session (some 3.5 KB:
# the session token is in each) and a failed row's whole error message are in the Lambda
# results only, which the execution's history keeps (TaskSucceeded), and the client reads
# them from there (hfaction.aws.batches). plan_batch refuses a batch whose state could grow
# past MAX_STATE_BYTES (estimated_state_bytes), which leaves room for what the states add.
MAX_STATE_BYTES = 240_000
# A chunk's record after the chunk Map, at most: a failed one,
# {"render_id", "row", "index", "failed": true, "error"} with a 32-character render id and a
# 64-character error name (no cause: see first_failed_chunk); a rendered one takes 33.
CHUNK_RECORD_BYTES = 176
# A row's error message as the state carries it (the whole one, up to MAX_MESSAGE_CHARS, is
# in the history); sized for the table the CLI prints.
STATE_MESSAGE_CHARS = 300
# A row error's whole message (in the Lambda results, hence the client's rows) is cut to
# this many characters.
MAX_MESSAGE_CHARS = 2000
# At most this many rows in one execution; the client checks it before uploading anything.
# The state's size per row, measured as json.dumps writes it (Step Functions' compact JSON
# is smaller), for the longest name a row may have (200 bytes, MAX_NAME_BYTES of
# hfaction.render.batch), a 27-character batch id and a 63-character bucket name:
#   row summary (plan_batch's, kept to the end)      735 bytes
#   one chunk item (until the chunk Map ends)         218 bytes, its record up to 176
#   row result without links (SUCCEEDED; a FAILED
#   one, its message cut to 300 characters, is 649)  1240 bytes
# The largest moment is the end: 735 + 176 + 1240 = 2151 bytes a row with a single chunk,
# so 240,000 bytes hold 111 such rows; 100 leaves a tenth for the states' own fields and
# for chunks beyond one a row (with names of 10 characters a row takes some 850 bytes and
# 100 rows leave some 150 KB, about 600 chunk items, for the chunk Map). plan_batch still
# measures each batch (estimated_state_bytes) and refuses one with too many chunks. It
# also plans every row in one Lambda invocation (15 minutes at most: 9 s a row).
# With the links in the state (3.5 KB more a row) this was 50.
MAX_ROWS = 100


def row_render_id(batch_id: str, index: int) -> str:
    """Row ``index``'s render id (from 0): ``<batch_id>-0000``, ``<batch_id>-0001``, ..."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"row index {index!r} is not a non-negative integer")
    return s3uri.check_id(f"{s3uri.check_id(batch_id, 'batch id')}-{index:04d}",
                          "row render id")


def row_file_name(name: str) -> str:
    """The MP4 file name of a row's ``name`` (``alice`` -> ``alice.mp4``; ``alice.mp4``
    stays), checked as ``render --batch`` checks an ``output`` (ValueError saying why)."""
    return output_name(name)


def row_output_key(batch_id: str, name: str, prefix: str = s3uri.RENDERS_PREFIX) -> str:
    """Where a row's MP4 goes: ``renders/<batch_id>/<name>.mp4`` (under ``prefix``)."""
    key = f"{prefix}{s3uri.check_id(batch_id, 'batch id')}/{row_file_name(name)}"
    return s3uri.check_key(key)


def default_row_name(index: int) -> str:
    """A row without a name is named by its number from 1, as ``render --batch`` does."""
    return f"row-{index + 1:04d}"


@dataclass(frozen=True)
class RowSpec:
    """One row of a batch execution's input: its place, its name, its variables."""

    index: int  # from 0
    name: str
    variables: dict[str, str]


def _variable_text(value: object) -> str:
    # As --vars-file reads a JSON object: a string as is, anything else as its JSON text.
    return value if isinstance(value, str) else json.dumps(value)


def rows_from_event(raw: object) -> list[RowSpec]:
    """The rows of a batch execution's input, checked (INVALID_BATCH saying which row):
    1 to MAX_ROWS objects of ``name`` (optional, a plain file name, unique ignoring case)
    and ``variables`` (optional object; ``null`` values are left out, as in a batch file)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidBatch("the batch has no rows", hint="give rows: a list of "
                           '{"name": ..., "variables": {...}} objects')
    if len(raw) > MAX_ROWS:
        raise InvalidBatch(f"the batch has {len(raw)} rows; one execution renders at most "
                           f"{MAX_ROWS}", hint="split the batch file and render each part")
    rows: list[RowSpec] = []
    taken: dict[str, int] = {}
    for index, item in enumerate(raw):
        where = f"row {index}"
        if not isinstance(item, dict):
            raise InvalidBatch(f"{where} is not a JSON object")
        unknown = sorted(set(item) - {"name", "variables"})
        if unknown:
            raise InvalidBatch(f"{where} has an unknown key {unknown[0]!r}",
                               hint="a row has only name and variables")
        name = item.get("name")
        name = default_row_name(index) if name is None else name
        if not isinstance(name, str):
            raise InvalidBatch(f"{where}: name must be a string")
        try:
            file_name = row_file_name(name)
        except ValueError as error:
            raise InvalidBatch(f"{where}: name {error}") from None
        first = taken.setdefault(file_name.casefold(), index)
        if first != index:
            raise InvalidBatch(f"{where}: {file_name!r} is also the output of row {first}")
        variables = item.get("variables") or {}
        if not isinstance(variables, dict):
            raise InvalidBatch(f"{where}: variables must be a JSON object")
        rows.append(RowSpec(index, name, {str(key): _variable_text(value)
                                          for key, value in variables.items()
                                          if value is not None}))
    return rows


def row_error(error: HfactionError) -> dict[str, str]:
    """A failed row's whole ``error`` (the client's; the state gets :func:`state_error`)."""
    return {"code": error.code, "message": error.message[:MAX_MESSAGE_CHARS]}


def state_error(error: dict[str, Any]) -> dict[str, str]:
    """A row's ``error`` as the state carries it: its message cut to STATE_MESSAGE_CHARS
    (the whole one travels in the Lambda result, see the module's docstring)."""
    return {"code": str(error.get("code") or "RENDER_FAILED"),
            "message": str(error.get("message") or "")[:STATE_MESSAGE_CHARS]}


def split_row_result(result: dict[str, Any]) -> dict[str, Any]:
    """assemble_row's answer for a row's whole result: ``row_result``, what the state
    keeps (no links, the error's message cut), beside the ``links`` and whole ``error``
    that only the task's result (the execution's history) holds."""
    answer: dict[str, Any] = {"row_result": {key: value for key, value in result.items()
                                             if key != "links"}}
    if isinstance(result.get("links"), dict):
        answer["links"] = result["links"]
    if isinstance(result.get("error"), dict):
        answer["error"] = result["error"]
        answer["row_result"]["error"] = state_error(result["error"])
    return answer


def error_from_failure(error: str, cause: str | None) -> dict[str, str]:
    """A row's ``error`` from a state's caught failure: Step Functions' error name (the
    typed code, e.g. PLAN_HASH_MISMATCH) and its cause, which for a function error is the
    Lambda error payload whose ``errorMessage`` is the typed error as JSON
    (``{"code", "message", "hint"}``); anything else is kept as text."""
    message = cause or ""
    try:
        payload = json.loads(message)
    except (json.JSONDecodeError, TypeError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        message = payload["errorMessage"]
        try:
            typed = json.loads(message)
        except json.JSONDecodeError:
            typed = None
        if isinstance(typed, dict) and isinstance(typed.get("message"), str):
            message = typed["message"]
    return {"code": str(error or "States.TaskFailed"), "message": message[:MAX_MESSAGE_CHARS]}


def chunk_failure(chunks: object, render_id: str) -> dict[str, str] | None:
    """The error of the first chunk (by index) of ``render_id`` that failed for good, from
    the chunk Map's records; None when none did. See :func:`first_failed_chunk`."""
    failed = first_failed_chunk(chunks, render_id)
    return None if failed is None else failed[1]


def first_failed_chunk(chunks: object, render_id: str) -> tuple[int, dict[str, str]] | None:
    """The index and error of the first chunk (by index) of ``render_id`` that failed for
    good, from the chunk Map's records (``{render_id, row, index, failed: true, error}`` for
    a failure, with its ``cause`` only under fail_fast; ``{index, failed: false}`` for a
    success); None when none did. Without a cause the message is empty: the record keeps
    the error name only, so that the state does not grow with failures."""
    if not isinstance(chunks, list):
        raise InvalidBatch("assemble_row needs the list of chunk records")
    failed = [item for item in chunks if isinstance(item, dict) and item.get("failed") is True
              and item.get("render_id") == render_id]
    if not failed:
        return None
    first = min(failed, key=lambda item: int(item.get("index") or 0))
    return int(first.get("index") or 0), error_from_failure(str(first.get("error") or ""),
                                                            first.get("cause"))


def fit_row_errors(plan: dict[str, Any]) -> dict[str, Any]:
    """plan_batch's result with as many of its whole ``row_errors`` (in row order) as keep
    the task's result itself under MAX_STATE_BYTES: Step Functions refuses a task result
    above 256 KiB before its ResultSelector drops them. A row left out still has its
    error, its message cut, in its summary."""
    errors = plan.get("row_errors")
    if not isinstance(errors, dict) or not errors:
        return plan
    kept: dict[str, Any] = {}
    size = len(json.dumps({**plan, "row_errors": {}}))
    for render_id, error in errors.items():
        entry = len(json.dumps({render_id: error}))  # its share, separators included
        if size + entry > MAX_STATE_BYTES:
            break
        kept[render_id] = error
        size += entry
    return {**plan, "row_errors": kept}


def row_result_bytes(summary: dict[str, Any], bucket: str) -> int:
    """The most a row's result takes in the state (links left out), from its summary: a
    SUCCEEDED one with the largest numbers, or a FAILED one with the longest message the
    state keeps, whichever is larger."""
    base = {key: summary.get(key) for key in ("row", "name", "render_id")}
    key = str(summary.get("output_key") or "")
    succeeded = {**base, "status": SUCCEEDED, "output_key": key,
                 "output_uri": f"s3://{bucket}/{key}", "bytes": 10**12, "frames": 10**7,
                 "duration": 99999.123456789, "fps": "30000/1001",
                 "poster_key": f"{key[:-4]}.poster.jpg"}
    failed = {**base, "status": FAILED,
              "error": {"code": "X" * 32, "message": "x" * STATE_MESSAGE_CHARS}}
    return max(len(json.dumps(succeeded)), len(json.dumps(failed)))


def estimated_state_bytes(plan: dict[str, Any]) -> int:
    """The most the batch's state can hold, from plan_batch's result (what its
    ResultSelector keeps: ``row_errors`` is left out): during the chunk Map the plan (row
    summaries and chunk items) beside a record per chunk; at the end the row summaries, the
    chunk records and every row's result (the items are dropped)."""
    kept = {key: value for key, value in plan.items() if key != "row_errors"}
    chunk_records = int(plan.get("chunk_count") or 0) * CHUNK_RECORD_BYTES
    rows = plan.get("rows") or []
    bucket = str(plan.get("bucket") or "")
    during = len(json.dumps(kept)) + chunk_records
    after = len(json.dumps(rows)) + chunk_records + sum(
        row_result_bytes(row, bucket) for row in rows if isinstance(row, dict))
    return max(during, after)
