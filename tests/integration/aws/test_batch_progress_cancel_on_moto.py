"""``hfaction lambda progress ID`` and ``hfaction lambda cancel ID`` given a batch id: the
batch's execution is found on the stack's batch state machine (moto executing the real
statemachine/batch.asl.json) and its rows are printed. Lambda is the stand-in of
test_batch_cli_on_moto.py (no browser), here able to hold its chunks so the batch is
still running when asked about. Real AWS cannot run here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws.batches import BatchRequest, batch_progress, is_batch, render_batch
from hfaction.aws.renders import Connection, new_render_id
from hfaction.cli import main
from tests.integration.aws.sfn_harness import SfnHarness
from tests.integration.aws.test_batch_cli_on_moto import (
    FakeBatchLambda,
    make_stack,
    project,  # noqa: F401  (a fixture)
    rows_file,
)

Stack = tuple[FakeBatchLambda, SfnHarness, Connection]


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    import hfaction.cli.lambda_ as cli

    for made in make_stack({"Bad"}):
        monkeypatch.setattr(cli, "_stack", partial(lambda made, *args, **kwargs: made[2],
                                                   made))
        yield made


def start(connection: Connection, folder: Path, tmp_path: Path, *rows: dict[str, Any]) -> str:
    run = render_batch(connection, BatchRequest(project=folder,
                                                batch_file=rows_file(tmp_path, *rows)))
    return run.batch_id


def execution(harness: SfnHarness, batch_id: str) -> str:
    return f"{harness.batch_state_machine_arn.replace(':stateMachine:', ':execution:')}" \
           f":{batch_id}"


def test_progress_of_a_batch_id_prints_its_rows_with_links(
        stack: Stack, project: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    _fake, harness, connection = stack
    batch_id = start(connection, project, tmp_path, {"title": "Ada", "output": "ada"},
                     {"title": "Bad", "output": "bad"})
    harness.wait(execution(harness, batch_id))
    assert is_batch(connection.facade, connection.stack, batch_id)
    assert not is_batch(connection.facade, connection.stack, new_render_id())

    assert main(["lambda", "progress", batch_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"batch {batch_id}: succeeded, rows 1/2 done, 1 failed, "
                               "chunks 3/4 done, 0 invocations running")
    assert lines[1].split() == ["row", "name", "status", "duration", "cost", "link"]
    assert lines[2].split()[:3] == ["1", "ada", "SUCCEEDED"] and "https://" in lines[2]
    assert f"renders/{batch_id}/ada.mp4" in lines[2]
    assert lines[3].split()[:3] == ["2", "bad", "FAILED"] and "PAGE_SCRIPT_ERROR" in lines[3]

    assert main(["lambda", "progress", batch_id, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert (state["batch_id"], state["status"], state["rows_succeeded"],
            state["rows_failed"]) == (batch_id, "SUCCEEDED", 1, 1)
    assert state["rows"][0]["output_url"].startswith("https://")
    assert state["rows"][0]["links_signed_by"] == "render function role"


def test_a_render_id_still_gets_a_renders_progress(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """An id that is not a batch goes to the render state machine, as before batches."""
    render_id = new_render_id()
    assert main(["lambda", "progress", render_id]) != 0
    err = capsys.readouterr().err
    assert "ExecutionDoesNotExist" in err and "batch" not in err.split("error:")[-1].lower()


class Holding:
    """Holds every render_chunk invocation until released: the batch stays running."""

    def __init__(self, fake: FakeBatchLambda, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        original = fake.render_chunk

        def render_chunk(event: dict[str, Any]) -> dict[str, Any]:
            self.started.release()
            assert self.release.wait(60)
            return original(event)

        monkeypatch.setattr(fake, "render_chunk", render_chunk)

    def wait_started(self, count: int) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=60)


def test_cancel_of_a_batch_id_stops_it_and_waits_for_its_invocations(
        stack: Stack, project: Path, tmp_path: Path,  # noqa: F811
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, harness, connection = stack
    holding = Holding(fake, monkeypatch)
    batch_id = start(connection, project, tmp_path, {"title": "Ada", "output": "ada"},
                     {"title": "Cy", "output": "cy"})
    holding.wait_started(3)  # the stack's concurrency: three chunks at once
    running = batch_progress(connection.facade, connection.stack, batch_id)
    assert running.status == "RUNNING" and running.in_flight == 3
    assert [row.status for row in running.rows] == ["PENDING", "PENDING"]
    assert main(["lambda", "progress", batch_id]) == 0
    assert "running, rows 0/2 done, 0 failed" in capsys.readouterr().out

    # The invocations already running end after the stop; cancel waits for them.
    threading.Timer(1.0, holding.release.set).start()
    began = time.monotonic()
    assert main(["lambda", "cancel", batch_id, "--timeout", "60"]) == 0
    assert time.monotonic() - began >= 0.9  # it waited for the held chunks
    out = capsys.readouterr().out
    described = harness.client("stepfunctions").describe_execution(
        executionArn=execution(harness, batch_id))
    # AWS says ABORTED; moto 5.2 says FAILED when the held chunks return after the stop
    # (as test_render_on_step_functions.py notes for a single render).
    status = described["status"]
    assert status in ("ABORTED", "FAILED")
    assert f"stopped batch {batch_id} ({status.lower()}); every invocation has ended" in out
    rows = [line.split()[:3] for line in out.splitlines()[1:3]]
    assert rows == [["1", "ada", "FAILED"], ["2", "cy", "FAILED"]]
    # Every chunk that was running when it stopped ended (and is in the cost); no row
    # was assembled.
    assert len(harness.calls("render_chunk")) == 3
    after = batch_progress(connection.facade, connection.stack, batch_id)
    assert (after.in_flight, after.chunks_done, after.cost.invocations) == (0, 3, 4)
    assert not harness.calls("assemble_row")

    # Cancelling it again: it has ended, nothing to cancel (exit 2).
    assert main(["lambda", "cancel", batch_id]) == 2
    assert "RENDER_NOT_RUNNING" in capsys.readouterr().err
