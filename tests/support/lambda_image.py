"""The Lambda image run as Lambda runs it, behind the Runtime Interface Emulator, against
S3 emulated by a moto server: shared by tests/integration/image and benchmarks/lambda_bench.

Failures raise ``LambdaHarnessError`` (a test reports it as an error, a benchmark exits).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfaction.aws.sizing import LAMBDA_MB_PER_VCPU

REGION = "us-east-1"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
# Lambda runs functions as a user of its choosing, without an /etc/passwd entry.
LAMBDA_USER = "12345:12345"
RIE_IN_WHEEL = "samcli/local/rapid/aws-lambda-rie-x86_64"
RIE_IN_WHEEL_ARM64 = "samcli/local/rapid/aws-lambda-rie-arm64"


class LambdaHarnessError(RuntimeError):
    """The harness itself (podman, the RIE, the moto server) did not work."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, alive: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not alive():
            raise LambdaHarnessError(f"{what} exited before it listened on port {port}")
        time.sleep(0.2)
    raise LambdaHarnessError(f"{what} did not listen on port {port} within {timeout} s")


# ---- podman ------------------------------------------------------------------------

@dataclass(frozen=True)
class Podman:
    env: dict[str, str]
    runtime: str

    @classmethod
    def configured(cls, folder: Path) -> Podman:
        """podman with runc and no default ulimits (setting them fails on these machines),
        its containers.conf written into ``folder``."""
        conf = folder / "containers.conf"
        conf.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n')
        runtime = shutil.which("runc", path=SBIN_PATH)
        assert runtime is not None
        return cls({**os.environ, "CONTAINERS_CONF": str(conf)}, runtime)

    def __call__(self, *args: str, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", "--runtime", self.runtime, *args], env=self.env,
                              capture_output=True, text=True, check=check, timeout=timeout)


# ---- the Runtime Interface Emulator, from the aws-sam-cli wheel --------------------

def download_rie(cache: Path, member: str = RIE_IN_WHEEL) -> Path:
    """The RIE binary, extracted from the aws-sam-cli wheel (downloaded once into cache);
    ``member`` is its path in the wheel (RIE_IN_WHEEL_ARM64 for arm64's)."""
    binary = cache / Path(member).name
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    download = cache / "aws-sam-cli-wheel"
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--dest", str(download), "aws-sam-cli"],
        capture_output=True, text=True, check=False, timeout=600)
    wheels = sorted(download.glob("aws_sam_cli-*.whl"))
    if completed.returncode != 0 or not wheels:
        raise LambdaHarnessError("could not download the aws-sam-cli wheel:\n"
                                 f"{completed.stderr[-2000:]}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        partial = binary.with_suffix(".partial")
        partial.write_bytes(wheel.read(member))
        partial.chmod(0o755)
        partial.replace(binary)
    shutil.rmtree(download, ignore_errors=True)
    return binary


# ---- S3: a moto server on loopback -------------------------------------------------

@dataclass(frozen=True)
class S3Server:
    endpoint: str
    client: Any


@contextlib.contextmanager
def moto_s3_server(bucket: str, log_path: Path) -> Iterator[S3Server]:
    """A moto server in its own process on a free loopback port, holding ``bucket``.

    Needs boto3 and moto[server] (ImportError
    otherwise, for the caller to report).
    """
    import boto3
    import moto.server  # noqa: F401

    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                   "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, lambda: server.poll() is None, "moto server")
            # localhost, not 127.0.0.1: moto tells path-style from virtual-host requests
            # by it.
            endpoint = f"http://localhost:{port}"
            client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                                  aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
            client.create_bucket(Bucket=bucket)
            yield S3Server(endpoint, client)
        finally:
            server.terminate()
            server.wait(timeout=30)


def upload_site(client: Any, bucket: str, folder: Path) -> str:
    """Upload ``folder`` as a site under its content hash, as ``lambda sites create`` does
    (the plan step refuses a site whose files do not hash to its id: SITE_HASH_MISMATCH)."""
    from hfaction.render.project import ProjectFile, iter_project_files, sha256_file, tree_hash

    files = [ProjectFile(path.relative_to(folder).as_posix(), path.stat().st_size,
                         sha256_file(path)) for path in iter_project_files(folder)]
    site_id = tree_hash(files)
    for item in files:
        client.upload_file(str(folder / item.path), bucket, f"sites/{site_id}/{item.path}")
    return site_id


# ---- the function's container ------------------------------------------------------

@dataclass
class Function:
    url: str
    name: str
    podman: Podman

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], float]:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(),
                                         headers={"Content-Type": "application/json"},
                                         method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
        except (urllib.error.URLError, TimeoutError) as error:
            raise LambdaHarnessError(f"invoke failed: {error}\n{self.logs()}") from error
        elapsed = time.monotonic() - started
        return json.loads(body), elapsed

    def cpu_seconds(self) -> float | None:
        """CPU time the container's processes have used so far (its cgroup's count), or
        None where the cgroup does not say."""
        # cgroup v1 counts nanoseconds (cpuacct.usage), v2 microseconds (usage_usec).
        script = ("if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then "
                  "echo ns $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage); else "
                  "echo us $(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat); fi")
        completed = self.podman("exec", self.name, "sh", "-c", script, check=False)
        unit, _, count = completed.stdout.strip().partition(" ")
        if completed.returncode != 0 or not count.isdigit():
            return None
        return int(count) / (1e9 if unit == "ns" else 1e6)

    def logs(self) -> str:
        completed = self.podman("logs", self.name, check=False)
        return (completed.stdout + completed.stderr)[-6000:]


@contextlib.contextmanager
def lambda_container(podman: Podman, image_tag: str, image_config: dict[str, Any], rie: Path,
                     *, endpoint: str, bucket: str, memory_mb: int, name_prefix: str,
                     show_logs: bool = True, cpu_share: bool = False,
                     env: dict[str, str] | None = None,
                     run_args: Sequence[str] = ()) -> Iterator[Function]:
    """The image run as Lambda runs it, behind the RIE.

    ``cpu_share`` imposes Lambda's CPU and memory limits for ``memory_mb``: 1 vCPU per
    1,769 MB (capped at this machine's cores), and the memory itself. ``run_args`` go to
    ``podman run`` as they are (e.g. ``--platform linux/arm64``, a ``--volume``).
    """
    rie_port, api_port = free_port(), free_port()
    limits: list[str] = []
    if cpu_share:
        cpus = min(memory_mb / LAMBDA_MB_PER_VCPU, len(os.sched_getaffinity(0)))
        limits = ["--cpus", f"{cpus:.3f}", "--memory", f"{memory_mb}m",
                  "--memory-swap", f"{memory_mb}m"]
    extra_env = [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]
    name = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
    # What Lambda itself would run: the image's own ENTRYPOINT and CMD, behind the RIE.
    command = [*(image_config.get("Entrypoint") or []), *(image_config.get("Cmd") or [])]
    podman(
        "run", "--detach", "--name", name,
        # Lambda: read-only root filesystem, /tmp the only writable path (podman would
        # otherwise also mount tmpfs on /run and /var/tmp), no capabilities.
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777,size=2g",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--user", LAMBDA_USER,
        # The RIE and the function reach the moto server on the host's loopback.
        "--network", "host",
        "--volume", f"{rie}:/var/rapid/aws-lambda-rie:ro",
        "--entrypoint", "/var/rapid/aws-lambda-rie",
        "--env", f"RENDER_BUCKET={bucket}",
        "--env", f"AWS_ENDPOINT_URL={endpoint}",
        "--env", "AWS_ACCESS_KEY_ID=testing",
        "--env", "AWS_SECRET_ACCESS_KEY=testing",
        "--env", f"AWS_DEFAULT_REGION={REGION}",
        "--env", f"AWS_REGION={REGION}",
        "--env", "AWS_LAMBDA_FUNCTION_TIMEOUT=900",
        "--env", f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory_mb}",
        *extra_env, *limits, *run_args,
        image_tag,
        "--runtime-interface-emulator-address", f"127.0.0.1:{rie_port}",
        "--runtime-api-address", f"127.0.0.1:{api_port}",
        *command,
    )
    fn = Function(f"http://localhost:{rie_port}/2015-03-31/functions/function/invocations",
                  name, podman)

    def running() -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
        return state.stdout.strip() == "true"

    try:
        wait_for_port(rie_port, running, f"container {name}")
        yield fn
    finally:
        logs = fn.logs() if show_logs else ""
        podman("rm", "--force", "--time", "5", name, check=False)
        if show_logs:
            print(f"---- container logs ----\n{logs}")
