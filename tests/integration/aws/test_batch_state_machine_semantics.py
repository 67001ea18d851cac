"""What the batch state machine does, executed in moto from the real ASL
(statemachine/batch.asl.json), with Lambda replaced by :class:`FakeBatch`: results shaped
as hfaction/aws/handler.py's plan_batch / render_chunk / assemble_row return them, without
rendering, and faults injected from outside. The real handler behind the same harness is
tested in test_batch_on_step_functions.py. Real AWS (history limits, Distributed Map child
executions as separate executions) cannot run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws import batchspec
from hfaction.aws.handler import lambda_error
from hfaction.errors import HfactionError, PageScriptError, PlanHashMismatch
from tests.integration.aws.sfn_harness import (
    ASL,
    BATCH_ASL,
    PLACEHOLDER,
    REPO,
    LambdaApiError,
    SfnHarness,
    definition_substitution_names,
    harness_factory,
    output_prefixes,
    throttled,
)

BATCH_ID = "hf-batch-test"
CHUNK_ITEM_KEYS = {"action", "bucket", "render_id", "plan_key", "plan_hash", "index", "row",
                   "fail_fast"}


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


class FakeBatch:
    """plan_batch plans ``rows`` rows of ``chunks`` chunks each (rows in ``plan_errors``
    fail to plan); render_chunk holds until ``hold`` chunks are in flight; assemble_row
    reports the row as the handler does, from batchspec's reading of the chunk records."""

    def __init__(self, rows: int, chunks: int, *, hold: int | None = None,
                 plan_errors: dict[int, HfactionError] | None = None) -> None:
        self.rows, self.chunks, self.hold = rows, chunks, hold
        self.plan_errors = plan_errors or {}
        self.faults: dict[tuple[str, int | None, int | None], list[Exception]] = {}
        self._in_flight = 0
        self._started = 0
        self._changed = threading.Condition()

    def fail(self, action: str, *errors: Exception, row: int | None = None,
             index: int | None = None) -> None:
        self.faults.setdefault((action, row, index), []).extend(errors)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        action = event["action"]
        row = event["row"] if action == "render_chunk" else (
            event["row"]["row"] if action == "assemble_row" else None)
        with self._changed:
            pending = self.faults.get((action, row, event.get("index")))
            error = pending.pop(0) if pending else None
        if error is not None:
            raise error
        if action == "plan_batch":
            return self._plan(event)
        if action == "render_chunk":
            return self._chunk(event)
        assert action == "assemble_row", action
        return self._assemble(event)

    def _plan(self, event: dict[str, Any]) -> dict[str, Any]:
        batch_id = event["batch_id"]
        rows, chunks = [], []
        for row in range(self.rows):
            render_id = batchspec.row_render_id(batch_id, row)
            summary = {"row": row, "name": f"r{row}", "render_id": render_id,
                       "output_key": batchspec.row_output_key(batch_id, f"r{row}")}
            if row in self.plan_errors:
                rows.append({**summary, "status": "FAILED",
                             "error": batchspec.row_error(self.plan_errors[row])})
                continue
            plan_key = f"work/{render_id}/plan.tar"
            rows.append({**summary, "status": "PLANNED", "plan_key": plan_key,
                         "plan_hash": "f" * 64, "frames": self.chunks * 10,
                         "chunk_count": self.chunks})
            chunks += [{"render_id": render_id, "plan_key": plan_key, "plan_hash": "f" * 64,
                        "index": i, "row": row} for i in range(self.chunks)]
        return {"batch_id": batch_id, "bucket": event["bucket"],
                "fail_fast": event["fail_fast"], "presign_expiry_s": 3600, "rows": rows,
                "chunk_count": len(chunks), "chunks": chunks, "frames": 0,
                "invocation": {"action": "plan_batch"}}

    def _chunk(self, event: dict[str, Any]) -> dict[str, Any]:
        total = (self.rows - len(self.plan_errors)) * self.chunks
        with self._changed:
            self._in_flight += 1
            self._started += 1
            self._changed.notify_all()
            if self.hold:
                self._changed.wait_for(lambda: self._in_flight >= (self.hold or 0)
                                       or self._started == total, timeout=5)
        time.sleep(0.02)
        with self._changed:
            self._in_flight -= 1
        index = int(event["index"])
        return {"index": index, "key": f"work/{event['render_id']}/chunks/chunk-{index:05d}.mp4",
                "start": index * 10, "end": index * 10 + 10, "frames": 10, "bytes": 100,
                "pipelines": 1, "invocation": {"action": "render_chunk"}}

    def _assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        row = event["row"]
        outcome = {"row": row["row"], "name": row["name"], "render_id": row["render_id"]}
        if row["status"] == "FAILED":
            return {"row_result": {**outcome, "status": "FAILED", "error": row["error"]}}
        failure = batchspec.chunk_failure(event["chunks"], row["render_id"])
        if failure is not None:
            return {"row_result": {**outcome, "status": "FAILED", "error": failure}}
        return {"row_result": {**outcome, "status": "SUCCEEDED",
                               "output_key": row["output_key"], "frames": row["frames"]},
                "invocation": {"action": "assemble_row"}}


@pytest.fixture
def harness() -> Iterator[Any]:
    """harness(fake, concurrency=...) starts moto with the stack; stopped after the test."""
    with harness_factory() as start:
        yield start


def run(sfn: SfnHarness, rows: int, **extra: Any) -> Any:
    given = {"batch_id": BATCH_ID, "site_id": "site-1",
             "rows": [{"name": f"r{i}"} for i in range(rows)], **extra}
    return sfn.run(given, name=BATCH_ID, timeout=120, batch=True)


def statuses(result: Any) -> list[tuple[int, str, str | None]]:
    return [(row["row"], row["status"], row.get("error", {}).get("code"))
            for row in result.output["rows"]]


def test_the_chunks_of_all_rows_fan_out_together_under_max_concurrency(harness: Any) -> None:
    fake = FakeBatch(rows=3, chunks=2, hold=4)
    sfn = harness(fake, concurrency=4)
    result = run(sfn, 3)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # Six chunks of three rows: four at once, more than one row has, never more.
    assert sfn.peak_concurrency("render_chunk") == 4
    calls = sfn.calls("render_chunk")
    assert sorted((c.event["row"], c.event["index"]) for c in calls) == [
        (r, i) for r in range(3) for i in range(2)]
    # The items carry ids and keys only, never the rows' variables nor the input.
    assert all(set(c.event) == CHUNK_ITEM_KEYS for c in calls)
    assert all(c.event["render_id"] == batchspec.row_render_id(BATCH_ID, c.event["row"])
               for c in calls)
    assert statuses(result) == [(0, "SUCCEEDED", None), (1, "SUCCEEDED", None),
                                (2, "SUCCEEDED", None)]
    assert result.output == {"batch_id": BATCH_ID, "rows": result.output["rows"]}
    # The plan step got the state machine's action and prefixes, whatever the input said.
    plan = sfn.calls("plan_batch")[0].event
    assert (plan["action"], plan["output_prefixes"], plan["fail_fast"]) == \
        ("plan_batch", "renders/", False)
    # assemble_row gets the row, every chunk record, the prefixes and the links' lifetime.
    assembled = sorted(sfn.calls("assemble_row"), key=lambda c: c.event["row"]["row"])
    assert [c.event["render_id"] for c in assembled] == [
        batchspec.row_render_id(BATCH_ID, r) for r in range(3)]
    first = assembled[0].event
    assert first["output_prefixes"] == "renders/"
    assert first["request"] == {"presign_expiry_s": 3600}
    assert len(first["chunks"]) == 6 and not any(c["failed"] for c in first["chunks"])


def test_input_cannot_override_the_action_nor_the_prefixes(harness: Any) -> None:
    sfn = harness(FakeBatch(rows=1, chunks=1))
    result = run(sfn, 1, action="plan", output_prefixes="renders/,previews/",
                 bucket="hfaction-test-renders")
    assert result.status == "SUCCEEDED"
    plan = sfn.calls("plan_batch")[0].event
    assert (plan["action"], plan["output_prefixes"]) == ("plan_batch", "renders/")


@pytest.mark.parametrize("concurrency,chunks", [(4, 2), (41, 15)], ids=["inline", "distributed"])
def test_a_failed_chunk_fails_its_row_only(harness: Any, concurrency: int, chunks: int) -> None:
    fake = FakeBatch(rows=3, chunks=chunks)
    fake.fail("render_chunk", lambda_error(PlanHashMismatch("chunk 1 of row 1")), row=1,
              index=1)
    sfn = harness(fake, concurrency=concurrency)
    result = run(sfn, 3)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert statuses(result) == [(0, "SUCCEEDED", None), (1, "FAILED", "PLAN_HASH_MISMATCH"),
                                (2, "SUCCEEDED", None)]
    # The row's assemble gets the failed chunk's error name and index, not its cause: a
    # record per chunk stays in the state until then, and must not grow with failures
    # (the real handler reads the message from the chunk's invocation record).
    records = sfn.calls("assemble_row")[0].event["chunks"]  # every row gets them all
    failed = [record for record in records if record.get("failed")]
    assert failed == [{"render_id": failed[0]["render_id"], "row": 1, "index": 1,
                       "failed": True, "error": "PLAN_HASH_MISMATCH"}]
    assert len(sfn.calls("render_chunk")) == 3 * chunks  # typed errors are not retried
    distributed = any(e["type"] == "MapRunStarted" for e in result.history)
    assert distributed == (concurrency > 40)


@pytest.mark.parametrize("concurrency,chunks", [(4, 2), (41, 15)], ids=["inline", "distributed"])
def test_with_fail_fast_a_failed_chunk_fails_the_execution(harness: Any, concurrency: int,
                                                           chunks: int) -> None:
    fake = FakeBatch(rows=3, chunks=chunks)
    fake.fail("render_chunk", lambda_error(PageScriptError("late boom")), row=2, index=0)
    sfn = harness(fake, concurrency=concurrency)
    result = run(sfn, 3, fail_fast=True)
    assert result.status == "FAILED"
    assert result.error == "PAGE_SCRIPT_ERROR"
    assert json.loads(result.cause_json["errorMessage"])["message"] == "late boom"
    assert not sfn.calls("assemble_row")


def test_a_row_that_failed_to_plan_renders_nothing_and_is_reported(harness: Any) -> None:
    fake = FakeBatch(rows=3, chunks=2, plan_errors={0: PageScriptError("boom")})
    sfn = harness(fake)
    result = run(sfn, 3)
    assert statuses(result) == [(0, "FAILED", "PAGE_SCRIPT_ERROR"), (1, "SUCCEEDED", None),
                                (2, "SUCCEEDED", None)]
    assert sorted(c.event["row"] for c in sfn.calls("render_chunk")) == [1, 1, 2, 2]


def test_every_row_failing_to_plan_still_ends_with_every_row(harness: Any) -> None:
    fake = FakeBatch(rows=2, chunks=2, plan_errors={0: PageScriptError("a"),
                                                    1: PageScriptError("b")})
    sfn = harness(fake)
    result = run(sfn, 2)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert statuses(result) == [(0, "FAILED", "PAGE_SCRIPT_ERROR"),
                                (1, "FAILED", "PAGE_SCRIPT_ERROR")]
    assert not sfn.calls("render_chunk")


def test_transient_errors_are_retried(harness: Any) -> None:
    fake = FakeBatch(rows=2, chunks=2)
    fake.fail("render_chunk", throttled(), row=1, index=0)
    fake.fail("assemble_row", LambdaApiError("ServiceException", "oops", 500), row=0)
    sfn = harness(fake)
    result = run(sfn, 2)
    assert statuses(result) == [(0, "SUCCEEDED", None), (1, "SUCCEEDED", None)]
    assert [c.error for c in sfn.calls("render_chunk") if c.event["row"] == 1
            and c.event["index"] == 0] == ["Lambda.TooManyRequestsException", None]


class RuntimeCrash(Exception):
    """An untyped function error (the class name is the error name)."""


def test_an_assemble_that_fails_for_good_fails_its_row_or_with_fail_fast_the_batch(
        harness: Any) -> None:
    fake = FakeBatch(rows=2, chunks=1)
    fake.fail("assemble_row", RuntimeCrash("out of memory"), row=1)
    sfn = harness(fake)
    result = run(sfn, 2)
    assert result.status == "SUCCEEDED"
    assert statuses(result) == [(0, "SUCCEEDED", None), (1, "FAILED", "RuntimeCrash")]
    assert "out of memory" in result.output["rows"][1]["error"]["message"]

    fake.fail("assemble_row", RuntimeCrash("out of memory"), row=1)
    sfn.reset()
    given = {"batch_id": "hf-batch-test-2", "site_id": "site-1", "fail_fast": True,
             "rows": [{"name": "a"}, {"name": "b"}]}
    failed = sfn.run(given, name="hf-batch-test-2", timeout=120, batch=True)
    assert (failed.status, failed.error) == ("FAILED", "RuntimeCrash")


def test_a_plan_step_failure_fails_the_execution_with_its_error(harness: Any) -> None:
    from hfaction.errors import InvalidBatch

    fake = FakeBatch(rows=1, chunks=1)
    fake.fail("plan_batch", lambda_error(InvalidBatch("the batch has no rows")))
    sfn = harness(fake)
    result = run(sfn, 1)
    assert (result.status, result.error) == ("FAILED", "INVALID_BATCH")
    assert len(sfn.calls("plan_batch")) == 1


# --- the definition as data ----------------------------------------------------------------


def all_states(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in node["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"])


def test_the_definition_as_the_template_deploys_it() -> None:
    text = BATCH_ASL.read_text()
    asl = json.loads(text)
    # The template's BatchStateMachine fills exactly its placeholders, renders/ only.
    assert set(PLACEHOLDER.findall(text)) == definition_substitution_names(
        "BatchStateMachine") == {"RenderFunctionArn", "RenderBucketName", "MaxConcurrency",
                                 "OutputPrefixes"}
    assert output_prefixes("BatchStateMachine") == "renders/"
    names = [name for name, _ in all_states(asl)]
    assert len(names) == len(set(names))  # AWS wants state names unique in the whole machine
    assert asl["TimeoutSeconds"] == 86400
    # Every Lambda task retries transient errors only, as the render machine's do.
    render = json.loads(ASL.read_text())
    render_retry = render["States"]["Plan"]["Retry"]
    tasks = {name: state for name, state in all_states(asl) if state["Type"] == "Task"}
    assert set(tasks) == {"PlanBatch", "RenderChunk", "RenderChunkInChild", "AssembleRow"}
    for name, task in tasks.items():
        assert task["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert task["Parameters"]["FunctionName"] == "${RenderFunctionArn}", name
        assert task["Retry"] == render_retry, name
        assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
    # Every top-level state that can fail ends in BatchFailed, keeping the error's name.
    for name, state in asl["States"].items():
        if state["Type"] in ("Task", "Map"):
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                                       "Next": "BatchFailed"}], name
    # The plan step's action and prefixes are merged last; assemble_row's are constants.
    assert asl["States"]["PlanBatch"]["Parameters"]["Payload.$"].endswith(
        "$.config.plan_action, false)")
    assert asl["States"]["Prepare"]["Parameters"]["config"]["plan_action"] == {
        "action": "plan_batch", "output_prefixes": "${OutputPrefixes}"}
    assert asl["States"]["AssembleRows"]["ItemSelector"]["output_prefixes"] == \
        "${OutputPrefixes}"
    # The input (every row's variables) is not carried from state to state.
    assert asl["States"]["Prepare"]["ResultPath"] == "$"
    # Both chunk Maps fan out the same small items.
    inline, distributed = (asl["States"][name]["ItemSelector"]
                           for name in ("RenderChunksInline", "RenderChunksDistributed"))
    assert inline == distributed
    assert set(inline) == {"action", "bucket.$", "render_id.$", "plan_key.$", "plan_hash.$",
                           "index.$", "row.$", "fail_fast.$"}


def test_asl_validator_accepts_the_definition(tmp_path: Path) -> None:
    """The tool scripts/lint-aws.sh runs on both definitions (installed by
    'bash scripts/lint-aws.sh install'), on this definition with sample values."""
    validator = REPO / ".cache" / "asl-validator" / "node_modules" / ".bin" / "asl-validator"
    if not validator.exists():
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{validator} is not installed")
        pytest.skip("asl-validator is not installed: bash scripts/lint-aws.sh install")
    samples = {"RenderFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hf",
               "RenderBucketName": "hfaction-123456789012-us-east-1", "MaxConcurrency": "8",
               "OutputPrefixes": "renders/"}
    filled = tmp_path / "batch.asl.json"
    filled.write_text(PLACEHOLDER.sub(lambda m: samples[m.group(1)], BATCH_ASL.read_text()))
    run = subprocess.run([str(validator), "--json-path", str(filled)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_rows_variables_stay_in_the_input(harness: Any) -> None:
    sfn = harness(FakeBatch(rows=2, chunks=2))
    secret = "v" * 5000
    given = {"batch_id": BATCH_ID, "site_id": "site-1",
             "rows": [{"name": "a", "variables": {"title": secret}}, {"name": "b"}]}
    result = sfn.run(given, name=BATCH_ID, timeout=120, batch=True)
    assert result.status == "SUCCEEDED"
    # Only the plan step gets them; no state after the first carries them along.
    assert secret in json.dumps(sfn.calls("plan_batch")[0].event)
    entered = [event for event in result.history if event["type"].endswith("StateEntered")]
    assert entered and entered[0]["stateEnteredEventDetails"]["name"] == "Prepare"
    carried = [event["stateEnteredEventDetails"]["name"] for event in entered[1:]
               if secret in event["stateEnteredEventDetails"].get("input", "")]
    assert carried == []
    assert not any(secret in json.dumps(call.event) for call in sfn.calls()
                   if call.action != "plan_batch")


class SigningBatch(FakeBatch):
    """assemble_row answers as the handler does (batchspec.split_row_result): a SUCCEEDED
    row with every field and two links the size of ones signed with a role session (some
    3.5 KB: the session token is in each)."""

    TOKEN = "T" * 1100  # an STS session token, URL-encoded, as a signed link carries it

    def _assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        answer = super()._assemble(event)
        result = answer["row_result"]
        if result["status"] != "SUCCEEDED":
            return answer
        key = result["output_key"]
        poster = f"{key[:-4]}.poster.jpg"
        signature = f"&X-Amz-Security-Token={self.TOKEN}&X-Amz-Signature={'0' * 64}"
        links = {"video_url": f"https://b.s3.amazonaws.com/{key}?X-Amz-Credential=x{signature}",
                 "poster_url": f"https://b.s3.amazonaws.com/{poster}?X-Amz-Credential=x"
                               f"{signature}",
                 "expires_in_s": 3600, "expires_at": "2099-01-01T00:00:00Z",
                 "latest_expiry": "2099-01-01T00:00:00Z", "signed_by": "render function role"}
        return batchspec.split_row_result({
            **result, "output_uri": f"s3://b/{key}", "bytes": 10**9, "frames": 10**5,
            "duration": 3600.0, "fps": "30", "poster_key": poster, "links": links})


def largest_state(result: Any) -> int:
    """The largest state input or output the execution's history shows."""
    sizes = [0]
    for event in result.history:
        for key in ("stateEnteredEventDetails", "stateExitedEventDetails",
                    "executionSucceededEventDetails"):
            details = event.get(key) or {}
            for field in ("input", "output"):
                if isinstance(details.get(field), str):
                    sizes.append(len(details[field].encode()))
    return max(sizes)


def test_max_rows_with_signed_links_keep_the_state_under_the_limit(harness: Any) -> None:
    """MAX_ROWS rows (more than the 50 a batch was capped at while the links travelled in
    the state) with links the size of real ones: no state nor the output carries a link,
    every link is in its assemble_row task result in the history, and the largest state
    stays under Step Functions' 256 KiB (moto, like AWS, fails an execution above it with
    States.DataLimitExceeded: with the links kept in row_result this one does) and under
    plan_batch's estimate."""
    rows = batchspec.MAX_ROWS
    assert rows >= 60
    fake = SigningBatch(rows=rows, chunks=2)
    sfn = harness(fake, concurrency=40)
    result = run(sfn, rows)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [row["status"] for row in result.output["rows"]] == ["SUCCEEDED"] * rows
    assert not any("links" in row for row in result.output["rows"])
    signed = [json.loads(event["taskSucceededEventDetails"]["output"])["Payload"]
              for event in result.events("TaskSucceeded")]
    links = {payload["row_result"]["render_id"]: payload["links"] for payload in signed
             if "row_result" in payload}
    assert sorted(links) == [batchspec.row_render_id(BATCH_ID, i) for i in range(rows)]
    link_bytes = sum(len(json.dumps(item)) for item in links.values())
    assert link_bytes > 262_144  # had they stayed in the state, it would not have fitted
    largest = largest_state(result)
    assert largest < 262_144
    plan = next(payload for payload in signed if "chunks" in payload)
    assert largest <= batchspec.estimated_state_bytes(plan) <= batchspec.MAX_STATE_BYTES
    # Nothing in the history's states holds the session token.
    assert SigningBatch.TOKEN not in json.dumps(
        [event for event in result.history if event["type"] != "TaskSucceeded"], default=str)


# --- the handler's checks, before any work -------------------------------------------------


@pytest.fixture
def bucket_deps(tmp_path: Path) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    from hfaction.aws.handler import Deps

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="hfaction-test-renders")
        yield Deps(s3=s3, bucket="hfaction-test-renders", work_root=tmp_path / "lambda")


def raised_code(event: dict[str, Any], deps: Any) -> str:
    from types import SimpleNamespace

    from hfaction.aws.handler import handle

    with pytest.raises(Exception) as caught:
        handle(event, SimpleNamespace(aws_request_id="r", memory_limit_in_mb=1024), deps)
    return type(caught.value).__name__


@pytest.mark.parametrize("change,code", [
    ({"rows": []}, "INVALID_BATCH"),
    ({"rows": [{"name": "a"}, {"name": "A"}]}, "INVALID_BATCH"),
    ({"rows": [{"name": "../a"}]}, "INVALID_BATCH"),
    ({"fail_fast": "yes"}, "INVALID_OPTION"),
    ({"presign_expiry_s": 0}, "INVALID_OPTION"),
    ({"output_prefixes": "sites/"}, "S3_URI_NOT_ALLOWED"),
    ({"batch_id": "../x"}, "S3_URI_NOT_ALLOWED"),
    ({"bucket": "someone-elses"}, "S3_URI_NOT_ALLOWED"),
    ({"site_id": "nothing-there"}, "INVALID_OPTION"),  # checked, then the site is missing
])
def test_plan_batch_refuses_a_bad_batch_before_rendering(bucket_deps: Any, change: dict[str, Any],
                                                         code: str) -> None:
    event = {"action": "plan_batch", "batch_id": "b1", "bucket": "hfaction-test-renders",
             "site_id": "nothing-there", "rows": [{"name": "a"}], "output_prefixes": "renders/",
             **change}
    assert raised_code(event, bucket_deps) == code
    assert bucket_deps.session is None  # no browser was launched


def test_assemble_row_refuses_a_row_of_another_batch(bucket_deps: Any) -> None:
    row = {"row": 0, "name": "a", "render_id": "b2-0000", "status": "PLANNED",
           "output_key": "renders/b2/a.mp4", "plan_key": "work/b2-0000/plan.tar"}
    event = {"action": "assemble_row", "batch_id": "b1", "bucket": "hfaction-test-renders",
             "render_id": "b2-0000", "row": row, "chunks": [], "output_prefixes": "renders/"}
    assert raised_code(event, bucket_deps) == "S3_URI_NOT_ALLOWED"


def _stand_in_planning(monkeypatch: pytest.MonkeyPatch, chunks: int,
                       failing: set[int] | None = None) -> None:
    """plan_batch without a browser: the site fetch and each row's plan stood in (a row in
    ``failing`` fails to plan with a long message), the rest of the handler as is."""
    import hfaction.aws.handler as handler

    def plan_render(deps: Any, plan_dir: Path, timings: Any, render_id: str, *rest: Any
                    ) -> dict[str, Any]:
        if int(render_id.rsplit("-", 1)[1]) in (failing or set()):
            raise PageScriptError(f"{render_id}: " + "x" * 1900)
        return {"plan_key": f"work/{render_id}/plan.tar", "plan_hash": "f" * 64,
                "frames": chunks * 30,
                "chunk_count": chunks, "chunks": [{"index": i} for i in range(chunks)]}

    monkeypatch.setattr(handler, "_fetch_site", lambda *args: Path("/nonexistent"))
    monkeypatch.setattr(handler, "_plan_render", plan_render)


def plan_event(rows: int) -> dict[str, Any]:
    return {"action": "plan_batch", "batch_id": "hf-20261203-160135-abcdef01",
            "bucket": "hfaction-test-renders", "site_id": "site-1",
            "rows": [{"name": f"row-{i}"} for i in range(rows)], "output_prefixes": "renders/"}


def test_plan_batch_refuses_a_batch_whose_state_would_not_fit(
        bucket_deps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from hfaction.aws.handler import handle

    _stand_in_planning(monkeypatch, chunks=20)
    bucket_deps.session = object()  # no browser: the plans are stood in
    with pytest.raises(Exception) as caught:
        handle(plan_event(batchspec.MAX_ROWS), SimpleNamespace(aws_request_id="r"),
               bucket_deps)
    assert type(caught.value).__name__ == "INVALID_BATCH"
    typed = json.loads(str(caught.value))
    assert f"one execution holds at most {batchspec.MAX_STATE_BYTES}" in typed["message"]
    assert "256 KiB" in typed["message"]
    assert "split the batch file" in typed["hint"]


def test_plan_batch_keeps_whole_errors_out_of_the_state_and_its_result_small(
        bucket_deps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every one of MAX_ROWS rows failing to plan with a long message: the summaries
    (which the state keeps) cut it, the whole ones are in row_errors as far as the task
    result stays under the limit (Step Functions refuses a larger task result)."""
    from types import SimpleNamespace

    from hfaction.aws.handler import handle

    rows = batchspec.MAX_ROWS
    _stand_in_planning(monkeypatch, chunks=1, failing=set(range(rows)))
    bucket_deps.session = object()
    result = handle(plan_event(rows), SimpleNamespace(aws_request_id="r"), bucket_deps)
    assert [row["status"] for row in result["rows"]] == ["FAILED"] * rows
    assert all(len(row["error"]["message"]) == batchspec.STATE_MESSAGE_CHARS
               for row in result["rows"])
    whole = result["row_errors"]
    assert 0 < len(whole) < rows
    first = batchspec.row_render_id("hf-20261203-160135-abcdef01", 0)
    assert len(whole[first]["message"]) > 1900
    assert len(json.dumps(result)) <= batchspec.MAX_STATE_BYTES
