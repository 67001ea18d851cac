"""hfaction.aws.batchspec: a batch's row ids, output keys, input rows and row errors."""

from __future__ import annotations

import json

import pytest

from hfaction.aws.batchspec import (
    CHUNK_RECORD_BYTES,
    MAX_ROWS,
    MAX_STATE_BYTES,
    STATE_MESSAGE_CHARS,
    RowSpec,
    chunk_failure,
    error_from_failure,
    estimated_state_bytes,
    fit_row_errors,
    row_error,
    row_output_key,
    row_render_id,
    row_result_bytes,
    rows_from_event,
    split_row_result,
)
from hfaction.aws.handler import lambda_error
from hfaction.errors import InvalidBatch, PageScriptError, S3UriNotAllowed


def test_row_render_ids_are_the_batch_id_and_the_row_from_zero() -> None:
    assert row_render_id("hf-20260101-000000-abcd1234", 0) == "hf-20260101-000000-abcd1234-0000"
    assert row_render_id("b", 12) == "b-0012"
    assert row_render_id("b", 12345) == "b-12345"
    with pytest.raises(ValueError):
        row_render_id("b", -1)
    with pytest.raises(ValueError):
        row_render_id("b", True)
    with pytest.raises(S3UriNotAllowed):
        row_render_id("../b", 0)
    with pytest.raises(S3UriNotAllowed):  # too long for an id once the row is added
        row_render_id("b" * 126, 0)


def test_row_output_keys_are_under_renders_in_the_batch_folder() -> None:
    assert row_output_key("b1", "alice") == "renders/b1/alice.mp4"
    assert row_output_key("b1", "alice.mp4") == "renders/b1/alice.mp4"
    assert row_output_key("b1", "Alice.MP4") == "renders/b1/Alice.MP4"
    assert row_output_key("b1", "a", "previews/") == "previews/b1/a.mp4"
    for bad in ("../x", "a/b", ".hidden", "a:b", ""):
        with pytest.raises(ValueError):
            row_output_key("b1", bad)
    with pytest.raises(S3UriNotAllowed):
        row_output_key("b/1", "a")


def test_rows_from_the_input() -> None:
    rows = rows_from_event([
        {"name": "alice", "variables": {"title": "Hi", "n": 3, "on": True, "gone": None}},
        {},
        {"name": "bob.mp4", "variables": None},
    ])
    assert rows == [RowSpec(0, "alice", {"title": "Hi", "n": "3", "on": "true"}),
                    RowSpec(1, "row-0002", {}),
                    RowSpec(2, "bob.mp4", {})]


@pytest.mark.parametrize("raw,says", [
    (None, "no rows"),
    ([], "no rows"),
    (["x"], "row 0 is not a JSON object"),
    ([{"name": "a", "output": "b"}], "unknown key 'output'"),
    ([{"name": 3}], "name must be a string"),
    ([{"name": "a/b"}], "row 0: name"),
    ([{"name": "a"}, {"name": "A.mp4"}], "row 1: 'A.mp4' is also the output of row 0"),
    ([{"variables": ["a"]}], "variables must be a JSON object"),
    ([{}] * (MAX_ROWS + 1), f"at most {MAX_ROWS}"),
])
def test_bad_rows_are_an_invalid_batch(raw: object, says: str) -> None:
    with pytest.raises(InvalidBatch) as caught:
        rows_from_event(raw)
    assert says in caught.value.message


def lambda_cause(error: Exception) -> str:
    """The cause Step Functions records for a function error: the runtime's payload."""
    return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__,
                       "requestId": "r", "stackTrace": ["..."]})


def test_a_caught_failure_becomes_the_rows_typed_error() -> None:
    raised = lambda_error(PageScriptError("Uncaught Error: boom"))
    assert error_from_failure("PAGE_SCRIPT_ERROR", lambda_cause(raised)) == {
        "code": "PAGE_SCRIPT_ERROR", "message": "Uncaught Error: boom"}
    # An untyped function error keeps its message; a service error's cause stays text.
    assert error_from_failure("KeyError", lambda_cause(KeyError("x"))) == {
        "code": "KeyError", "message": "'x'"}
    assert error_from_failure("States.Timeout", "Task timed out") == {
        "code": "States.Timeout", "message": "Task timed out"}
    assert error_from_failure("", None) == {"code": "States.TaskFailed", "message": ""}
    assert len(error_from_failure("X", "y" * 5000)["message"]) == 2000
    assert row_error(PageScriptError("boom")) == {"code": "PAGE_SCRIPT_ERROR",
                                                  "message": "boom"}


def test_a_rows_chunk_failure_is_its_first_failed_chunk() -> None:
    def failed(render_id: str, index: int, message: str) -> dict[str, object]:
        return {"render_id": render_id, "row": 0, "index": index, "failed": True,
                "error": "PAGE_SCRIPT_ERROR",
                "cause": lambda_cause(lambda_error(PageScriptError(message)))}

    records = [{"index": 0, "key": "k", "frames": 10, "failed": False},
               failed("b-0001", 3, "third"), failed("b-0001", 1, "first"),
               failed("b-0002", 0, "other row")]
    assert chunk_failure(records, "b-0001") == {"code": "PAGE_SCRIPT_ERROR",
                                                "message": "first"}
    assert chunk_failure(records, "b-0000") is None
    assert chunk_failure([], "b-0000") is None
    with pytest.raises(InvalidBatch):
        chunk_failure(None, "b-0000")


def test_a_chunk_record_bound_holds_a_failed_chunk() -> None:
    # What batch.asl.json's RecordChunkFailure keeps of a failure: never its cause.
    failed = {"render_id": row_render_id("hf-20261203-154536-d092e5a3", 99), "row": 99,
              "index": 99999, "failed": True, "error": "X" * 64}
    assert len(json.dumps(failed)) <= CHUNK_RECORD_BYTES


def test_the_state_estimate_counts_the_largest_moment() -> None:
    rows = [{"row": i, "name": f"r{i}", "render_id": f"b-{i:04d}", "status": "PLANNED",
             "output_key": f"renders/b/r{i}.mp4"} for i in range(MAX_ROWS)]
    items = [{"render_id": "b-0000", "plan_key": "work/b-0000/plan.tar", "plan_hash": "f" * 64,
              "index": i, "row": 0} for i in range(100)]
    plan = {"batch_id": "b", "bucket": "bkt", "rows": rows, "chunk_count": len(items),
            "chunks": items}
    during = len(json.dumps(plan)) + 100 * CHUNK_RECORD_BYTES
    after = len(json.dumps(rows)) + 100 * CHUNK_RECORD_BYTES + sum(
        row_result_bytes(row, "bkt") for row in rows)
    assert estimated_state_bytes(plan) == max(during, after)
    # The most rows, each with a few chunks, fit; many chunks more do not.
    assert estimated_state_bytes(plan) <= MAX_STATE_BYTES
    many = {**plan, "chunks": items * 20, "chunk_count": 2000}
    assert estimated_state_bytes(many) > MAX_STATE_BYTES
    # The whole errors plan_batch returns beside the rows never reach the state.
    errors = {f"b-{i:04d}": {"code": "X", "message": "m" * 2000} for i in range(MAX_ROWS)}
    assert estimated_state_bytes({**plan, "row_errors": errors}) == \
        estimated_state_bytes(plan)


def _worst_plan(rows: int) -> dict[str, object]:
    """``rows`` rows with the longest names a row may have, one chunk each, a 27-character
    batch id and a 63-character bucket: what MAX_ROWS is computed for."""
    batch_id = "hf-20261203-160135-abcdef01"
    summaries, items = [], []
    for i in range(rows):
        name = f"{i:04d}" + "n" * 192  # with .mp4, MAX_NAME_BYTES (200) bytes
        render_id = row_render_id(batch_id, i)
        summaries.append({"row": i, "name": name, "render_id": render_id,
                          "output_key": row_output_key(batch_id, name),
                          "status": "PLANNED", "plan_key": f"work/{render_id}/plan.tar",
                          "plan_hash": "f" * 64, "frames": 10**6, "chunk_count": 1})
        items.append({"render_id": render_id, "plan_key": f"work/{render_id}/plan.tar",
                      "plan_hash": "f" * 64, "index": 0, "row": i})
    return {"batch_id": batch_id, "bucket": "b" * 63, "fail_fast": False,
            "presign_expiry_s": 3600, "rows": summaries, "chunk_count": rows,
            "chunks": items, "frames": 10**6}


def test_max_rows_of_the_longest_names_fit_the_state() -> None:
    """MAX_ROWS is the figure batchspec's comment computes: that many rows of the longest
    names fit with a sixth to spare, and the 50 of when links were in the state was far
    below it; twice as many do not fit (the figure is not arbitrary)."""
    assert MAX_ROWS == 100
    assert estimated_state_bytes(_worst_plan(MAX_ROWS)) <= MAX_STATE_BYTES * 0.9
    assert estimated_state_bytes(_worst_plan(2 * MAX_ROWS)) > MAX_STATE_BYTES
    # With the links in the state (3.5 KB a row), MAX_ROWS rows would not have fitted.
    assert estimated_state_bytes(_worst_plan(MAX_ROWS)) + MAX_ROWS * 3500 > MAX_STATE_BYTES


def test_a_rows_result_leaves_links_and_the_whole_message_to_the_task_result() -> None:
    links = {"video_url": "https://x/" + "t" * 3000, "poster_url": "https://y"}
    ok = split_row_result({"row": 0, "render_id": "b-0000", "status": "SUCCEEDED",
                           "output_key": "renders/b/a.mp4", "links": links})
    assert ok == {"row_result": {"row": 0, "render_id": "b-0000", "status": "SUCCEEDED",
                                 "output_key": "renders/b/a.mp4"}, "links": links}
    error = {"code": "PAGE_SCRIPT_ERROR", "message": "m" * 2000}
    failed = split_row_result({"row": 1, "render_id": "b-0001", "status": "FAILED",
                               "error": error})
    assert failed["error"] == error
    assert failed["row_result"]["error"] == {"code": "PAGE_SCRIPT_ERROR",
                                             "message": "m" * STATE_MESSAGE_CHARS}
    assert len(json.dumps(failed["row_result"])) <= row_result_bytes(
        {"row": 1, "render_id": "b-0001", "output_key": "renders/b/a.mp4"}, "bkt")


def test_whole_row_errors_are_kept_while_the_task_result_fits() -> None:
    plan = _worst_plan(MAX_ROWS)
    errors = {row["render_id"]: {"code": "PAGE_SCRIPT_ERROR", "message": "m" * 2000}
              for row in plan["rows"]}  # type: ignore[attr-defined]
    fitted = fit_row_errors({**plan, "row_errors": errors})
    kept = fitted["row_errors"]
    assert 0 < len(kept) < len(errors)
    assert list(kept) == list(errors)[:len(kept)]  # the first rows', in order
    assert len(json.dumps(fitted)) <= MAX_STATE_BYTES
    few = {**plan, "row_errors": dict(list(errors.items())[:3])}
    assert fit_row_errors(few) == few
