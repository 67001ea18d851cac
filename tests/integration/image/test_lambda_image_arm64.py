"""The arm64 Lambda image, built and run on this x86_64 machine under qemu-user emulation.

``scripts/build-image.sh --arch arm64`` builds it from handler/Dockerfile, unchanged, on
a debootstrapped arm64 Debian base (``make-base-image.sh --arch arm64``); qemu-user-static,
registered with binfmt_misc (F flag), runs every arm64 binary: the base's second stage,
the Dockerfile's RUN steps, and here the RIE, Python, Chromium and ffmpeg. It then runs
the way test_lambda_image.py runs the x86_64 image (read-only, /tmp only, no
capabilities, a user id without an /etc/passwd entry), behind the arm64 Runtime Interface
Emulator, against a moto S3 server, and answers through the real invoke API: a refused
bucket (the runtime starts and answers), then a whole render of tests/fixtures/frame-index
(plan, its three chunks, assemble: 60 frames, each showing its own index).

Emulation is slow. Measured on a 2-core x86_64 machine, from nothing: the arm64 base 2
minutes, the image 7 (12 on a busy machine), the render 3.5; about 13 minutes in all
(x86_64: under 3). So these tests run only with HFACTION_TEST_ARM64=1 and skip otherwise.
In the render a plan takes 40 to 60 s, a chunk of 20 frames 30 to 45 s (mostly loading
the page: every renderer process starts afresh under qemu), assembling 6 s.

Chromium's zygote children crash under qemu-user (not on arm64 hardware), so Chromium is
started through a wrapper that adds --no-zygote: HFACTION_BROWSER names it, and nothing
in the image changes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import decode_gray, read_bits
from tests.integration.image.conftest import BUCKET, BuiltImage, build_image, rie_binary
from tests.support.lambda_image import (
    RIE_IN_WHEEL_ARM64,
    Function,
    Podman,
    S3Server,
    lambda_container,
    upload_site,
)

ENABLE = "HFACTION_TEST_ARM64"
pytestmark = pytest.mark.skipif(
    os.environ.get(ENABLE) != "1",
    reason="builds and runs the arm64 image under qemu emulation (about 13 minutes): "
           f"set {ENABLE}=1")

PLATFORM = "linux/arm64"
CHUNK_SIZE = 20
# The image's own Chromium, with the one flag qemu-user needs.
BROWSER_WRAPPER = "/opt/qemu-user/chromium-headless-shell"
WRAPPER_SCRIPT = """#!/bin/sh
# qemu-user: Chromium's zygote children crash when emulated; start each child afresh.
exec /usr/lib/chromium/chromium-headless-shell --no-zygote "$@"
"""


@pytest.fixture(scope="module")
def image(podman: Podman) -> BuiltImage:
    base = os.environ.get("HFACTION_ARM64_BASE_IMAGE", "localhost/debian:bookworm-slim-arm64")
    return build_image(podman, base, build_args=["--arch", "arm64"],
                       base_args=["--arch", "arm64"])


@pytest.fixture(scope="module")
def function(podman: Podman, image: BuiltImage, s3: S3Server,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Function]:
    wrapper = tmp_path_factory.mktemp("qemu-user") / "chromium-headless-shell"
    wrapper.write_text(WRAPPER_SCRIPT)
    wrapper.chmod(0o755)
    with lambda_container(
            podman, image.tag, image.config, rie_binary(RIE_IN_WHEEL_ARM64),
            endpoint=s3.endpoint, bucket=BUCKET, memory_mb=2048,
            name_prefix="hfaction-lambda-arm64-test",
            env={"HFACTION_BROWSER": BROWSER_WRAPPER, "HFACTION_ARCHITECTURE": "arm64"},
            run_args=["--platform", PLATFORM, "--volume", f"{wrapper}:{BROWSER_WRAPPER}:ro"],
    ) as fn:
        yield fn


def _ok(result: dict[str, Any], what: str, fn: Function) -> dict[str, Any]:
    assert "errorType" not in result, f"{what} failed: {result}\n{fn.logs()}"
    return result


def _report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    with capsys.disabled():
        print()
        for line in lines:
            print(f"  {line}")


# ---- tests ---------------------------------------------------------------------------

def test_arm64_image_runs_as_lambda_does(image: BuiltImage, podman: Podman,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert image.architecture == "arm64", image
    assert image.tag.endswith("-arm64"), image.tag
    config = image.config
    assert config.get("User") not in (None, "", "root", "0", "0:0")
    assert config["Entrypoint"] == ["python", "-m", "awslambdaric"]
    assert config["Cmd"] == ["app.handler"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HFACTION_BROWSER"] == "/usr/lib/chromium/chromium-headless-shell"
    assert image.size_bytes < 10 * 1000**3
    # The image's own binaries are arm64's and run (emulated), with their libraries.
    started = time.monotonic()
    out = podman("run", "--rm", "--platform", PLATFORM, "--read-only", "--user", "12345:12345",
                 "--entrypoint", "sh", image.tag, "-c",
                 "uname -m; python --version; "
                 "/usr/lib/chromium/chromium-headless-shell --version; "
                 "ffmpeg -hide_banner -version | head -n 1",
                 timeout=300).stdout.splitlines()
    assert out[0] == "aarch64", out
    assert out[1].startswith("Python 3.11."), out
    assert out[2].startswith("Chromium "), out
    assert out[3].startswith("ffmpeg version "), out
    _report(capsys, f"Lambda image {image.tag}: {image.size_bytes / 1e6:.0f} MB; base image "
            f"{image.base_seconds:.0f} s, image build {image.build_seconds:.0f} s (emulated)",
            f"binaries: {'; '.join(out)} ({time.monotonic() - started:.1f} s)")


def test_the_runtime_answers(function: Function, capsys: pytest.CaptureFixture[str]) -> None:
    # The cold start (awslambdaric and the handler imported, emulated) and an answer
    # that needs no browser: a bucket that is not the function's is refused.
    result, seconds = function.invoke({
        "action": "plan", "bucket": "other-bucket", "render_id": "refused",
        "site_id": "anything"})
    assert result.get("errorType") == "S3_URI_NOT_ALLOWED", f"{result}\n{function.logs()}"
    _report(capsys, f"first invocation (cold start, refused bucket): {seconds:.1f} s")


def test_render_through_the_invoke_api(function: Function, s3: S3Server, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    render_id = f"render-{uuid.uuid4().hex[:8]}"
    site = (FIXTURES / "frame-index").resolve()
    site_id = upload_site(s3.client, BUCKET, site)

    report: list[str] = []
    planned, seconds = function.invoke({
        "action": "plan", "bucket": BUCKET, "render_id": render_id, "site_id": site_id,
        "options": {"chunk_size": CHUNK_SIZE}})
    _ok(planned, "plan", function)
    report.append(f"plan: {seconds:.1f} s {planned['invocation']['timings']}")
    assert planned["frames"] == 60
    assert planned["chunk_count"] == len(planned["chunks"]) == 60 // CHUNK_SIZE
    assert planned["invocation"]["architecture"] == "arm64"
    assert {"download", "launch", "plan", "upload"} <= set(planned["invocation"]["timings"])

    chunks = []
    for chunk in planned["chunks"]:
        result, seconds = function.invoke({
            "action": "render_chunk", "bucket": BUCKET, "render_id": render_id,
            "plan_key": planned["plan_key"], "plan_hash": planned["plan_hash"],
            "index": chunk["index"]})
        _ok(result, f"chunk {chunk['index']}", function)
        report.append(f"chunk {chunk['index']}: {seconds:.1f} s "
                      f"{result['invocation']['timings']}")
        assert result["frames"] == chunk["end"] - chunk["start"]
        chunks.append({key: result[key] for key in ("index", "key", "start", "end", "frames")})

    assembled, seconds = function.invoke({
        "action": "assemble", "bucket": BUCKET, "render_id": render_id,
        "plan_key": planned["plan_key"], "chunks": chunks,
        "output_key": planned["output_key"]})
    _ok(assembled, "assemble", function)
    report.append(f"assemble: {seconds:.1f} s {assembled['invocation']['timings']}")
    assert assembled["frames"] == planned["frames"]

    out = tmp_path / "out.mp4"
    s3.client.download_file(BUCKET, planned["output_key"], str(out))
    # Every frame shows its own index: the emulated arm64 Chromium captured
    # deterministically, the arm64 ffmpeg encoded and joined the chunks.
    frames = decode_gray(out)
    assert frames.shape[1:] == (planned["height"], planned["width"])
    assert [read_bits(frame) for frame in frames] == list(range(planned["frames"]))
    listed = s3.client.list_objects_v2(Bucket=BUCKET, Prefix=f"work/{render_id}/invocations/")
    assert len(listed.get("Contents", [])) == 2 + len(chunks)
    _report(capsys, *report)
