"""``hfaction lambda render PROJECT --batch FILE`` and the library under it
(hfaction.aws.batches) on moto, through the real batch state machine
(statemachine/batch.asl.json executed by moto), with Lambda answered by a stand-in shaped
as the batch contract says plan_batch, render_chunk and assemble_row answer (no browser:
the end-to-end render with the real handler is in test_batch_client_end_to_end.py). The
stand-in writes each invocation's record where the real handler does, so per-row cost is
read as on AWS.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws.batches import BatchRequest, render_batch
from hfaction.aws.batchspec import (
    MAX_ROWS,
    error_from_failure,
    row_output_key,
    row_render_id,
    split_row_result,
)
from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.handler import Deps, lambda_error, sign_links
from hfaction.aws.renders import Connection
from hfaction.cli import main
from hfaction.errors import PageScriptError
from tests.integration.aws.sfn_harness import SfnHarness

VIDEO = b"\x00\x00\x00\x18ftypmp42 not really a video"
VARIABLES = [{"id": "title", "type": "string", "label": "Title", "default": "Hi"},
             {"id": "price", "type": "number", "label": "Price", "default": 0}]
CHUNKS_PER_ROW = 2


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""



class FakeBatchLambda:
    """plan_batch / render_chunk / assemble_row as the contract shapes them; a row whose
    ``title`` is in ``failing`` fails its chunk 1 with PAGE_SCRIPT_ERROR."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.harness: SfnHarness | None = None
        self.lock = threading.Lock()
        self.variables: dict[str, dict[str, str]] = {}
        # What the real handler's invocation records keep of a failed chunk: its message
        # (the state keeps only the error name; assemble_row reads the message back).
        self.chunk_messages: dict[tuple[str, int], str] = {}

    def record(self, render_id: str, action: str, index: Any, status: str = "ok") -> None:
        assert self.harness is not None
        body = {"action": action, "render_id": render_id, "index": index, "status": status,
                "duration_ms": 1500 if action == "render_chunk" else 400, "init_ms": 0,
                "memory_mb": 2048, "architecture": "x86_64"}
        self.harness.client("s3").put_object(
            Bucket=self.harness.bucket,
            Key=f"work/{render_id}/invocations/{action}-{index}-{uuid.uuid4().hex}",
            Body=json.dumps(body).encode())

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        action = event["action"]
        if action == "plan_batch":
            return self.plan_batch(event)
        if action == "render_chunk":
            try:
                return self.render_chunk(event)
            except Exception as error:
                typed = json.loads(str(error)) if str(error).startswith("{") else {}
                self.chunk_messages[(event["render_id"], event["index"])] = \
                    typed.get("message", str(error))
                raise
        if action == "assemble_row":
            return self.assemble_row(event)
        raise AssertionError(f"unexpected action {action}")

    def plan_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        batch_id = event["batch_id"]
        self.record(batch_id, "plan_batch", None)
        rows, chunks = [], []
        for index, row in enumerate(event["rows"]):
            render_id = row_render_id(batch_id, index)
            with self.lock:
                self.variables[render_id] = row["variables"]
            rows.append({"row": index, "name": row["name"], "render_id": render_id,
                         "status": "PLANNED", "chunk_count": CHUNKS_PER_ROW})
            chunks += [{"render_id": render_id, "plan_key": f"work/{render_id}/plan.tar",
                        "plan_hash": "0" * 64, "index": chunk, "row": index}
                       for chunk in range(CHUNKS_PER_ROW)]
        return {"batch_id": batch_id, "bucket": event["bucket"],
                "fail_fast": event.get("fail_fast", False),
                "presign_expiry_s": event.get("presign_expiry_s", 3600), "rows": rows,
                "chunk_count": len(chunks), "chunks": chunks}

    def render_chunk(self, event: dict[str, Any]) -> dict[str, Any]:
        render_id, index = event["render_id"], event["index"]
        if self.variables[render_id].get("title") in self.failing and index == 1:
            self.record(render_id, "render_chunk", index, status="error")
            raise lambda_error(PageScriptError("title is not allowed on this page"))
        self.record(render_id, "render_chunk", index)
        return {"index": index, "key": f"work/{render_id}/chunks/{index:05d}.mp4",
                "frames": 30}

    def assemble_row(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.harness is not None
        row, render_id = event["row"], event["render_id"]
        self.record(render_id, "assemble_row", None)
        failed = [chunk for chunk in event["chunks"]
                  if chunk.get("failed") and chunk.get("render_id") == render_id]
        base = {"row": row["row"], "name": row["name"], "render_id": render_id}
        if failed:
            first = min(failed, key=lambda chunk: chunk["index"])
            error = error_from_failure(first["error"], None)
            error["message"] = self.chunk_messages[(render_id, first["index"])]
            return split_row_result({**base, "status": "FAILED", "error": error})
        key = row_output_key(event["batch_id"], row["name"])
        s3 = self.harness.client("s3")
        s3.put_object(Bucket=self.harness.bucket, Key=key, Body=VIDEO)
        poster = key[:-4] + ".poster.jpg"
        s3.put_object(Bucket=self.harness.bucket, Key=poster, Body=b"\xff\xd8 jpeg")
        links = sign_links(Deps(s3=s3, bucket=self.harness.bucket, work_root=Path("/tmp")),
                           key, poster, 3600)
        # As the handler answers: the links beside row_result, which the state keeps.
        return split_row_result({**base, "status": "SUCCEEDED", "output_key": key,
                                 "output_uri": f"s3://{self.harness.bucket}/{key}",
                                 "bytes": len(VIDEO), "frames": 60, "duration": 2.0,
                                 "poster_key": poster, "links": links})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.html").write_text(
        f"<!doctype html><html data-composition-variables='{json.dumps(VARIABLES)}'><body>"
        '<div data-composition-id="main" data-width="160" data-height="90" '
        'data-duration="2" data-no-timeline><p data-var-text="title"></p></div></body></html>')
    (folder / "style.css").write_text("p { color: red }")
    return folder


def make_stack(failing: set[str] | None = None) -> Iterator[tuple[FakeBatchLambda, SfnHarness,
                                                                   Connection]]:
    fake = FakeBatchLambda(failing)
    with SfnHarness(fake, concurrency=3) as harness:
        fake.harness = harness
        facade = AwsFacade(AwsClients(
            s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
            lambda_=harness.client("lambda"), cloudformation=harness.client("cloudformation")))
        info = StackInfo(name="test", bucket=harness.bucket,
                          state_machine_arn=harness.state_machine_arn,
                          function_arn=harness.function_arn, parameters={"Concurrency": "3"},
                          batch_state_machine_arn=harness.batch_state_machine_arn)
        yield fake, harness, Connection(facade, info)


@pytest.fixture
def stack() -> Iterator[tuple[FakeBatchLambda, SfnHarness, Connection]]:
    yield from make_stack({"Bad"})


def rows_file(tmp_path: Path, *rows: dict[str, Any]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def keys(harness: SfnHarness, prefix: str = "") -> list[str]:
    listed = harness.client("s3").list_objects_v2(Bucket=harness.bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_three_rows_in_one_execution_with_links_and_per_row_cost(
        stack: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, harness, connection = stack
    puts: list[str] = []
    original = AwsFacade.put_bytes

    def counting(self: AwsFacade, bucket: str, key: str, data: bytes, *args: Any) -> None:
        puts.append(key)
        original(self, bucket, key, data, *args)

    monkeypatch.setattr(AwsFacade, "put_bytes", counting)
    batch = rows_file(tmp_path, {"title": "Ada", "output": "ada"},
                      {"title": "Bob", "price": 3, "output": "bob"}, {"title": "Cy"})
    progress: list[Any] = []
    run = render_batch(connection, BatchRequest(project=project, batch_file=batch, wait=True),
                       on_progress=progress.append, poll_s=0.1, timeout_s=120)

    # One site upload: each file of the project once, then its manifest.
    assert sorted(puts) == sorted([f"sites/{run.site_id}/index.html",
                                   f"sites/{run.site_id}/style.css",
                                   f"sites/{run.site_id}/.hfaction-site.json"])
    # One execution for all rows, on the batch state machine, named after the batch.
    executions = harness.client("stepfunctions").list_executions(
        stateMachineArn=harness.batch_state_machine_arn)["executions"]
    assert [item["name"] for item in executions] == [run.batch_id]
    (plan,) = harness.calls("plan_batch")
    assert [row["name"] for row in plan.event["rows"]] == ["ada", "bob", "row-0003"]
    assert plan.event["rows"][1]["variables"] == {"title": "Bob", "price": "3"}
    assert plan.event["options"]["parallelism"] == 3

    state = run.result
    assert state is not None and state.status == "SUCCEEDED"
    assert [(r.row, r.name, r.status) for r in state.rows] == [
        (1, "ada", "SUCCEEDED"), (2, "bob", "SUCCEEDED"), (3, "row-0003", "SUCCEEDED")]
    for row in state.rows:
        key = f"renders/{run.batch_id}/{row.name}.mp4"
        assert row.output_uri == f"s3://{harness.bucket}/{key}"
        assert row.output_url and row.output_url.startswith("https://") and key in \
            row.output_url
        assert row.poster_url and ".poster.jpg" in row.poster_url
        assert row.links_signed_by == "render function role"
        assert row.duration_s == 2.0 and row.chunks_done == CHUNKS_PER_ROW
        # Its own invocations (2 chunks, 1 assemble) and a share of what rows share.
        assert row.cost.own.invocations == 3
        assert row.cost.lambda_share > 0 and row.cost.step_functions_share > 0
    assert state.chunks_total == 6 and state.chunks_done == 6
    assert state.cost.invocations == 10  # plan_batch + 6 chunks + 3 assemble_row
    assert sum(r.cost.total for r in state.rows) == pytest.approx(state.cost.total, abs=1e-12)
    assert state.cost.transitions > 0
    state.check()  # every row succeeded: nothing raised
    assert progress and progress[-1] is state


def test_a_bad_row_is_refused_before_anything_is_written(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, harness, connection = stack
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada"}, {"titel": "Bob"}, {"price": "cheap"})
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "bad row: row 2 (line 2), column 'titel'" in err
    assert "bad row: row 3 (line 3), column 'price'" in err
    assert "INVALID_BATCH" in err
    assert keys(harness) == []
    assert harness.client("stepfunctions").list_executions(
        stateMachineArn=harness.batch_state_machine_arn)["executions"] == []


def test_one_failing_row_exits_1_and_the_others_succeed(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, harness, connection = stack
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada", "output": "ada"},
                      {"title": "Bad", "output": "bad"}, {"title": "Cy", "output": "cy"})
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait", "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    rows = json.loads(captured.out)
    assert [(r["row"], r["name"], r["status"]) for r in rows] == [
        (1, "ada", "SUCCEEDED"), (2, "bad", "FAILED"), (3, "cy", "SUCCEEDED")]
    assert rows[1]["error"]["code"] == "PAGE_SCRIPT_ERROR"
    assert "title is not allowed" in rows[1]["error"]["message"]
    assert rows[0]["output_url"].startswith("https://") and rows[1]["output_url"] is None
    assert all(r["cost"]["total_usd"] > 0 for r in rows)
    assert "error: BATCH_FAILED: 1 of 3 rows" in captured.err
    assert "row 2 (bad) failed: PAGE_SCRIPT_ERROR" in captured.err  # the progress lines
    assert f"renders/{rows[0]['batch_id']}/bad.mp4" not in keys(harness, "renders/")


def test_the_table_names_every_row_and_the_totals(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, _harness, connection = stack
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada", "output": "ada"},
                      {"title": "Bad", "output": "bad"})
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["row", "name", "status", "duration", "cost", "link"]
    assert lines[1].split()[:4] == ["1", "ada", "SUCCEEDED", "2.0s"]
    assert "https://" in lines[1]
    assert lines[2].split()[:4] == ["2", "bad", "FAILED", "-"]
    assert "PAGE_SCRIPT_ERROR" in lines[2]
    assert lines[3].startswith("total: 1 of 2 rows succeeded, 1 failed; 2.0s of video")


def test_without_wait_the_batch_id_is_printed(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, harness, connection = stack
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada"})
    code = main(["lambda", "render", str(project), "--batch", str(batch)])
    out = capsys.readouterr().out.strip()
    assert code == 0
    assert out.startswith("hf-")
    harness.wait(harness.client("stepfunctions").list_executions(
        stateMachineArn=harness.batch_state_machine_arn)["executions"][0]["executionArn"])


def test_a_stack_without_the_batch_state_machine_uploads_nothing(
        project: Path, tmp_path: Path) -> None:
    from hfaction.errors import StackNotFound

    for _fake, harness, connection in make_stack():
        old = Connection(connection.facade, StackInfo(
            name="old", bucket=harness.bucket, state_machine_arn=harness.state_machine_arn,
            function_arn=harness.function_arn))
        with pytest.raises(StackNotFound) as caught:
            render_batch(old, BatchRequest(project=project,
                                           batch_file=rows_file(tmp_path, {"title": "A"})))
        assert "lambda deploy --stack-name old" in str(caught.value)
        assert keys(harness) == []


def test_batch_refuses_flags_it_cannot_honour(project: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    batch = rows_file(tmp_path, {"title": "A"})
    for extra in (["--preview"], ["--output-key", "renders/x.mp4"], ["-o", "x.mp4"]):
        code = main(["lambda", "render", str(project), "--batch", str(batch), "--region",
                     "us-east-1", *extra])
        assert code == 2
        assert "cannot be combined with --batch" in capsys.readouterr().err
    code = main(["lambda", "render", str(project), "--fail-fast", "--region", "us-east-1"])
    assert code == 2 and "--fail-fast only applies with --batch" in capsys.readouterr().err



def test_fail_fast_stops_the_batch_and_every_row_is_reported_failed(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake, harness, connection = stack
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada", "output": "ada"},
                      {"title": "Bad", "output": "bad"})
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait", "--json",
                 "--fail-fast"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    (plan,) = harness.calls("plan_batch")
    assert plan.event["fail_fast"] is True
    rows = json.loads(captured.out)
    assert [r["status"] for r in rows] == ["FAILED", "FAILED"]
    # The execution failed with the chunk's own error; no row was assembled.
    assert {r["error"]["code"] for r in rows} == {"PAGE_SCRIPT_ERROR"}
    assert all("not rendered: the batch failed" in r["error"]["message"] for r in rows)
    assert not harness.calls("assemble_row")
    assert "batch " in captured.err and " failed: rows 0/2 done, 2 failed" in captured.err


def test_sixty_rows_get_their_links_from_the_history_not_the_output(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """More rows than the 50 a batch was capped at while each row's signed links (some
    3.5 KB with the function's session token; here moto's shorter ones) travelled in the
    state: the execution's output carries none, and every row of the CLI's table and
    --json still has its link, merged from the assemble_row task results in the history."""
    _fake, harness, connection = stack
    import hfaction.cli.lambda_ as cli

    assert MAX_ROWS >= 60
    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, *({"title": f"T{i}", "output": f"video-{i:02d}"}
                                  for i in range(60)))
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = json.loads(captured.out)
    assert [r["name"] for r in rows] == [f"video-{i:02d}" for i in range(60)]
    batch_id = rows[0]["batch_id"]
    for row in rows:
        assert row["status"] == "SUCCEEDED"
        assert row["output_url"].startswith("https://")
        assert f"renders/{batch_id}/{row['name']}.mp4" in row["output_url"]
        assert ".poster.jpg" in row["poster_url"]
        assert row["links_signed_by"] == "render function role"
    sfn = harness.client("stepfunctions")
    (execution,) = sfn.list_executions(
        stateMachineArn=harness.batch_state_machine_arn)["executions"]
    output = json.loads(sfn.describe_execution(
        executionArn=execution["executionArn"])["output"])
    assert len(output["rows"]) == 60
    assert not any("links" in row for row in output["rows"])


def test_the_table_takes_the_links_and_whole_errors_from_the_history(
        stack: Any, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed row's message is cut in the state (and the output) but whole in the
    client's row; a succeeded row's link is in the table though not in the output."""
    fake, _harness, connection = stack
    import hfaction.cli.lambda_ as cli

    long_message = "title is not allowed on this page " + "x" * 600
    original = fake.render_chunk

    def render_chunk(event: dict[str, Any]) -> dict[str, Any]:
        if fake.variables[event["render_id"]].get("title") == "Bad" and event["index"] == 1:
            raise lambda_error(PageScriptError(long_message))
        return original(event)

    monkeypatch.setattr(fake, "render_chunk", render_chunk)
    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"title": "Ada", "output": "ada"},
                      {"title": "Bad", "output": "bad"})
    code = main(["lambda", "render", str(project), "--batch", str(batch), "--wait",
                 "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 1
    assert rows[1]["error"] == {"code": "PAGE_SCRIPT_ERROR", "message": long_message}
    assert rows[0]["output_url"].startswith("https://")
