"""``hfaction lambda render PROJECT --batch FILE`` end to end on moto: the client
(hfaction.aws.batches and the CLI), the real batch state machine (statemachine/batch.asl.json
executed by moto) and the real handler in-process for every Lambda invocation (browser and
ffmpeg included). Real AWS cannot run here: IAM, Lambda's runtime and a Distributed Map's
child executions are not exercised (see sfn_harness.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws.batches import BatchRequest, render_batch
from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.renders import Connection
from hfaction.cli import main
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import SfnHarness
from tests.integration.aws.test_render_on_step_functions import RealLambda

PROJECT = FIXTURES / "batch-colour"  # 160x90, 1 s at 24 fps; its page throws for "boom"
CONCURRENCY = 3


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[SfnHarness, Connection]]:
    lambda_ = RealLambda(tmp_path / "lambda-tmp")
    with SfnHarness(lambda_, concurrency=CONCURRENCY) as harness:
        lambda_.harness = harness
        facade = AwsFacade(AwsClients(
            s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
            lambda_=harness.client("lambda"), cloudformation=harness.client("cloudformation")))
        stack = StackInfo(name="test", bucket=harness.bucket,
                          state_machine_arn=harness.state_machine_arn,
                          function_arn=harness.function_arn,
                          parameters={"Concurrency": str(CONCURRENCY)},
                          batch_state_machine_arn=harness.batch_state_machine_arn)
        yield harness, Connection(facade, stack)


def rows_file(tmp_path: Path, *rows: dict[str, Any]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def keys(harness: SfnHarness, prefix: str) -> list[str]:
    listed = harness.client("s3").list_objects_v2(Bucket=harness.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_three_rows_give_three_videos_with_links_and_per_row_cost_from_one_upload(
        real: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harness, connection = real
    puts: list[str] = []
    original = AwsFacade.put_bytes

    def counting(self: AwsFacade, bucket: str, key: str, data: bytes, *args: Any) -> None:
        puts.append(key)
        original(self, bucket, key, data, *args)

    monkeypatch.setattr(AwsFacade, "put_bytes", counting)
    batch = rows_file(tmp_path, {"bg": "#ff0000", "output": "red"},
                      {"bg": "#00ff00", "name": "Bob", "output": "green"}, {"bg": "#0000ff"})
    run = render_batch(connection, BatchRequest(
        project=PROJECT, batch_file=batch, options=RenderOptions(chunk_size=24), wait=True,
        presign_expiry_s=600), poll_s=0.5, timeout_s=600)
    # The site went up once: each file of the project, then its manifest.
    assert sorted(puts) == [f"sites/{run.site_id}/.hfaction-site.json",
                            f"sites/{run.site_id}/index.html"]
    state = run.result
    assert state is not None and state.status == "SUCCEEDED"
    assert [(r.name, r.status) for r in state.rows] == [
        ("red", "SUCCEEDED"), ("green", "SUCCEEDED"), ("row-0003", "SUCCEEDED")]
    for row in state.rows:
        key = f"renders/{run.batch_id}/{row.name}.mp4"
        assert row.output_uri == f"s3://{harness.bucket}/{key}"
        assert row.output_url and row.output_url.startswith("https://")
        assert row.poster_url and row.poster_url.startswith("https://")
        assert row.links_signed_by == "render function role"
        assert (row.duration_s, row.frames) == (1.0, 24) and row.output_bytes
        assert row.cost.own.invocations == 2  # its chunk and its assemble_row
        assert row.cost.total > row.cost.own.total > 0
    assert keys(harness, f"renders/{run.batch_id}/") == sorted(
        [f"renders/{run.batch_id}/{n}.mp4" for n in ("red", "green", "row-0003")]
        + [f"renders/{run.batch_id}/{n}.poster.jpg" for n in ("red", "green", "row-0003")])
    assert state.cost.invocations == 7  # plan_batch, 3 chunks, 3 assemble_row
    assert sum(r.cost.total for r in state.rows) == pytest.approx(state.cost.total,
                                                                  abs=1e-12)
    assert (state.chunks_total, state.chunks_done) == (3, 3)


def test_a_failing_row_exits_1_and_the_others_are_reported_succeeded(
        real: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _harness, connection = real
    import hfaction.cli.lambda_ as cli

    monkeypatch.setattr(cli, "_stack", lambda *args, **kwargs: connection)
    batch = rows_file(tmp_path, {"bg": "#ff0000", "output": "red"},
                      {"name": "boom", "output": "boom"}, {"bg": "#0000ff", "output": "blue"})
    code = main(["lambda", "render", str(PROJECT), "--batch", str(batch), "--chunk-size",
                 "24", "--wait", "--json"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    # The in-process handler logs its invocation records to stdout, as on Lambda.
    rows = json.loads("\n".join(line for line in captured.out.splitlines()
                                 if not line.startswith('{"hfaction')))
    assert [(r["name"], r["status"]) for r in rows] == [
        ("red", "SUCCEEDED"), ("boom", "FAILED"), ("blue", "SUCCEEDED")]
    assert rows[1]["error"]["code"] == "PAGE_SCRIPT_ERROR"
    assert rows[0]["output_url"].startswith("https://") and rows[2]["poster_url"]
    assert rows[1]["output_url"] is None
    assert "BATCH_FAILED" in captured.err and "row 2 (boom)" in captured.err
