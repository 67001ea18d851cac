"""A batch through the real batch state machine (statemachine/batch.asl.json executed by
moto) with every Lambda invocation dispatched to the real handler, in-process.

Lambda itself is replaced by a Python dispatch because moto cannot run the image here
(see tests/integration/aws/sfn_harness.py); faults are injected by that dispatch, from
outside the handler. Real AWS cannot run here: the history limits, Distributed Map child
executions and IAM are not exercised (the ASL is checked by asl-validator and the
semantics tests).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfaction.aws.batchspec import row_render_id
from hfaction.aws.facade import AwsClients, AwsFacade
from hfaction.aws.renders import create_site, new_render_id
from hfaction.errors import PageScriptError
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import SfnHarness
from tests.integration.aws.test_render_on_step_functions import RealLambda, records
from tests.integration.conftest import decode_rgb

PROJECT = FIXTURES / "batch-colour"  # 160x90, 24 frames, the frame is the colour "bg"
CONCURRENCY = 3
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


class CountingLambda(RealLambda):
    """The real handler, counting the site's objects its S3 clients fetch."""

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.site_gets: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.harness is not None
        original = self.harness.client

        def client(service: str) -> Any:
            made = original(service)
            if service == "s3":
                made.meta.events.register("provide-client-params.s3.GetObject", self._count)
            return made

        self.harness.client = client  # type: ignore[method-assign]
        try:
            return super().__call__(event)
        finally:
            self.harness.client = original  # type: ignore[method-assign]

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).startswith("sites/"):
            with self._lock:
                self.site_gets.append(params["Key"])


@pytest.fixture
def real(tmp_path: Path) -> Any:
    lambda_ = CountingLambda(tmp_path / "lambda-tmp")
    with SfnHarness(lambda_, concurrency=CONCURRENCY) as harness:
        lambda_.harness = harness
        yield lambda_, harness


def upload(harness: SfnHarness) -> str:
    facade = AwsFacade(AwsClients(s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
                                  lambda_=harness.client("lambda"),
                                  cloudformation=harness.client("cloudformation")))
    return create_site(facade, harness.bucket, PROJECT).site_id


def batch_input(site_id: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    batch_id = new_render_id()
    return {"batch_id": batch_id, "site_id": site_id, "rows": rows, **extra}


def keys(harness: SfnHarness, prefix: str) -> list[str]:
    listed = harness.client("s3").list_objects_v2(Bucket=harness.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def colour(harness: SfnHarness, key: str, tmp_path: Path) -> np.ndarray:
    """The mean colour of every frame of the MP4 at ``key`` (24 frames, 160x90)."""
    path = tmp_path / key.replace("/", "_")
    harness.client("s3").download_file(harness.bucket, key, str(path))
    frames = decode_rgb(path)
    assert frames.shape == (24, 90, 160, 3)
    return np.asarray(frames.reshape(24, -1, 3).mean(axis=1))


def assert_colour(harness: SfnHarness, key: str, expected: tuple[int, int, int],
                  tmp_path: Path) -> None:
    means = colour(harness, key, tmp_path)
    assert np.abs(means - np.array(expected)).max() < 24, (key, means)


def test_three_rows_render_three_videos_in_one_execution(real: Any, tmp_path: Path) -> None:
    lambda_, harness = real
    site_id = upload(harness)
    site_objects = keys(harness, f"sites/{site_id}/")
    given = batch_input(site_id, [
        {"name": "alice", "variables": {"bg": "#ff0000", "name": "Alice"}},
        {"name": "bob.mp4", "variables": {"bg": "#00ff00"}},
        {"variables": {"bg": "#0000ff"}},
    ], options={"chunk_size": 12, "variables": {"bg": "#ffffff"}}, presign_expiry_s=600)
    batch_id = given["batch_id"]
    done = harness.run(given, name=batch_id, timeout=600, batch=True)
    assert done.status == "SUCCEEDED", (done.error, done.cause)

    # The output as the contract says: a row each, in order; the links are in the
    # assemble_row task results of the history only (the state stays small).
    assert done.output["batch_id"] == batch_id
    rows = done.output["rows"]
    assert [(r["row"], r["name"], r["render_id"], r["status"]) for r in rows] == [
        (0, "alice", f"{batch_id}-0000", "SUCCEEDED"),
        (1, "bob.mp4", f"{batch_id}-0001", "SUCCEEDED"),
        (2, "row-0003", f"{batch_id}-0002", "SUCCEEDED")]
    names = ["alice.mp4", "bob.mp4", "row-0003.mp4"]
    for row, name in zip(rows, names, strict=True):
        assert row["output_key"] == f"renders/{batch_id}/{name}"
        assert row["output_uri"] == f"s3://{harness.bucket}/renders/{batch_id}/{name}"
        assert (row["frames"], row["duration"], row["fps"]) == (24, 1.0, "24")
        assert row["bytes"] > 0
        assert "links" not in row and "error" not in row
    signed = {}
    for event in done.events("TaskSucceeded"):
        payload = json.loads(event["taskSucceededEventDetails"]["output"])["Payload"]
        if "row_result" in payload:
            signed[payload["row_result"]["render_id"]] = payload["links"]
    assert sorted(signed) == [r["render_id"] for r in rows]
    for links in signed.values():
        assert links["video_url"].startswith("https://")
        assert links["poster_url"].startswith("https://")
        assert links["expires_in_s"] == 600
    assert keys(harness, f"renders/{batch_id}/") == sorted(
        [f"renders/{batch_id}/{name}" for name in names]
        + [f"renders/{batch_id}/{name[:-4]}.poster.jpg" for name in names])

    # Each video is its row's colour: the row's variables win over the batch's.
    for name, expected in zip(names, (RED, GREEN, BLUE), strict=True):
        assert_colour(harness, f"renders/{batch_id}/{name}", expected, tmp_path)

    # One plan step for the whole batch, which fetched the site once; two chunks a row,
    # all six in one Map, more at once than one row has (rows were not taken in turn)
    # and never more than the state machine's MaxConcurrency.
    assert len(harness.calls("plan_batch")) == 1 and not harness.calls("plan")
    assert sorted(lambda_.site_gets) == site_objects
    chunk_calls = harness.calls("render_chunk")
    assert sorted((c.event["row"], c.event["index"]) for c in chunk_calls) == [
        (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert {c.event["render_id"] for c in chunk_calls} == {
        row_render_id(batch_id, i) for i in range(3)}
    assert harness.peak_concurrency("render_chunk") == CONCURRENCY
    assert len(harness.calls("assemble_row")) == 3

    # Each row's invocation records are under its own render id, as a single render's;
    # the batch's plan step under the batch id.
    assert [r["action"] for r in records(harness, batch_id)] == ["plan_batch"]
    for index in range(3):
        found = sorted(r["action"] for r in records(harness, row_render_id(batch_id, index)))
        assert found == ["assemble_row", "render_chunk", "render_chunk"]
        assert keys(harness, f"work/{row_render_id(batch_id, index)}/chunks/") == [
            f"work/{row_render_id(batch_id, index)}/chunks/chunk-{i:05d}.mp4"
            for i in range(2)]


def test_failed_rows_fail_alone_with_their_typed_errors(real: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _lambda, harness = real
    import hfaction.aws.handler

    render_chunk = hfaction.aws.handler._render_chunk

    def late_boom(event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # Row 2's chunks fail for good inside the handler, as if its page threw mid-render:
        # the handler writes the invocation record the row's message is read from (the
        # state keeps only the error name).
        if event.get("row") == 2:
            raise PageScriptError("Uncaught Error: late boom")
        return render_chunk(event, *args, **kwargs)

    monkeypatch.setattr(hfaction.aws.handler, "_render_chunk", late_boom)
    site_id = upload(harness)
    given = batch_input(site_id, [
        {"name": "red", "variables": {"bg": "#ff0000"}},
        {"name": "boom", "variables": {"name": "boom"}},  # its page throws when planned
        {"name": "late", "variables": {"bg": "#00ff00"}},
        {"name": "typo", "variables": {"colour": "#00ff00"}},  # not a declared variable
        {"name": "blue", "variables": {"bg": "#0000ff"}},
    ], options={"chunk_size": 24})
    batch_id = given["batch_id"]
    done = harness.run(given, name=batch_id, timeout=600, batch=True)
    assert done.status == "SUCCEEDED", (done.error, done.cause)
    rows = done.output["rows"]
    assert [(r["name"], r["status"], r.get("error", {}).get("code")) for r in rows] == [
        ("red", "SUCCEEDED", None),
        ("boom", "FAILED", "PAGE_SCRIPT_ERROR"),
        ("late", "FAILED", "PAGE_SCRIPT_ERROR"),
        ("typo", "FAILED", "INVALID_VARIABLE"),
        ("blue", "SUCCEEDED", None)]
    assert "boom" in rows[1]["error"]["message"]
    assert rows[2]["error"]["message"] == "chunk 0: Uncaught Error: late boom"
    assert "colour" in rows[3]["error"]["message"]
    for row in rows[1:4]:
        assert set(row) == {"row", "name", "render_id", "status", "error"}
    assert keys(harness, f"renders/{batch_id}/") == [
        f"renders/{batch_id}/blue.mp4", f"renders/{batch_id}/blue.poster.jpg",
        f"renders/{batch_id}/red.mp4", f"renders/{batch_id}/red.poster.jpg"]
    assert_colour(harness, f"renders/{batch_id}/red.mp4", RED, tmp_path)
    assert_colour(harness, f"renders/{batch_id}/blue.mp4", BLUE, tmp_path)
    # Rows that failed to plan render no chunks; the failed chunk was not retried.
    assert sorted(c.event["row"] for c in harness.calls("render_chunk")) == [0, 2, 4]
    assert len(harness.calls("plan_batch")) == 1


def test_with_fail_fast_a_failed_row_fails_the_execution_with_its_error(real: Any) -> None:
    _lambda, harness = real
    site_id = upload(harness)
    given = batch_input(site_id, [{"name": "red", "variables": {"bg": "#ff0000"}},
                                  {"name": "boom", "variables": {"name": "boom"}}],
                        fail_fast=True)
    done = harness.run(given, name=given["batch_id"], timeout=600, batch=True)
    assert done.status == "FAILED"
    assert done.error == "PAGE_SCRIPT_ERROR"
    assert json.loads(done.cause_json["errorMessage"])["code"] == "PAGE_SCRIPT_ERROR"
    assert not harness.calls("render_chunk") and not harness.calls("assemble_row")
    assert keys(harness, f"renders/{given['batch_id']}/") == []


def test_a_row_output_outside_renders_is_refused(real: Any) -> None:
    lambda_, harness = real

    def elsewhere(event: dict[str, Any]) -> dict[str, Any]:
        # As if the state handed assemble_row another key: previews/ (where the render
        # state machine may write, not this one) and the site's own files.
        if event.get("action") == "assemble_row":
            target = {0: f"previews/{event['batch_id']}/a.mp4",
                      1: f"sites/{site_id}/index.html"}[event["row"]["row"]]
            return {**event, "row": {**event["row"], "output_key": target}}
        return event

    lambda_.before = elsewhere
    site_id = upload(harness)
    # The input asks for previews/ too; the state machine's own prefixes win.
    given = batch_input(site_id, [{"name": "a"}, {"name": "b"}],
                        output_prefixes="renders/,previews/", options={"chunk_size": 24})
    done = harness.run(given, name=given["batch_id"], timeout=600, batch=True)
    assert done.status == "SUCCEEDED", (done.error, done.cause)
    assert [call.event["output_prefixes"] for call in harness.calls("plan_batch")] == \
        ["renders/"]
    assert {call.event["output_prefixes"] for call in harness.calls("assemble_row")} == \
        {"renders/"}
    rows = done.output["rows"]
    assert [(r["status"], r["error"]["code"]) for r in rows] == [
        ("FAILED", "S3_URI_NOT_ALLOWED"), ("FAILED", "S3_URI_NOT_ALLOWED")]
    assert "outside renders/" in rows[0]["error"]["message"]
    assert keys(harness, "previews/") == []
    site_page = harness.client("s3").get_object(
        Bucket=harness.bucket, Key=f"sites/{site_id}/index.html")["Body"].read()
    assert site_page == (PROJECT / "index.html").read_bytes()
