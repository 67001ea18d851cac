"""Batch renders on Lambda, the client side (hfaction.aws.batches): the checks made before
any upload, the execution's input, and reading a batch's progress, per-row results and
cost from hand-written executions shaped per the batch contract (issue 15), through a
stand-in facade (no AWS, no moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws.batches import (
    BatchRequest,
    RecordCache,
    batch_progress,
    batch_state_machine,
    check_request,
    execution_input,
    row_name,
    start_batch,
)
from hfaction.aws.batchspec import row_render_id
from hfaction.aws.cost import render_cost
from hfaction.aws.facade import CredentialsLifetime, StackInfo
from hfaction.errors import BatchFailed, InvalidBatch, StackNotFound
from hfaction.render.batch import BatchRow
from hfaction.render.options import RenderOptions

VARIABLES = [
    {"id": "name", "type": "string", "label": "Name", "default": "World"},
    {"id": "price", "type": "number", "label": "Price", "default": 0},
]
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:hf-batch"
BATCH = "hf-20261203-101500-0a1b2c3d"



def stack(batch_arn: str = MACHINE) -> StackInfo:
    return StackInfo(name="video", bucket="renders-bucket", state_machine_arn="arn:render",
                      function_arn="arn:fn", batch_state_machine_arn=batch_arn)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(
        f"<!doctype html><html data-composition-variables='{json.dumps(VARIABLES)}'><body>"
        '<div data-composition-id="main" data-width="160" data-height="90" '
        'data-duration="1" data-no-timeline><p data-var-text="name"></p></div></body></html>')
    return folder


def rows_file(tmp_path: Path, *lines: str, name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# --- before any AWS call ------------------------------------------------------------------


def test_check_request_lists_every_bad_row_naming_row_and_column(project: Path,
                                                                 tmp_path: Path) -> None:
    batch = rows_file(tmp_path, '{"name": "Ada", "output": "ada"}',
                      '{"nmae": "Bob"}', '{"price": "cheap"}')
    with pytest.raises(InvalidBatch) as caught:
        check_request(BatchRequest(project=project, batch_file=batch))
    assert caught.value.exit_code == 2
    problems = list(caught.value.problems)
    assert len(problems) == 2
    assert problems[0].startswith("row 2 (line 2), column 'nmae'")
    assert problems[1].startswith("row 3 (line 3), column 'price'")


def test_check_request_accepts_csv_and_returns_the_rows(project: Path, tmp_path: Path) -> None:
    batch = rows_file(tmp_path, "name,price,output", "Ada,3,ada", "Bob,4,", name="rows.csv")
    rows = check_request(BatchRequest(project=project, batch_file=batch))
    assert [(row.output, row.variables) for row in rows] == [
        ("ada.mp4", {"name": "Ada", "price": "3"}),
        ("row-0002.mp4", {"name": "Bob", "price": "4"})]
    assert [row_name(row) for row in rows] == ["ada", "row-0002"]


def test_execution_input_follows_the_contract() -> None:
    rows = [BatchRow(1, 1, {"name": "Ada"}, "ada.mp4", named=True),
            BatchRow(2, 2, {}, "row-0002.mp4")]
    payload = execution_input(BATCH, "bucket", "site1", {"quality": "draft",
                                                         "variables": {"name": "X",
                                                                       "price": "2"}},
                              rows, fail_fast=True, presign_expiry_s=600)
    assert payload["batch_id"] == BATCH and payload["site_id"] == "site1"
    assert payload["fail_fast"] is True and payload["presign_expiry_s"] == 600
    # Each row carries every variable it renders with: the shared ones, its own over them.
    assert payload["rows"] == [{"name": "ada", "variables": {"name": "Ada", "price": "2"}},
                               {"name": "row-0002", "variables": {"name": "X",
                                                                  "price": "2"}}]
    assert "max_frames" in payload["limits"] or payload["limits"] is not None


def test_a_stack_without_a_batch_state_machine_is_told_to_redeploy() -> None:
    with pytest.raises(StackNotFound) as caught:
        batch_state_machine(stack(""))
    assert "hfaction lambda deploy --stack-name video" in str(caught.value)
    assert caught.value.exit_code == 2


def test_start_batch_names_the_execution_after_the_batch() -> None:
    started: list[tuple[str, str, dict[str, Any]]] = []

    class Facade:
        def start_execution(self, arn: str, name: str, payload: dict[str, Any]) -> str:
            started.append((arn, name, payload))
            return arn

    rows = [BatchRow(1, 1, {}, "a.mp4", named=True)]
    batch_id = start_batch(Facade(), stack(), "site1", {}, rows,  # type: ignore[arg-type]
                           batch_id=BATCH)
    assert batch_id == BATCH
    assert started[0][:2] == (MACHINE, BATCH)
    assert started[0][2]["rows"] == [{"name": "a", "variables": {}}]


# --- progress from hand-written executions --------------------------------------------------


def record(render_id: str, action: str, index: int | None, ms: int) -> dict[str, Any]:
    return {"action": action, "render_id": render_id, "index": index, "status": "ok",
            "duration_ms": ms, "init_ms": 0, "memory_mb": 10240, "architecture": "x86_64"}


class FakeFacade:
    """describe_execution, its history, and invocation records in a dict 'bucket'."""

    def __init__(self, execution: dict[str, Any], history: list[dict[str, Any]],
                 records: dict[str, dict[str, Any]]) -> None:
        self.execution, self.history, self.records = execution, history, records
        self.reads: list[str] = []
        self.signed: list[str] = []

    def describe_execution(self, arn: str) -> dict[str, Any]:
        assert arn == f"{MACHINE.replace(':stateMachine:', ':execution:')}:{BATCH}"
        return self.execution

    def execution_history(self, arn: str) -> list[dict[str, Any]]:
        return self.history

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(key for key in self.records if key.startswith(prefix))

    def get_json(self, bucket: str, key: str) -> Any:
        self.reads.append(key)
        return self.records[key]

    def presign_get(self, bucket: str, key: str, expires_s: int) -> str:
        self.signed.append(key)
        return f"https://{bucket}.s3.amazonaws.com/{key}?X-Amz-Credential=JOB"

    def credentials_lifetime(self) -> CredentialsLifetime:
        return CredentialsLifetime(temporary=False)


def row_records(records: dict[str, dict[str, Any]], render_id: str, chunks: int) -> None:
    for action, index, ms in [("plan", None, 900)] + [
            ("render_chunk", i, 3000) for i in range(chunks)] + [("assemble_row", None, 800)]:
        records[f"work/{render_id}/invocations/{action}-{index}-req"] = record(
            render_id, action, index, ms)


def links(name: str) -> dict[str, Any]:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    return {"video_url": f"https://renders-bucket.s3.amazonaws.com/renders/{BATCH}/"
                         f"{name}.mp4?X-Amz-Signature=abc",
            "poster_url": f"https://renders-bucket.s3.amazonaws.com/renders/{BATCH}/"
                          f"{name}.poster.jpg?X-Amz-Signature=def",
            "signed_by": "render function role", "expires_at": later, "latest_expiry": later}


def succeeded_row(index: int, name: str, *, signed: bool = True) -> dict[str, Any]:
    key = f"renders/{BATCH}/{name}.mp4"
    item = {"row": index, "name": name, "render_id": row_render_id(BATCH, index),
            "status": "SUCCEEDED", "output_key": key,
            "output_uri": f"s3://renders-bucket/{key}", "bytes": 1000 + index, "frames": 60,
            "duration": 2.0, "poster_key": f"renders/{BATCH}/{name}.poster.jpg"}
    if signed:
        item["links"] = links(name)
    return item


def three_rows() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict[str, Any]]]:
    names = ["alice", "bob", "carol"]
    records: dict[str, dict[str, Any]] = {}
    records[f"work/{BATCH}/invocations/plan_batch-None-req"] = record(BATCH, "plan_batch",
                                                                      None, 5000)
    for index in range(3):
        row_records(records, row_render_id(BATCH, index), chunks=2)
    output = {"batch_id": BATCH, "rows": [
        succeeded_row(0, "alice"),
        {"row": 1, "name": "bob", "render_id": row_render_id(BATCH, 1), "status": "FAILED",
         "error": {"code": "PAGE_SCRIPT_ERROR", "message": "title is undefined"}},
        succeeded_row(2, "carol", signed=False)]}
    execution = {"status": "SUCCEEDED",
                 "input": json.dumps({"batch_id": BATCH,
                                      "rows": [{"name": n, "variables": {}} for n in names]}),
                 "output": json.dumps(output),
                 "startDate": datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
                 "stopDate": datetime(2026, 12, 3, 10, 16, tzinfo=UTC)}
    history = [{"id": i + 1, "type": kind} for i, kind in enumerate(
        ["ExecutionStarted", "TaskStateEntered", "MapStateEntered", "TaskStateEntered",
         "TaskStateEntered", "TaskStateEntered", "MapStateEntered", "TaskStateEntered",
         "TaskStateEntered", "TaskStateEntered", "ExecutionSucceeded"])]
    return execution, history, records


def test_rows_statuses_links_and_costs_from_the_execution_output() -> None:
    execution, history, records = three_rows()
    facade = FakeFacade(execution, history, records)
    state = batch_progress(facade, stack(), BATCH)  # type: ignore[arg-type]
    assert state.status == "SUCCEEDED" and state.done
    assert [(r.row, r.name, r.status) for r in state.rows] == [
        (1, "alice", "SUCCEEDED"), (2, "bob", "FAILED"), (3, "carol", "SUCCEEDED")]
    alice, bob, carol = state.rows
    assert alice.output_uri == f"s3://renders-bucket/renders/{BATCH}/alice.mp4"
    assert alice.output_url == links("alice")["video_url"]
    assert alice.links_signed_by == "render function role"
    assert alice.duration_s == 2.0 and alice.output_bytes == 1000 and alice.frames == 60
    assert bob.error == {"code": "PAGE_SCRIPT_ERROR", "message": "title is undefined"}
    assert bob.output_url is None
    # carol's row has no signed links (an older function): this client signs them.
    assert carol.links_signed_by is None
    assert facade.signed == [f"renders/{BATCH}/carol.mp4", f"renders/{BATCH}/carol.poster.jpg"]
    assert state.chunks_done == 6

    # Each row's own invocations, and an even share of what the rows share; the rows'
    # costs add up to the batch's total.
    own = render_cost([records[k] for k in records if f"/{row_render_id(BATCH, 0)}/" in k], 0)
    shared = render_cost([records[f"work/{BATCH}/invocations/plan_batch-None-req"]],
                         state_transitions_of(history))
    assert alice.cost.own == own and alice.cost.own.invocations == 4
    assert alice.cost.total == pytest.approx(own.total + shared.total / 3, abs=1e-12)
    assert sum(r.cost.total for r in state.rows) == pytest.approx(state.cost.total,
                                                                  abs=1e-12)
    assert state.cost.transitions == 9 and state.cost.invocations == 13

    with pytest.raises(BatchFailed) as caught:
        state.check()
    assert caught.value.exit_code == 1
    assert "1 of 3 rows" in str(caught.value) and "row 2 (bob)" in str(caught.value)
    listed = state.rows_dicts()
    assert [item["status"] for item in listed] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert listed[0]["cost"]["total_usd"] == round(alice.cost.total, 6)
    assert json.loads(json.dumps(listed)) == listed


def state_transitions_of(history: list[dict[str, Any]]) -> int:
    return sum(1 for event in history if event["type"].endswith("StateEntered"))


def test_a_running_batch_reports_rows_as_their_tasks_return() -> None:
    execution, history, records = three_rows()
    execution = {**execution, "status": "RUNNING", "output": None, "stopDate": None}
    ended = succeeded_row(0, "alice")
    history = [*history[:-1], {"id": 50, "type": "TaskSucceeded", "taskSucceededEventDetails": {
        "output": json.dumps({"Payload": {"row_result": ended}})}}]
    # Row 3 has planned but not rendered yet.
    for key in [k for k in records if row_render_id(BATCH, 2) in k and "plan-" not in k]:
        del records[key]
    facade = FakeFacade(execution, history, records)
    cache = RecordCache()
    state = batch_progress(facade, stack(), BATCH, cache=cache)  # type: ignore[arg-type]
    assert not state.done
    assert [r.status for r in state.rows] == ["SUCCEEDED", "PENDING", "PENDING"]
    assert [r.chunks_done for r in state.rows] == [2, 2, 0]
    # Records are read once across polls.
    reads = len(facade.reads)
    batch_progress(facade, stack(), BATCH, cache=cache)  # type: ignore[arg-type]
    assert len(facade.reads) == reads


def test_rows_of_a_failed_execution_that_never_ended_are_failed_with_its_error() -> None:
    execution, history, records = three_rows()
    execution = {**execution, "status": "FAILED", "output": None, "error": "PAGE_SCRIPT_ERROR",
                 "cause": json.dumps({"errorMessage": json.dumps(
                     {"code": "PAGE_SCRIPT_ERROR", "message": "boom"})})}
    facade = FakeFacade(execution, history[:-1], records)
    state = batch_progress(facade, stack(), BATCH)  # type: ignore[arg-type]
    assert [r.status for r in state.rows] == ["FAILED"] * 3
    assert state.rows[0].error is not None
    assert state.rows[0].error["code"] == "PAGE_SCRIPT_ERROR"
    assert "not rendered" in state.rows[0].error["message"]
    with pytest.raises(BatchFailed):
        state.check()


def test_render_batch_refuses_bad_rows_before_connecting(project: Path,
                                                        tmp_path: Path) -> None:
    from hfaction.aws.batches import render_batch

    class Target:
        def connect(self, on_warning: Any = None) -> Any:
            raise AssertionError("connected although a row is bad")

    batch = rows_file(tmp_path, '{"price": "x"}')
    with pytest.raises(InvalidBatch):
        render_batch(Target(), BatchRequest(project=project, batch_file=batch,
                                            options=RenderOptions()))


def test_links_and_whole_errors_are_merged_from_the_task_results_by_render_id() -> None:
    """The output (the state) has no links and a cut message; the history's task results
    (assemble_row's links and error, plan_batch's row_errors) give them back to the rows,
    each to its own render id, whatever order the tasks ended in."""
    execution, history, records = three_rows()
    alice, carol = succeeded_row(0, "alice", signed=False), succeeded_row(2, "carol",
                                                                          signed=False)
    whole = "title is undefined " + "x" * 900
    bob = {"row": 1, "name": "bob", "render_id": row_render_id(BATCH, 1), "status": "FAILED",
           "error": {"code": "PAGE_SCRIPT_ERROR", "message": whole[:300]}}
    execution = {**execution, "output": json.dumps({"batch_id": BATCH,
                                                    "rows": [alice, bob, carol]})}

    def task(payload: dict[str, Any], event_id: int) -> dict[str, Any]:
        return {"id": event_id, "type": "TaskSucceeded", "taskSucceededEventDetails": {
            "output": json.dumps({"Payload": payload})}}

    tasks = [task({"batch_id": BATCH, "rows": [], "row_errors": {
                 row_render_id(BATCH, 1): {"code": "PAGE_SCRIPT_ERROR", "message": whole}}}, 40),
             task({"row_result": carol, "links": links("carol")}, 41),
             task({"row_result": alice, "links": links("alice")}, 42)]
    facade = FakeFacade(execution, [*history[:-1], *tasks, history[-1]], records)
    state = batch_progress(facade, stack(), BATCH)  # type: ignore[arg-type]
    first, second, third = state.rows
    assert first.output_url == links("alice")["video_url"]
    assert third.output_url == links("carol")["video_url"]
    assert third.poster_url == links("carol")["poster_url"]
    assert first.links_signed_by == third.links_signed_by == "render function role"
    assert facade.signed == []  # nothing signed by this client
    assert second.error == {"code": "PAGE_SCRIPT_ERROR", "message": whole}


@pytest.mark.parametrize("failure,expected", [
    (None, True),
    ("ExecutionDoesNotExist", False),
    ("AccessDeniedException", False),
])
def test_an_id_is_a_batch_when_the_batch_state_machine_has_its_execution(
        failure: str | None, expected: bool) -> None:
    # The real facade over a stubbed Step Functions client (botocore's Stubber checks the
    # request against the service model), answering with the error code AWS would send.
    import boto3
    from botocore.stub import Stubber

    from hfaction.aws.batches import is_batch
    from hfaction.aws.facade import AwsClients, AwsFacade

    sfn = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:hf-1"
    with Stubber(sfn) as stub:
        if failure:
            stub.add_client_error("describe_execution", service_error_code=failure,
                                  service_message="no", expected_params={"executionArn": arn})
        else:
            stub.add_response("describe_execution", {
                "executionArn": arn, "stateMachineArn": MACHINE, "status": "RUNNING",
                "startDate": datetime.now(UTC)}, {"executionArn": arn})
        facade = AwsFacade(AwsClients(s3=None, sfn=sfn, lambda_=None, cloudformation=None))
        assert is_batch(facade, stack(), "hf-1") is expected
        stub.assert_no_pending_responses()


def test_other_errors_are_not_taken_for_a_render() -> None:
    from hfaction.aws.batches import is_batch
    from hfaction.errors import AwsCallFailed

    class Facade:
        def describe_execution(self, arn: str) -> dict[str, Any]:
            failed = AwsCallFailed("Step Functions DescribeExecution failed: ThrottlingException")
            failed.aws_code = "ThrottlingException"
            raise failed

    with pytest.raises(AwsCallFailed):
        is_batch(Facade(), stack(), "hf-1")  # type: ignore[arg-type]
    # A stack deployed before batches: no call, not a batch.
    assert is_batch(Facade(), stack(""), "hf-1") is False  # type: ignore[arg-type]
